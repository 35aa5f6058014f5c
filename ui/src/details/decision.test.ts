// The "why is this pod here / pending" model, fed the annotation exactly as the scheduler
// writes it (copied from crates/kubarium-controllers/src/scheduler/snapshots).
import { describe, expect, it } from "vitest";
import { DECISION_ANNOTATION, decisionView, parseDecision, placementOf, type Decision } from "./decision";
import type { KubeObject } from "./describe";

/** the_emptier_worker_wins_and_the_decision_says_why.snap, compacted as the annotation holds it. */
const SCHEDULED =
  '{"node":"kubarium-worker2","nodes":3,"evaluated":3,"feasible":2,"rejected":[{"plugin":"TaintToleration","reason":"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }","count":1,"nodes":["kubarium-control-plane"]}],"scores":[{"node":"kubarium-worker2","total":474,"plugins":{"NodeResourcesBalancedAllocation":93,"NodeResourcesFit":81,"TaintToleration":100}},{"node":"kubarium-worker","total":424,"plugins":{"NodeResourcesBalancedAllocation":81,"NodeResourcesFit":43,"TaintToleration":100}}],"weights":{"InterPodAffinity":2,"NodeAffinity":2,"NodeResourcesBalancedAllocation":1,"NodeResourcesFit":1,"PodTopologySpread":2,"TaintToleration":3}}';

/** a_pod_too_big_for_every_worker-2.snap. */
const PENDING =
  '{"nodes":3,"evaluated":3,"feasible":0,"rejected":[{"plugin":"NodeResourcesFit","reason":"Insufficient cpu","count":2,"nodes":["kubarium-worker","kubarium-worker2"]},{"plugin":"TaintToleration","reason":"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }","count":1,"nodes":["kubarium-control-plane"]}],"message":"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.."}';

function parsed(value: string): Decision {
  const decision = parseDecision(value);
  if (!decision) throw new Error("the fixture did not parse");
  return decision;
}

function pod(annotations: Record<string, string>, spec: Record<string, string> = {}, status: KubeObject = {}): KubeObject {
  return { metadata: { name: "web", namespace: "default", annotations }, spec, status };
}

describe("parseDecision", () => {
  it("reads the record the scheduler writes for a scheduled pod", () => {
    const d = parsed(SCHEDULED);
    expect(d).toMatchObject({ node: "kubarium-worker2", nodes: 3, evaluated: 3, feasible: 2, message: null });
    expect(d.rejected).toHaveLength(1);
    expect(d.scores.map((s) => s.node)).toEqual(["kubarium-worker2", "kubarium-worker"]);
    expect(d.weights["TaintToleration"]).toBe(3);
  });

  it("reads a pending pod's record, with no node and no scores", () => {
    const d = parsed(PENDING);
    expect(d.node).toBeNull();
    expect(d.scores).toEqual([]);
    expect(d.weights).toEqual({});
    expect(d.message).toMatch(/^0\/3 nodes are available/);
  });

  it("refuses what is not a decision record", () => {
    expect(parseDecision("not json")).toBeNull();
    expect(parseDecision("[]")).toBeNull();
    expect(parseDecision('{"node":"a"}')).toBeNull();
    expect(parseDecision('{"nodes":"3","evaluated":3,"feasible":1}')).toBeNull();
  });

  it("skips malformed entries but keeps the rest", () => {
    const d = parsed('{"nodes":2,"evaluated":2,"feasible":1,"node":"a","rejected":[{"plugin":1},{"plugin":"P","reason":"r","nodes":["b",3]}],"scores":[{"total":5}]}');
    expect(d.rejected).toEqual([{ plugin: "P", reason: "r", count: 1, nodes: ["b"] }]);
    expect(d.scores).toEqual([]);
  });
});

describe("decisionView", () => {
  it("lists the chosen node first, the runner-up with its score, then the rejected node", () => {
    const view = decisionView(parsed(SCHEDULED));
    expect(view.headline).toBe("Scheduled to kubarium-worker2");
    expect(view.pending).toBe(false);
    expect(view.counts).toBe("3 nodes in the cluster · 3 evaluated · 2 feasible");
    expect(view.lines.map((l) => [l.node, l.result, l.text])).toEqual([
      ["kubarium-worker2", "chosen", "chosen · highest score 474"],
      ["kubarium-worker", "feasible", "feasible · score 424"],
      [
        "kubarium-control-plane",
        "rejected",
        "rejected by TaintToleration: node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
      ],
    ]);
    expect(view.note).toBeNull();
  });

  it("weights each plugin's score, and the weighted scores add up to the total", () => {
    const chosen = decisionView(parsed(SCHEDULED)).lines[0];
    expect(chosen?.plugins[0]).toEqual({ plugin: "TaintToleration", score: 100, weight: 3, weighted: 300 });
    expect(chosen?.plugins.map((p) => p.plugin).slice(1, 3)).toEqual(["NodeResourcesBalancedAllocation", "NodeResourcesFit"]);
    expect(chosen?.plugins.reduce((sum, p) => sum + p.weighted, 0)).toBe(chosen?.total);
    // The record leaves out plugins that gave 0; the view still lists every plugin.
    expect(chosen?.plugins.slice(3).map((p) => [p.plugin, p.score])).toEqual([
      ["InterPodAffinity", 0],
      ["NodeAffinity", 0],
      ["PodTopologySpread", 0],
    ]);
  });

  it("says why a pod is pending and which nodes each reason rejected", () => {
    const view = decisionView(parsed(PENDING));
    expect(view.pending).toBe(true);
    expect(view.headline).toMatch(/^Pending: 0\/3 nodes are available: 1 node\(s\) had untolerated taint/);
    expect(view.lines.map((l) => `${l.node}: ${l.text}`)).toEqual([
      "kubarium-control-plane: rejected by TaintToleration: node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
      "kubarium-worker: rejected by NodeResourcesFit: Insufficient cpu",
      "kubarium-worker2: rejected by NodeResourcesFit: Insufficient cpu",
    ]);
    expect(view.reasons.map((r) => [r.plugin, r.count, r.nodes, r.more])).toEqual([
      ["NodeResourcesFit", 2, ["kubarium-worker", "kubarium-worker2"], 0],
      ["TaintToleration", 1, ["kubarium-control-plane"], 0],
    ]);
  });

  it("joins one node's reasons from the same plugin on one line", () => {
    const view = decisionView({
      node: null,
      nodes: 1,
      evaluated: 1,
      feasible: 0,
      rejected: [
        { plugin: "NodeResourcesFit", reason: "Insufficient cpu", count: 1, nodes: ["w1"] },
        { plugin: "NodeResourcesFit", reason: "Insufficient memory", count: 1, nodes: ["w1"] },
      ],
      scores: [],
      weights: {},
      message: null,
    });
    expect(view.lines).toHaveLength(1);
    expect(view.lines[0]?.text).toBe("rejected by NodeResourcesFit: Insufficient cpu; Insufficient memory");
    expect(view.headline).toBe("Pending: no node fits this pod.");
  });

  it("says when the best score was a tie broken at random", () => {
    const base = parsed(SCHEDULED);
    const [first, second] = base.scores;
    if (!first || !second) throw new Error("fixture has two scored nodes");
    const view = decisionView({ ...base, scores: [first, { ...second, total: first.total }] });
    expect(view.lines.map((l) => l.text).slice(0, 2)).toEqual([
      "chosen · score 474, tied with 1 other node; the scheduler picks one of the best at random",
      "feasible · score 474, as high as the chosen node (the tie was broken at random)",
    ]);
  });

  it("explains a lone feasible node and what a large cluster's record leaves out", () => {
    const lone = decisionView({ ...parsed(SCHEDULED), node: "w1", feasible: 1, scores: [], weights: {} });
    expect(lone.lines[0]?.text).toBe("chosen · the only node that passed every filter, so nothing was scored");
    const big = decisionView({
      ...parsed(SCHEDULED),
      nodes: 1000,
      evaluated: 120,
      feasible: 100,
      rejected: [{ plugin: "NodeResourcesFit", reason: "Insufficient cpu", count: 20, nodes: ["a", "b"] }],
    });
    expect(big.reasons[0]?.more).toBe(18);
    expect(big.note).toContain("98 more feasible nodes scored lower and are not listed.");
    expect(big.note).toContain("names at most 10 nodes");
    expect(big.note).toContain("stopped after checking 120 nodes of 1000");
  });
});

describe("placementOf", () => {
  it("explains from the annotation", () => {
    const placement = placementOf(pod({ [DECISION_ANNOTATION]: SCHEDULED }, { nodeName: "kubarium-worker2" }), true);
    expect(placement.kind).toBe("decision");
  });

  it("says so when the annotation was tampered with", () => {
    const placement = placementOf(pod({ [DECISION_ANNOTATION]: "{oops" }), true);
    expect(placement).toMatchObject({ kind: "none", text: expect.stringContaining("not a decision the scheduler wrote") as unknown });
  });

  it("tells a pod placed by spec.nodeName from one another scheduler placed", () => {
    expect(placementOf(pod({}, { nodeName: "w1" }), true)).toMatchObject({ text: expect.stringContaining("spec.nodeName was set") as unknown });
    expect(placementOf(pod({}, { nodeName: "w1", schedulerName: "my-scheduler" }), true)).toMatchObject({
      text: expect.stringContaining('placed by the scheduler "my-scheduler"') as unknown,
    });
    expect(placementOf(pod({}, { schedulerName: "my-scheduler" }), true)).toMatchObject({
      text: expect.stringContaining('Waits for the scheduler "my-scheduler"') as unknown,
    });
  });

  it("waits for the scheduler, quoting the PodScheduled condition", () => {
    const status = { conditions: [{ type: "PodScheduled", status: "False", message: "0/1 nodes are available" }] };
    expect(placementOf(pod({}, {}, status), true)).toMatchObject({ text: expect.stringContaining("PodScheduled: 0/1 nodes are available") as unknown });
  });

  it("says a remote cluster's scheduler keeps no record", () => {
    expect(placementOf(pod({}, { nodeName: "ip-10-0-0-1" }), false)).toMatchObject({
      text: expect.stringContaining("Runs on ip-10-0-0-1. This cluster's scheduler does not record") as unknown,
    });
  });
});
