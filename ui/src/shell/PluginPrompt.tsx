// What a remote cluster's exec credential plugin asks while it runs (a device-code sign-in:
// "open https://microsoft.com/devicelogin and enter the code ABCD-1234"): a banner above
// the current cluster's view, and a short form in its cluster switcher entry. Links are
// shown as selectable text with a Copy button; only those `open_url` accepts (loopback, as
// an OIDC login's local callback page) also get an Open button — a plugin's output is not
// trusted enough to widen what it opens.
import { useState } from "react";
import type { ClusterStatus } from "../ipc";
import { openUrl } from "../ipc/streams";
import { asAppError } from "../state/resources";
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
 * Whether `open_url` opens `url` (the backend's `url_allowed`, which decides): http(s) to
 * 127.0.0.1 or localhost, an optional numeric port, no user part.
 */
export function openable(url: string): boolean {
  const rest = /^https?:\/\/(.*)$/.exec(url)?.[1];
  if (rest === undefined) return false;
  const authority = rest.split(/[/?#]/)[0] ?? "";
  const colon = authority.lastIndexOf(":");
  const host = colon < 0 ? authority : authority.slice(0, colon);
  if (colon >= 0 && !/^[0-9]+$/.test(authority.slice(colon + 1))) return false;
  return host === "127.0.0.1" || host.toLowerCase() === "localhost";
}

/** A link of the prompt: to copy, and to open when `open_url` allows it. */
function PromptLink({ url, testId }: { url: string; testId: string }) {
  const [failure, setFailure] = useState<string | null>(null);
  return (
    <div className="plugin-prompt-link">
      <CopyField label="Open this in your browser" value={url} testId={testId} />
      {openable(url) && (
        <button
          type="button"
          data-testid={`${testId}-open`}
          onClick={() => {
            setFailure(null);
            openUrl(url).catch((error: unknown) => {
              // Its message says what to do (copy the link into a browser).
              setFailure(asAppError(error).message);
            });
          }}
        >
          Open
        </button>
      )}
      {failure && (
        <span className="small" role="alert">
          {failure}
        </span>
      )}
    </div>
  );
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
        <PromptLink key={url} url={url} testId={`plugin-prompt-url-${String(i)}`} />
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
