// The exec credential plugin's prompt as shown: links found in its lines (without a
// sentence's full stop), the banner for the current cluster with its test ids and words, the
// note in the switcher entry, and nothing when no plugin asks.
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { ClusterStatus } from "../ipc";
import { ClusterMenu, PromptElsewhere } from "./ClusterSwitcher";
import { openable, PluginPromptBanner, PluginPromptNote, promptParts, promptUrls } from "./PluginPrompt";

const DEVICE_CODE =
  "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-1234 to authenticate.";

function status(id: string, prompt: string | null): ClusterStatus {
  return {
    id,
    name: `${id}-context`,
    local: id === "local",
    phase: "starting",
    serverUrl: `https://${id}.example:6443`,
    kubeconfigPath: null,
    kubectlCommand: null,
    dataDir: null,
    logsDir: null,
    version: null,
    latencyMs: null,
    error: null,
    docker: null,
    host: null,
    run: 1,
    prompt,
    retryAt: null,
  };
}

describe("promptParts", () => {
  it("splits links from text, leaving a sentence's punctuation as text", () => {
    expect(promptParts("open https://microsoft.com/devicelogin. Then wait")).toEqual([
      { kind: "text", text: "open " },
      { kind: "url", url: "https://microsoft.com/devicelogin" },
      { kind: "text", text: ". Then wait" },
    ]);
    expect(promptParts("(see https://a.example/x?y=1&z=2)")).toEqual([
      { kind: "text", text: "(see " },
      { kind: "url", url: "https://a.example/x?y=1&z=2" },
      { kind: "text", text: ")" },
    ]);
    expect(promptParts("no link here")).toEqual([{ kind: "text", text: "no link here" }]);
    expect(promptParts("")).toEqual([]);
  });

  it("lists each link once", () => {
    expect(promptUrls(`${DEVICE_CODE}\nstill waiting for https://microsoft.com/devicelogin\nhttp://127.0.0.1:8000/callback`)).toEqual([
      "https://microsoft.com/devicelogin",
      "http://127.0.0.1:8000/callback",
    ]);
  });
});

describe("openable", () => {
  it("accepts what open_url accepts: loopback http(s) only", () => {
    for (const ok of ["http://127.0.0.1:8000/callback", "https://localhost/", "http://LOCALHOST:1", "http://127.0.0.1", "http://127.0.0.1:9/path?q#f"]) {
      expect(openable(ok), ok).toBe(true);
    }
    for (const refused of [
      "https://microsoft.com/devicelogin",
      "http://127.0.0.1.example.com/",
      "http://127.0.0.1@evil.com/",
      "http://localhost:80@evil.com/",
      "http://127.0.0.1:x/",
      "ftp://127.0.0.1/",
      "javascript:alert(1)",
    ]) {
      expect(openable(refused), refused).toBe(false);
    }
  });
});

describe("PluginPromptBanner", () => {
  it("says which cluster's plugin asks, with its lines in monospace and each link copyable", () => {
    const html = renderToStaticMarkup(<PluginPromptBanner status={status("aks", `Waiting for sign-in\n${DEVICE_CODE}`)} />);
    expect(html).toContain('data-testid="plugin-prompt"');
    expect(html).toContain("The credential plugin for aks-context asks:");
    const lines = /<code class="plugin-prompt-lines" data-testid="plugin-prompt-lines">(.*?)<\/code>/s.exec(html)?.[1] ?? "";
    expect(lines.replace(/<[^>]+>/g, "")).toBe(`Waiting for sign-in\n${DEVICE_CODE}`);
    expect(lines).toContain('<span class="plugin-prompt-url">https://microsoft.com/devicelogin</span> and enter the code ABCD-1234');
    expect(html).toContain('<code data-testid="plugin-prompt-url-0">https://microsoft.com/devicelogin</code>');
    expect(html).not.toContain("plugin-prompt-url-1");
    // Shown as text to copy, never as a link the webview would follow, and not opened:
    // open_url refuses a remote address.
    expect(html).not.toContain("<a ");
    expect(html).not.toContain("plugin-prompt-url-0-open");
  });

  it("offers to open a loopback link (an OIDC login's local page)", () => {
    const html = renderToStaticMarkup(<PluginPromptBanner status={status("oidc", "Please visit the following URL in your browser: http://localhost:8000")} />);
    expect(html).toContain('<code data-testid="plugin-prompt-url-0">http://localhost:8000</code>');
    expect(html).toContain('data-testid="plugin-prompt-url-0-open"');
  });

  it("renders nothing when no plugin asks, or no cluster is known", () => {
    expect(renderToStaticMarkup(<PluginPromptBanner status={status("aks", null)} />)).toBe("");
    expect(renderToStaticMarkup(<PluginPromptBanner status={status("aks", "")} />)).toBe("");
    expect(renderToStaticMarkup(<PluginPromptBanner status={undefined} />)).toBe("");
  });
});

describe("the cluster switcher", () => {
  const noop = () => undefined;

  it("shows the prompt in the asking cluster's entry only", () => {
    const html = renderToStaticMarkup(
      <ClusterMenu list={[status("local", null), status("aks", DEVICE_CODE)]} current="local" error={null} onChoose={noop} onRemove={noop} onAdd={noop} />,
    );
    expect(html).toContain('data-testid="cluster-prompt-aks"');
    expect(html).not.toContain("cluster-prompt-local");
    expect(html).toContain("ABCD-1234");
    expect(renderToStaticMarkup(<PluginPromptNote status={status("aks", null)} />)).toBe("");
  });

  it("points to clusters asking elsewhere, not to the current one (it has the banner)", () => {
    const list = [status("local", null), status("aks", DEVICE_CODE), status("gke", "Go to the following link")];
    const html = renderToStaticMarkup(<PromptElsewhere list={list} current="gke" />);
    expect(html).toContain('data-testid="cluster-prompt-elsewhere"');
    expect(html).toContain("The credential plugin for aks-context asks you something");
    expect(html).not.toContain("gke-context");
    expect(renderToStaticMarkup(<PromptElsewhere list={list.slice(0, 1)} current="local" />)).toBe("");
  });
});
