// The cluster list store against a mocked `watch_clusters`/`list_clusters`: local first, the
// current cluster remembered and falling back to local when it is gone.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ClusterStatus } from "../ipc";
import type { ClusterEntry } from "../ipc/clusters";

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
    version: null,
    latencyMs: 3,
    error: null,
    docker: null,
    host: null,
    run: 1,
    prompt: null,
    retryAt: null,
    ...overrides,
  };
}

function entry(id: string): ClusterEntry {
  return { id, name: id, local: id === "local", server: `https://${id}.example:6443`, auth: "token", namespace: null };
}

/** What the mocked backend does; each test sets it up before importing the store. */
const backend = {
  push: null as ((statuses: ClusterStatus[]) => void) | null,
  watchFails: false,
  list: vi.fn<() => Promise<ClusterEntry[]>>(),
};

vi.mock("../ipc/clusters", () => ({
  watchClusters: (onStatuses: (statuses: ClusterStatus[]) => void) => {
    if (backend.watchFails) return Promise.reject(new Error("no such command"));
    backend.push = onStatuses;
    return Promise.resolve();
  },
  listClusters: () => backend.list(),
}));

/** A Storage good enough for the store. */
function memoryStorage(initial: Record<string, string> = {}) {
  const data = new Map(Object.entries(initial));
  return {
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => {
      data.set(k, v);
    },
    data,
  };
}

async function load(stored: Record<string, string> = {}) {
  const storage = memoryStorage(stored);
  vi.stubGlobal("window", { localStorage: storage });
  vi.resetModules();
  const store = await import("./clusters");
  return { store, storage };
}

/** Subscribes as a component would (starting the stream) and waits for it to be set up. */
async function subscribe(store: typeof import("./clusters")) {
  const seen: string[] = [];
  store.subscribeClusters(() => seen.push(store.currentCluster()));
  await vi.waitFor(() => {
    expect(backend.push !== null || backend.watchFails).toBe(true);
  });
  return seen;
}

beforeEach(() => {
  backend.push = null;
  backend.watchFails = false;
  backend.list.mockReset();
  backend.list.mockResolvedValue([entry("local"), entry("prod")]);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("localFirst and resolveCurrent", () => {
  it("puts the local cluster first and keeps the others in order", async () => {
    const { store } = await load();
    const ordered = store.localFirst([status("b"), status("local"), status("a")]);
    expect(ordered.map((s) => s.id)).toEqual(["local", "b", "a"]);
  });

  it("keeps a chosen cluster until the list is known, then only while it is listed", async () => {
    const { store } = await load();
    expect(store.resolveCurrent("prod", { statuses: [], loaded: false })).toBe("prod");
    expect(store.resolveCurrent("prod", { statuses: [status("local"), status("prod")], loaded: true })).toBe("prod");
    expect(store.resolveCurrent("prod", { statuses: [status("local")], loaded: true })).toBe("local");
  });
});

describe("the cluster store", () => {
  it("starts on the local cluster when nothing is remembered", async () => {
    const { store } = await load();
    expect(store.currentCluster()).toBe("local");
  });

  it("remembers the chosen cluster in localStorage", async () => {
    const { store, storage } = await load();
    await subscribe(store);
    backend.push?.([status("local"), status("prod")]);
    store.setCurrentCluster("prod");
    expect(store.currentCluster()).toBe("prod");
    expect(storage.data.get("kubarium.cluster")).toBe("prod");
  });

  it("restores a remembered remote cluster, and falls back to local once it is not listed", async () => {
    const { store } = await load({ "kubarium.cluster": "prod" });
    expect(store.currentCluster()).toBe("prod");
    await subscribe(store);
    backend.push?.([status("prod"), status("local")]);
    expect(store.currentCluster()).toBe("prod");
    expect(store.clustersSnapshot().statuses.map((s) => s.id)).toEqual(["local", "prod"]);
    // Removed (elsewhere, or by the switcher): the window goes back to the local cluster.
    backend.push?.([status("local")]);
    expect(store.currentCluster()).toBe("local");
  });

  it("loads the entries when clusters come or go, not on every status change", async () => {
    const { store } = await load();
    await subscribe(store);
    backend.push?.([status("local"), status("prod")]);
    await vi.waitFor(() => {
      expect(store.clustersSnapshot().entries.map((e) => e.id)).toEqual(["local", "prod"]);
    });
    backend.push?.([status("local"), status("prod", { latencyMs: 9 })]);
    expect(backend.list).toHaveBeenCalledTimes(1);
    backend.push?.([status("local")]);
    expect(backend.list).toHaveBeenCalledTimes(2);
  });

  it("says why when the stream cannot start, and shows the local cluster", async () => {
    backend.watchFails = true;
    const { store } = await load({ "kubarium.cluster": "prod" });
    await subscribe(store);
    await vi.waitFor(() => {
      expect(store.clustersSnapshot().error?.message).toMatch(/cluster list did not load/);
    });
    expect(store.currentCluster()).toBe("local");
  });
});

describe("entries the backend has not reported yet", () => {
  it("are listed as starting, so a just-imported cluster can be chosen at once", async () => {
    const { store } = await load();
    await subscribe(store);
    backend.list.mockResolvedValue([entry("local"), entry("prod"), entry("new")]);
    backend.push?.([status("local"), status("prod")]);
    await vi.waitFor(() => {
      expect(store.clustersSnapshot().statuses.map((s) => s.id)).toEqual(["local", "prod", "new"]);
    });
    expect(store.clustersSnapshot().statuses[2]?.phase).toBe("starting");
    store.setCurrentCluster("new");
    expect(store.currentCluster()).toBe("new");
    // Its first status replaces the placeholder.
    backend.push?.([status("local"), status("prod"), status("new")]);
    expect(store.clustersSnapshot().statuses[2]?.phase).toBe("connected");
  });

  it("mergeStatuses keeps the pushed order and adds only missing remote entries", async () => {
    const { store } = await load();
    const merged = store.mergeStatuses([status("prod"), status("local")], [entry("local"), entry("prod"), entry("x")]);
    expect(merged.map((s) => `${s.id}:${s.phase}`)).toEqual(["local:connected", "prod:connected", "x:starting"]);
  });
});
