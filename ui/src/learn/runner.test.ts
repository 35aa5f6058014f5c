// Show me's runner with fake cluster calls: order, namespaces, variables, node bookkeeping,
// waits and failures.
import { describe, expect, it } from "vitest";
import type { ApplyOutcome } from "../ipc/apply";
import type { Action, Check } from "./lesson";
import { describeAction, runActions, untilStepReady, WAIT_LIMIT_MS, type Effects, type RunContext, type RunReport } from "./runner";

const KINDS: Record<string, { resource: string; namespaced: boolean }> = {
  Pod: { resource: "pods", namespaced: true },
  Deployment: { resource: "deployments", namespaced: true },
  Node: { resource: "nodes", namespaced: false },
};

interface Fake {
  effects: Effects;
  calls: string[];
  ctx: RunContext;
  vars: Record<string, string>;
  added: string[];
  stopped: string[];
}

function fake(holdsAfter = 0, applyError: string | null = null, exitCode = 0): Fake {
  const calls: string[] = [];
  let clock = 0;
  let polls = 0;
  const vars: Record<string, string> = {};
  const added: string[] = [];
  const stopped: string[] = [];
  const outcome = (o: Record<string, unknown>): ApplyOutcome => {
    const meta = o["metadata"] as Record<string, unknown>;
    return {
      kind: String(o["kind"]),
      name: String(meta["name"]),
      namespace: String(meta["namespace"]),
      result: null,
      error: applyError === null ? null : { code: "invalid", message: applyError, causes: [] },
    };
  };
  const effects: Effects = {
    applyObjects: (objects) => {
      calls.push(`apply ${objects.map((o) => `${String(o["kind"])}/${String((o["metadata"] as Record<string, unknown>)["namespace"])}/${String((o["metadata"] as Record<string, unknown>)["name"])}`).join(",")}`);
      return Promise.resolve(objects.map(outcome));
    },
    deleteObject: (resource, namespace, name) => {
      calls.push(`delete ${resource} ${String(namespace)} ${name}`);
      return Promise.resolve();
    },
    scale: (resource, namespace, name, replicas) => {
      calls.push(`scale ${resource} ${namespace} ${name} ${String(replicas)}`);
      return Promise.resolve();
    },
    rolloutUndo: (resource, namespace, name) => {
      calls.push(`undo ${resource} ${namespace} ${name}`);
      return Promise.resolve();
    },
    execRun: (namespace, pod, container, command) => {
      calls.push(`exec ${namespace} ${pod} ${String(container)} ${command.join(" ")}`);
      return Promise.resolve({ stdout: "ok\n", stderr: exitCode === 0 ? "" : "wget: server returned error", exitCode, message: "" });
    },
    stopNode: (name) => {
      calls.push(`stop ${name}`);
      return Promise.resolve();
    },
    startNode: (name) => {
      calls.push(`start ${name}`);
      return Promise.resolve();
    },
    addNode: () => {
      calls.push("add");
      return Promise.resolve("kubarium-worker3");
    },
    removeNode: (name) => {
      calls.push(`remove ${name}`);
      return Promise.resolve();
    },
    holds: (check) => {
      polls += 1;
      calls.push(`holds ${check.label}`);
      return Promise.resolve({ held: polls > holdsAfter, detail: "not yet" });
    },
    sleep: (ms) => {
      clock += ms;
      return Promise.resolve();
    },
    now: () => clock,
  };
  const ctx: RunContext = {
    namespace: "learn-x",
    resourceOf: (kind) => {
      const found = KINDS[kind];
      if (!found) throw new Error(`unknown kind ${kind}`);
      return found;
    },
    vars: () => vars,
    setVar: (name, value) => {
      vars[name] = value;
    },
    nodeAdded: (name, yes) => {
      const i = added.indexOf(name);
      if (yes && i < 0) added.push(name);
      if (!yes && i >= 0) added.splice(i, 1);
    },
    nodeStopped: (name, yes) => {
      const i = stopped.indexOf(name);
      if (yes && i < 0) stopped.push(name);
      if (!yes && i >= 0) stopped.splice(i, 1);
    },
  };
  return { effects, calls, ctx, vars, added, stopped };
}

const ready: Check = { type: "object", label: "web is Ready", ref: { kind: "Pod", name: "web" }, where: [], absent: false };

describe("runActions", () => {
  it("runs every kind of action in order, in the lesson's namespace, with variables", async () => {
    const f = fake();
    f.vars["node"] = "kubarium-worker";
    const actions: Action[] = [
      { type: "apply", yaml: "kind: Pod\nmetadata: {name: web}\n---\nkind: Service\nmetadata: {name: web, namespace: other}\n" },
      { type: "delete", ref: { kind: "Pod", name: "web" } },
      { type: "delete", ref: { kind: "Node", name: "${node}" } },
      { type: "scale", ref: { kind: "Deployment", name: "web" }, replicas: 3 },
      { type: "rolloutUndo", ref: { kind: "Deployment", name: "web" } },
      { type: "exec", exec: { pod: "web", command: ["cat", "/etc/${namespace}"] } },
      { type: "nodeStop", name: "${node}" },
      { type: "nodeStart", name: "${node}" },
      { type: "nodeAdd", as: "added" },
      { type: "nodeStop", name: "${added}" },
      { type: "wait", check: { ...ready, label: "on ${added}" } },
    ];
    const reports: RunReport[] = [];
    await runActions(actions, f.ctx, f.effects, (r) => reports.push(r));
    expect(f.calls).toEqual([
      "apply Pod/learn-x/web,Service/other/web",
      "delete pods learn-x web",
      "delete nodes null kubarium-worker",
      "scale deployments learn-x web 3",
      "undo deployments learn-x web",
      "exec learn-x web null cat /etc/learn-x",
      "stop kubarium-worker",
      "start kubarium-worker",
      "add",
      "stop kubarium-worker3",
      "holds on kubarium-worker3",
    ]);
    expect(f.vars["added"]).toBe("kubarium-worker3");
    expect(f.added).toEqual(["kubarium-worker3"]);
    expect(f.stopped).toEqual(["kubarium-worker3"]);
    expect(reports.filter((r) => r.state === "done")).toHaveLength(actions.length);
  });

  it("forgets a removed node", async () => {
    const f = fake();
    await runActions([{ type: "nodeAdd", as: "n" }, { type: "nodeRemove", name: "${n}" }], f.ctx, f.effects, () => undefined);
    expect(f.added).toEqual([]);
  });

  it("waits until the check holds", async () => {
    const f = fake(3);
    await runActions([{ type: "wait", check: ready }], f.ctx, f.effects, () => undefined);
    expect(f.calls.filter((c) => c.startsWith("holds"))).toHaveLength(4);
  });

  it("gives up waiting after three minutes with the reason", async () => {
    const f = fake(Number.MAX_SAFE_INTEGER);
    await expect(runActions([{ type: "wait", check: ready }], f.ctx, f.effects, () => undefined)).rejects.toThrow(
      /^Wait until: web is Ready: Waited 3 minutes for "web is Ready" and it still does not hold \(not yet\)/,
    );
    expect(f.effects.now()).toBeGreaterThanOrEqual(WAIT_LIMIT_MS);
  });

  it("stops at a failed apply and names the object and the reason", async () => {
    const f = fake(0, "spec.replicas: must be >= 0");
    const reports: RunReport[] = [];
    await expect(
      runActions([{ type: "apply", yaml: "kind: Deployment\nmetadata: {name: web}\n" }, { type: "delete", ref: { kind: "Pod", name: "x" } }], f.ctx, f.effects, (r) => reports.push(r)),
    ).rejects.toThrow("Apply Deployment web: Deployment web: spec.replicas: must be >= 0");
    expect(f.calls).toHaveLength(1);
    expect(reports.at(-1)).toEqual({ index: 0, state: "failed", error: "Deployment web: spec.replicas: must be >= 0" });
  });

  it("fails an exec that exits non-zero, quoting its error output", async () => {
    const f = fake(0, null, 1);
    await expect(runActions([{ type: "exec", exec: { pod: "web", command: ["wget", "-qO-", "x"] } }], f.ctx, f.effects, () => undefined)).rejects.toThrow(
      "`wget -qO- x` in web ended with exit code 1: wget: server returned error",
    );
  });

  it("waits for the step's baselines before the first action", async () => {
    const f = fake();
    let looks = 0;
    await untilStepReady(() => {
      looks += 1;
      return looks > 3;
    }, f.effects);
    expect(looks).toBe(4);
    expect(f.effects.now()).toBe(300);
  });

  it("gives up on a step whose objects never come into view, saying what to do", async () => {
    const f = fake();
    await expect(untilStepReady(() => false, f.effects)).rejects.toThrow(/could not be read from the local cluster in 3 minutes.*try Show me again/);
    expect(f.effects.now()).toBeGreaterThanOrEqual(WAIT_LIMIT_MS);
  });

  it("describes actions for the learner", () => {
    expect(describeAction({ type: "apply", yaml: "kind: Pod\nmetadata: {name: web}\n" })).toBe("Apply Pod web");
    expect(describeAction({ type: "scale", ref: { kind: "Deployment", name: "web" }, replicas: 3 })).toBe("Scale Deployment web to 3");
    expect(describeAction({ type: "wait", check: ready })).toBe("Wait until: web is Ready");
  });
});
