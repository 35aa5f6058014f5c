// The check engine and field paths against objects shaped like the API server's.
import { describe, expect, it } from "vitest";
import type { Check } from "./lesson";
import { baselineOf, captureFrom, checkKey, compare, evaluate, matchOutput, substitute, substituteAll, type KubeObject, type World } from "./checks";
import { parsePath, valueAt } from "./paths";

function pod(name: string, extra: { labels?: Record<string, string>; phase?: string; ready?: string; node?: string; uid?: string; created?: string; namespace?: string } = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: extra.namespace ?? "learn-pods",
      uid: extra.uid ?? `uid-${name}`,
      labels: extra.labels ?? {},
      creationTimestamp: extra.created ?? "2026-11-28T10:00:00Z",
      annotations: { "scheduler.kubarium.dev/decision": "{}" },
    },
    spec: { nodeName: extra.node ?? "w1", containers: [{ name: "web", image: "kubarium.dev/demo:1" }] },
    status: {
      phase: extra.phase ?? "Running",
      conditions: [
        { type: "PodScheduled", status: "True" },
        { type: "Ready", status: extra.ready ?? "True" },
      ],
      containerStatuses: [{ name: "web", restartCount: 2 }],
    },
  };
}

function world(pods: KubeObject[], more: Partial<World> = {}): World {
  return {
    objects: { Pod: pods, Node: [{ metadata: { name: "w1", labels: { role: "worker" } }, spec: { unschedulable: true } }] },
    namespace: "learn-pods",
    clusterScoped: new Set(["Node"]),
    ...more,
  };
}

describe("paths", () => {
  const object = pod("web");
  it("follows keys, indexes and selections", () => {
    expect(valueAt(object, "status.phase")).toBe("Running");
    expect(valueAt(object, "spec.containers[0].image")).toBe("kubarium.dev/demo:1");
    expect(valueAt(object, "status.conditions[type=Ready].status")).toBe("True");
    expect(valueAt(object, 'status.conditions[type="PodScheduled"].status')).toBe("True");
    expect(valueAt(object, 'metadata.annotations["scheduler.kubarium.dev/decision"]')).toBe("{}");
    expect(valueAt(object, "status.containerStatuses[name=web].restartCount")).toBe(2);
  });
  it("gives undefined for anything missing", () => {
    expect(valueAt(object, "status.nothing.deeper")).toBeUndefined();
    expect(valueAt(object, "spec.containers[3].image")).toBeUndefined();
    expect(valueAt(object, "status.conditions[type=Missing].status")).toBeUndefined();
    expect(valueAt(object, "status.phase[0]")).toBeUndefined();
  });
  it("takes length of arrays, maps and strings only at the end", () => {
    expect(valueAt(object, "spec.containers.length")).toBe(1);
    expect(valueAt(object, "metadata.annotations.length")).toBe(1);
    expect(valueAt(object, "status.phase.length")).toBe(7);
    expect(parsePath("data.length.x")).toEqual([{ type: "key", key: "data" }, { type: "key", key: "length" }, { type: "key", key: "x" }]);
  });
  it("refuses malformed paths", () => {
    expect(() => parsePath("")).toThrow(/empty/);
    expect(() => parsePath("a..b")).toThrow(/empty key/);
    expect(() => parsePath("a[0")).toThrow(/unclosed/);
    expect(() => parsePath("a[=x]")).toThrow(/neither/);
  });
});

describe("compare", () => {
  it("compares numbers and numeric strings as numbers", () => {
    expect(compare("3", ">=", 3)).toBe(true);
    expect(compare(10, ">", "9")).toBe(true);
    expect(compare("10", ">", "9")).toBe(true);
    expect(compare(2, "<", 3)).toBe(true);
    expect(compare(3, "<=", 2)).toBe(false);
    expect(compare("abc", ">", 1)).toBe(false);
    expect(compare(3, "==", "3.0")).toBe(true);
  });
  it("compares text and booleans as text", () => {
    expect(compare("Running", "==", "Running")).toBe(true);
    expect(compare("Running", "!=", "Pending")).toBe(true);
    expect(compare(true, "==", "true")).toBe(true);
    expect(compare(undefined, "==", "x")).toBe(false);
    expect(compare(undefined, "!=", "x")).toBe(true);
    expect(compare({ a: 1 }, "==", "x")).toBe(false);
  });
  it("knows exists, absent, contains and matches", () => {
    expect(compare(null, "exists")).toBe(false);
    expect(compare("", "exists")).toBe(true);
    expect(compare(undefined, "absent")).toBe(true);
    expect(compare("kubarium.dev/demo:2", "contains", "demo:2")).toBe(true);
    expect(compare(["a", "b"], "contains", "b")).toBe(true);
    expect(compare(["a", "b"], "contains", "c")).toBe(false);
    expect(compare("web-7d9f", "matches", "^web-[0-9a-f]+$")).toBe(true);
    expect(compare("web", "matches", "(")).toBe(false);
  });
});

describe("evaluate", () => {
  const running: Check = { type: "object", label: "web runs", ref: { kind: "Pod", name: "web" }, where: [{ path: "status.phase", op: "==", value: "Running" }], absent: false };

  it("holds an object check when the named object meets every clause", () => {
    expect(evaluate(running, world([pod("web")]))).toEqual({ held: true, detail: "Pod web is as expected" });
    const pending = evaluate(running, world([pod("web", { phase: "Pending" })]));
    expect(pending.held).toBe(false);
    expect(pending.detail).toContain('status.phase is "Pending"');
    expect(evaluate(running, world([])).detail).toBe("Pod web does not exist");
  });

  it("looks in the lesson's namespace unless the check names another", () => {
    expect(evaluate(running, world([pod("web", { namespace: "default" })])).held).toBe(false);
    const elsewhere: Check = { ...running, ref: { kind: "Pod", name: "web", namespace: "default" } };
    expect(evaluate(elsewhere, world([pod("web", { namespace: "default" })])).held).toBe(true);
  });

  it("ignores namespaces for cluster-scoped kinds", () => {
    const cordoned: Check = { type: "object", label: "w1 cordoned", ref: { kind: "Node", name: "w1" }, where: [{ path: "spec.unschedulable", op: "==", value: true }], absent: false };
    expect(evaluate(cordoned, world([])).held).toBe(true);
  });

  it("holds an absent check only while nothing matches", () => {
    const gone: Check = { type: "object", label: "gone", ref: { kind: "Pod", name: "web" }, where: [], absent: true };
    expect(evaluate(gone, world([pod("web")])).held).toBe(false);
    expect(evaluate(gone, world([pod("other")])).held).toBe(true);
  });

  it("counts objects by labels and clauses", () => {
    const ready: Check = {
      type: "count",
      label: "3 ready",
      ref: { kind: "Pod", labels: { app: "web" } },
      where: [{ path: "status.conditions[type=Ready].status", op: "==", value: "True" }],
      op: ">=",
      value: 3,
    };
    const web = (n: string, r = "True"): KubeObject => pod(n, { labels: { app: "web" }, ready: r });
    expect(evaluate(ready, world([web("a"), web("b"), pod("c")])).held).toBe(false);
    expect(evaluate(ready, world([web("a"), web("b"), web("c", "False")])).detail).toBe("2 Pods with app=web match (wanted >= 3)");
    expect(evaluate(ready, world([web("a"), web("b"), web("c")])).held).toBe(true);
    const none: Check = { ...ready, op: "==", value: 0 };
    expect(evaluate(none, world([])).held).toBe(true);
  });

  it("holds a changed check once the value differs from the baseline", () => {
    const replaced: Check = { type: "changed", label: "new pod", ref: { kind: "Pod", name: "web-0" }, path: "metadata.uid" };
    const key = checkKey("recreate", 0);
    const before = world([pod("web-0", { uid: "one" })]);
    const baseline = { [key]: baselineOf(replaced, before) };
    expect(baseline[key]).toBe("one");
    expect(evaluate(replaced, { ...before, baseline }, key).held).toBe(false);
    expect(evaluate(replaced, world([], { baseline }), key).detail).toBe("Pod web-0 does not exist");
    expect(evaluate(replaced, world([pod("web-0", { uid: "two" })], { baseline }), key)).toEqual({ held: true, detail: 'metadata.uid changed to "two"' });
  });

  it("judges polled outputs of exec and ingress checks", () => {
    const greeting: Check = { type: "exec", label: "hello", exec: { pod: "web", command: ["cat", "/etc/web/greeting"] }, output: { contains: "hello" } };
    const key = checkKey("file", 1);
    expect(evaluate(greeting, world([]), key).detail).toBe("not tried yet");
    expect(evaluate(greeting, world([], { outputs: { [key]: { ok: false, error: "cat: no such file" } } }), key)).toEqual({ held: false, detail: "cat: no such file" });
    expect(evaluate(greeting, world([], { outputs: { [key]: { ok: true, text: "hello world\n" } } }), key).held).toBe(true);
    const ingress: Check = { type: "ingress", label: "blue", ingress: { host: "blue.localhost", path: "/api" }, output: { contains: '"namespace":"learn-ingress"' } };
    expect(evaluate(ingress, world([], { outputs: { [key]: { ok: true, text: '{"namespace":"learn-ingress"}' } } }), key).held).toBe(true);
  });
});

describe("matchOutput", () => {
  it("checks equals (trimmed), contains, matches and distinct lines together", () => {
    expect(matchOutput("hello\n", { equals: "hello" }).held).toBe(true);
    expect(matchOutput("hello there", { equals: "hello" }).held).toBe(false);
    expect(matchOutput("web-1\nweb-2\nweb-1\n", { distinctLines: 2 }).held).toBe(true);
    expect(matchOutput("web-1\nweb-1\n\n", { distinctLines: 2 }).detail).toBe("the output has 1 different lines, fewer than 2");
    expect(matchOutput("a\nversion 2\n", { matches: "^version \\d$" }).held).toBe(true);
    expect(matchOutput("hello", { contains: "hello", matches: "^bye" }).held).toBe(false);
  });
});

describe("substitution", () => {
  it("replaces known names and leaves others", () => {
    expect(substitute("${node} and ${other}", { node: "w2" })).toBe("w2 and ${other}");
  });
  it("reaches every string of a check", () => {
    const check: Check = { type: "object", label: "on ${node}", ref: { kind: "Node", name: "${node}" }, where: [{ path: "spec.unschedulable", op: "==", value: "${flag}" }], absent: false };
    expect(substituteAll(check, { node: "w1", flag: "true" })).toEqual({ ...check, label: "on w1", ref: { kind: "Node", name: "w1" }, where: [{ path: "spec.unschedulable", op: "==", value: "true" }] });
  });
  it("captures from the oldest matching object", () => {
    const w = world([pod("b", { labels: { app: "web" }, node: "w2", created: "2026-11-28T11:00:00Z" }), pod("a", { labels: { app: "web" }, node: "w1", created: "2026-11-28T09:00:00Z" })]);
    expect(captureFrom({ kind: "Pod", labels: { app: "web" } }, "spec.nodeName", w)).toBe("w1");
    expect(captureFrom({ kind: "Pod", labels: { app: "none" } }, "spec.nodeName", w)).toBeUndefined();
  });
});
