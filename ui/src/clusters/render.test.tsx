// The cluster UI's markup, rendered to HTML without a window (react-dom/server): the test ids
// the desktop e2e drives, what is offered when, and the words shown. Interaction is left to
// the e2e; the logic behind it is tested in forms.test.ts and the state tests.
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it, vi } from "vitest";
import type { ClusterStatus } from "../ipc";

vi.mock("../ipc/clusters", () => ({
  keychainInfo: () => new Promise(() => undefined),
  previewKubeconfig: vi.fn(),
  importKubeconfig: vi.fn(),
  addCluster: vi.fn(),
  removeCluster: vi.fn(),
  localKubeconfig: vi.fn(),
  exportLocalKubeconfig: vi.fn(),
  mergeLocalKubeconfig: vi.fn(),
  kubeconfigMergeTarget: vi.fn(),
  retryCluster: vi.fn(),
  listClusters: () => Promise.resolve([]),
  watchClusters: () => Promise.resolve(),
  canI: () => Promise.resolve([]),
}));

const { AddClusterDialog } = await import("./AddClusterDialog");
const { ManualTab } = await import("./ManualTab");
const { EMPTY_FORM } = await import("./forms");
const { ClusterMenu } = await import("../shell/ClusterSwitcher");
const { LocalKubeconfig, MergeDialog, mergeNotice } = await import("../views/LocalKubeconfig");
const { Retry } = await import("../shell/StatusBar");

function status(id: string, overrides: Partial<ClusterStatus> = {}): ClusterStatus {
  return {
    id,
    name: id,
    local: id === "local",
    phase: "connected",
    serverUrl: `https://${id}.example:6443`,
    kubeconfigPath: null,
    kubectlCommand: null,
    dataDir: null,
    logsDir: null,
    version: { gitVersion: "v1.34.0", major: "1", minor: "34", platform: "linux/amd64" },
    latencyMs: 4.2,
    error: null,
    docker: null,
    host: null,
    run: 1,
    prompt: null,
    retryAt: null,
    ...overrides,
  } as ClusterStatus;
}

/** The opening tag of the element with `testId`. */
function tagOf(html: string, testId: string): string {
  return new RegExp(`<[^<>]*data-testid="${testId}"[^<>]*>`).exec(html)?.[0] ?? "";
}

/** The `data-testid`s in `html`, in order. */
function testIds(html: string): string[] {
  return [...html.matchAll(/data-testid="([^"]+)"/g)].map((m) => m[1] ?? "");
}

describe("ClusterMenu", () => {
  const noop = () => undefined;
  const html = renderToStaticMarkup(
    <ClusterMenu
      list={[
        status("local"),
        status("prod"),
        status("edge", { phase: "unreachable", version: null, latencyMs: null, error: { code: "unreachable", message: "nothing answers at https://edge:6443", causes: [] } }),
      ]}
      current="prod"
      error={null}
      onChoose={noop}
      onRemove={noop}
      onAdd={noop}
    />,
  );

  it("lists every cluster, remote ones removable, then Add", () => {
    expect(testIds(html)).toEqual([
      "cluster-option-local",
      "cluster-option-prod",
      "cluster-remove-prod",
      "cluster-option-edge",
      "cluster-remove-edge",
      "cluster-add",
    ]);
  });

  it("shows state, server, version, latency and the error of each", () => {
    expect(html).toContain("Connected · https://prod.example:6443 · v1.34.0 · 4.2 ms");
    expect(html).toContain("Not answering · https://edge.example:6443");
    expect(html).toContain("nothing answers at https://edge:6443");
    expect(tagOf(html, "cluster-option-prod")).toContain('aria-checked="true"');
    expect(tagOf(html, "cluster-option-local")).toContain('aria-checked="false"');
  });
});

describe("AddClusterDialog", () => {
  const html = renderToStaticMarkup(<AddClusterDialog onClose={() => undefined} />);

  it("opens on the kubeconfig tab with its three sources and the keychain note", () => {
    expect(testIds(html)).toEqual([
      "cluster-dialog",
      "cluster-tab-kubeconfig",
      "cluster-tab-manual",
      "keychain-store",
      "kubeconfig-default",
      "kubeconfig-file",
      "kubeconfig-paste",
      "kubeconfig-read",
    ]);
    expect(html).toContain("Looking for the OS keychain");
    // Nothing pasted yet: nothing to read.
    expect(tagOf(html, "kubeconfig-read")).toContain('disabled=""');
    expect(tagOf(html, "kubeconfig-default")).not.toContain("disabled");
  });
});

describe("ManualTab", () => {
  const onAdd = () => Promise.resolve(null);
  const noop = () => undefined;

  it("asks for a token by default", () => {
    const html = renderToStaticMarkup(<ManualTab storeReady busy={false} onAdd={onAdd} onCancel={noop} />);
    expect(testIds(html)).toEqual(["manual-name", "manual-server", "manual-ca", "manual-insecure", "manual-auth", "manual-token", "manual-add"]);
  });

  it("asks for the exec plugin's command, args, env and API version", () => {
    const html = renderToStaticMarkup(<ManualTab storeReady busy={false} onAdd={onAdd} onCancel={noop} initial={{ ...EMPTY_FORM, auth: "exec" }} />);
    expect(testIds(html)).toEqual([
      "manual-name",
      "manual-server",
      "manual-ca",
      "manual-insecure",
      "manual-auth",
      "manual-exec-command",
      "manual-exec-args",
      "manual-exec-env",
      "manual-exec-api",
      "manual-add",
    ]);
  });

  it("cannot add without a keychain, and says why", () => {
    const html = renderToStaticMarkup(<ManualTab storeReady={false} busy={false} onAdd={onAdd} onCancel={noop} initial={{ ...EMPTY_FORM, auth: "clientCertificate" }} />);
    expect(testIds(html)).toContain("manual-cert");
    expect(testIds(html)).toContain("manual-key");
    const add = tagOf(html, "manual-add");
    expect(add).toContain('disabled=""');
    expect(add).toContain('title="No OS keychain: nothing can be added"');
  });
});

describe("LocalKubeconfig", () => {
  it("offers copy, merge and export to a path defaulting to ~/kubarium.kubeconfig", () => {
    const html = renderToStaticMarkup(<LocalKubeconfig />);
    expect(testIds(html)).toEqual(["kubeconfig-copy", "kubeconfig-merge", "kubeconfig-export-path", "kubeconfig-export"]);
    expect(html).toContain('value="~/kubarium.kubeconfig"');
  });

  it("says where the merge wrote, and where the backup is", () => {
    expect(mergeNotice({ path: "/home/a/.kube/config", context: "kubarium", backup: "/home/a/.kube/config.kubarium-backup" })).toBe(
      "Added context kubarium to /home/a/.kube/config; your current context is unchanged (kubectl --context kubarium …). The file as it was is saved as /home/a/.kube/config.kubarium-backup.",
    );
    expect(mergeNotice({ path: "/home/a/.kube/config", context: "kubarium", backup: null })).toMatch(/no file before/);
  });

  it("asks before merging, naming the exact file it writes and its backup", () => {
    const noop = () => undefined;
    const html = renderToStaticMarkup(<MergeDialog path="/work/kube/first.yaml" onMerged={noop} onClose={noop} />);
    expect(html).toContain(
      "Add the local cluster to your kubeconfig /work/kube/first.yaml as cluster, user and context kubarium, replacing any entries of that name and keeping everything else? The file as it is now is saved first as /work/kube/first.yaml.kubarium-backup, and your current context stays as it is.",
    );
    expect(html).not.toContain("$KUBECONFIG");
    expect(html).not.toContain("&lt;file&gt;");
    expect(testIds(html)).toContain("dialog-confirm");
  });
});

describe("Retry", () => {
  it("says when a failing cluster is tried next and offers to try now", () => {
    const html = renderToStaticMarkup(<Retry cluster="edge" retryAt={Date.now() + 3_600_000} />);
    expect(html).toMatch(/retrying in \d+ s/);
    expect(testIds(html)).toEqual(["status-retry", "status-retry-now"]);
    expect(html).toContain("Retry now");
  });
});

describe("hostOf", () => {
  it("keeps host and port of a server URL, and anything else as it is", async () => {
    const { hostOf } = await import("../shell/ClusterSwitcher");
    expect(hostOf("https://10.0.0.1:6443/prefix")).toBe("10.0.0.1:6443");
    expect(hostOf("not a url")).toBe("not a url");
  });
});
