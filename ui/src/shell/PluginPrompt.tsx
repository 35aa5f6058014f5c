// What a remote cluster's exec credential plugin asks while it runs (a device-code sign-in:
// "open https://microsoft.com/devicelogin and enter the code ABCD-1234"): a banner above
// the current cluster's view, and a short form in its cluster switcher entry. Links are
// shown as selectable text with a Copy button: `open_url` opens loopback URLs only, and a
// plugin's output is not trusted enough to widen it.
import type { ClusterStatus } from "../ipc";
import { CopyField } from "../views/CopyField";
import "./banner.css";

/** A piece of a prompt line: plain text, or a link. */
export type PromptPart = { kind: "text"; text: string } | { kind: "url"; url: string };

/** `http(s)://` up to whitespace or a quote/bracket that closes it. */
const URL_PATTERN = /https?:\/\/[^\s"'<>()[\]{}]+/g;

/** Characters that end a sentence rather than a URL ("…/devicelogin." or "…/login,"). */
const TRAILING = /[.,;:!?]+$/;

/** `line` split into text and links, in order; a sentence's full stop stays text. */
export function promptParts(line: string): PromptPart[] {
  const parts: PromptPart[] = [];
  let at = 0;
  for (const match of line.matchAll(URL_PATTERN)) {
    const url = match[0].replace(TRAILING, "");
    const start = match.index;
    if (start > at) parts.push({ kind: "text", text: line.slice(at, start) });
    parts.push({ kind: "url", url });
    at = start + url.length;
  }
  if (at < line.length) parts.push({ kind: "text", text: line.slice(at) });
  return parts;
}

/** Every distinct link in `prompt`, in the order they appear. */
export function promptUrls(prompt: string): string[] {
  const urls = promptParts(prompt).flatMap((p) => (p.kind === "url" ? [p.url] : []));
  return [...new Set(urls)];
}

/**
 * The prompt's lines in monospace, links marked so they stand out. A `code` (phrasing
 * content, unlike `pre`) so it may sit inside the switcher entry's button.
 */
function PromptLines({ prompt, testId }: { prompt: string; testId: string }) {
  return (
    <code className="plugin-prompt-lines" data-testid={testId}>
      {prompt.split("\n").map((line, i) => (
        <span key={i}>
          {i > 0 && "\n"}
          {promptParts(line).map((part, j) =>
            part.kind === "url" ? (
              <span key={j} className="plugin-prompt-url">
                {part.url}
              </span>
            ) : (
              part.text
            ),
          )}
        </span>
      ))}
    </code>
  );
}

/** The banner for the cluster the window shows, while its plugin asks something; else nothing. */
export function PluginPromptBanner({ status }: { status: ClusterStatus | undefined }) {
  if (status?.prompt === null || status?.prompt === undefined || status.prompt === "") return null;
  const urls = promptUrls(status.prompt);
  return (
    <section className="plugin-prompt" role="status" aria-live="polite" data-testid="plugin-prompt">
      <p className="plugin-prompt-title">
        <strong>The credential plugin for {status.name} asks:</strong>
      </p>
      <PromptLines prompt={status.prompt} testId="plugin-prompt-lines" />
      {urls.map((url, i) => (
        <CopyField key={url} label="Open this in your browser" value={url} testId={`plugin-prompt-url-${String(i)}`} />
      ))}
      <p className="muted small">Kubarium connects as soon as the plugin is done; nothing else is needed here.</p>
    </section>
  );
}

/** The prompt in a cluster switcher entry: the plugin's lines, small. */
export function PluginPromptNote({ status }: { status: ClusterStatus }) {
  if (status.prompt === null || status.prompt === "") return null;
  return (
    <span className="small cluster-option-prompt">
      <span>The credential plugin asks:</span>
      <PromptLines prompt={status.prompt} testId={`cluster-prompt-${status.id}`} />
    </span>
  );
}
