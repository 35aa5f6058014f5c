// Tests for the shared watches' life: one backend watch per key, retried with back-off when it
// cannot start, restarted when the local cluster starts a new run, stopped after the last
// follower leaves. The backend commands and status streams are test doubles.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ClusterStatus } from "../ipc";
import type { ResourceBatch, StreamId } from "../ipc/resources";
import { row } from "../test/fixtures";

interface Started {
  cluster: string;
  resource: string;
  send: (batch: ResourceBatch) => void;
  settle: { resolve: (id: StreamId) => void; reject: (error: unknown) => void };
}

const backend = vi.hoisted(() => ({
  started: [] as Started[],
  stopped: [] as number[],
  pushLocal: null as ((status: ClusterStatus) => void) | null,
}));

vi.mock("../ipc/resources", () => ({
  LOCAL: "local",
  watchResources: (
    cluster: string,
    resource: string,
    _namespace: string | null,
    onBatch: (batch: ResourceBatch) => void,
  ) =>
    new Promise<StreamId>((resolve, reject) => {
      backend.started.push({ cluster, resource, send: onBatch, settle: { resolve, reject } });
    }),
  stopStream: (id: number) => {
    backend.stopped.push(id);
    return Promise.resolve();
  },
}));

vi.mock("./clusterStatus", () => ({
  onClusterStatus: (listener: (status: ClusterStatus) => void) => {
    backend.pushLocal = listener;
    return () => undefined;
  },
}));

vi.mock("./clusters", () => ({
  subscribeClusters: () => () => undefined,
  clustersSnapshot: () => ({ statuses: [], loaded: true }),
  useCurrentCluster: () => "local",
}));

const { followResources, resourceSnapshot, retryDelay } = await import("./resources");

function localStatus(run: number): ClusterStatus {
  return { id: "local", local: true, run } as ClusterStatus;
}

/** Lets settled promises run their callbacks. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

beforeEach(() => {
  vi.useFakeTimers();
  backend.started.length = 0;
  backend.stopped.length = 0;
});

afterEach(() => {
  vi.useRealTimers();
});

describe("a shared watch", () => {
  it("is started once for every follower of the same rows, and stopped after the last leaves", async () => {
    const changesA = vi.fn();
    const changesB = vi.fn();
    const leaveA = followResources("local", "pods", null, changesA);
    const leaveB = followResources("local", "pods", null, changesB);
    expect(backend.started).toHaveLength(1);
    backend.started[0]?.settle.resolve(7);
    backend.started[0]?.send({ type: "reset", rows: [row("web-1")] });
    expect(resourceSnapshot("local", "pods", null).rows.map((r) => r.name)).toEqual(["web-1"]);
    expect(changesA).toHaveBeenCalledTimes(1);
    expect(changesB).toHaveBeenCalledTimes(1);

    leaveA();
    leaveB();
    await vi.advanceTimersByTimeAsync(4000);
    expect(backend.stopped).toEqual([]);
    await vi.advanceTimersByTimeAsync(1500);
    expect(backend.stopped).toEqual([7]);
    expect(resourceSnapshot("local", "pods", null).rows).toEqual([]);
  });

  it("that cannot start says why and tries again with back-off while anyone follows", async () => {
    const leave = followResources("local", "services", null, () => undefined);
    backend.started[0]?.settle.reject({ code: "unreachable", message: "still starting", causes: [] });
    await flush();
    const snapshot = resourceSnapshot("local", "services", null);
    expect(snapshot.state).toBe("reconnecting");
    expect(snapshot.error?.message).toBe("still starting");

    await vi.advanceTimersByTimeAsync(retryDelay(1) - 1);
    expect(backend.started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(backend.started).toHaveLength(2);

    backend.started[1]?.settle.reject(new Error("still starting"));
    await flush();
    await vi.advanceTimersByTimeAsync(retryDelay(2));
    expect(backend.started).toHaveLength(3);

    // Once it starts, a reset clears the error and goes live.
    backend.started[2]?.settle.resolve(9);
    backend.started[2]?.send({ type: "reset", rows: [] });
    expect(resourceSnapshot("local", "services", null).state).toBe("live");
    leave();
  });

  it("stops retrying once nobody follows it", async () => {
    const leave = followResources("local", "secrets", null, () => undefined);
    backend.started[0]?.settle.reject(new Error("gone"));
    await flush();
    leave();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(backend.started).toHaveLength(1);
  });

  it("starts afresh when the local cluster starts a new run, dropping the old run's rows and batches", async () => {
    const leave = followResources("local", "nodes", null, () => undefined);
    backend.pushLocal?.(localStatus(1));
    const first = backend.started[0];
    first?.settle.resolve(11);
    first?.send({ type: "reset", rows: [row("node-a")] });
    expect(resourceSnapshot("local", "nodes", null).rows).toHaveLength(1);

    backend.pushLocal?.(localStatus(1)); // the same run: nothing happens
    expect(backend.started).toHaveLength(1);

    backend.pushLocal?.(localStatus(2));
    await flush();
    expect(backend.stopped).toContain(11);
    expect(backend.started.map((s) => s.resource)).toEqual(["nodes", "nodes"]);
    expect(resourceSnapshot("local", "nodes", null).rows).toEqual([]);

    // A late batch of the old watch is ignored; the new one's reset is taken.
    first?.send({ type: "reset", rows: [row("stale")] });
    expect(resourceSnapshot("local", "nodes", null).rows).toEqual([]);
    backend.started[1]?.settle.resolve(12);
    backend.started[1]?.send({ type: "reset", rows: [row("node-b")] });
    expect(resourceSnapshot("local", "nodes", null).rows.map((r) => r.name)).toEqual(["node-b"]);
    leave();
  });
});
