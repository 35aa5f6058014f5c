// "Why is this pod here, or why is it pending?": the scheduler's decision record (the pod
// annotation `scheduler.kubarium.dev/decision`, written by crates/kubarium-controllers
// scheduler/decision.rs) read defensively and turned into a per-node table. Pure, for tests;
// OverviewTab's SchedulingDecision only draws it.
import { listAt, recordAt, textAt, type KubeObject } from "./describe";

/** The annotation Kubarium's scheduler records its decision in. */
export const DECISION_ANNOTATION = "scheduler.kubarium.dev/decision";
/** The scheduler that writes it (pods asking for another one get no record). */
const DEFAULT_SCHEDULER = "default-scheduler";

/** Nodes one filter plugin rejected for one reason (at most 10 names kept). */
export interface RejectedGroup {
  readonly plugin: string;
  readonly reason: string;
  readonly count: number;
  readonly nodes: readonly string[];
}

/** A feasible node's scores: each plugin's 0–100 score and the weighted total. */
export interface ScoredNode {
  readonly node: string;
  readonly total: number;
  readonly plugins: Readonly<Record<string, number>>;
}

/** The decision record as the scheduler writes it. */
export interface Decision {
  /** The node chosen; `null` while no node fits. */
  readonly node: string | null;
  readonly nodes: number;
  readonly evaluated: number;
  readonly feasible: number;
  readonly rejected: readonly RejectedGroup[];
  /** The best feasible nodes, best first (nothing is scored when only one node fits). */
  readonly scores: readonly ScoredNode[];
  readonly weights: Readonly<Record<string, number>>;
  /** Why the pod is unschedulable (its PodScheduled condition's message). */
  readonly message: string | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function count(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function numbers(value: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!isRecord(value)) return out;
  for (const [key, v] of Object.entries(value)) if (typeof v === "number") out[key] = v;
  return out;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** Parses the annotation's value; `null` when it is not a decision record (malformed or hand-edited). */
export function parseDecision(value: string): Decision | null {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return null;
  }
  if (!isRecord(json)) return null;
  const nodes = count(json["nodes"]);
  const evaluated = count(json["evaluated"]);
  const feasible = count(json["feasible"]);
  if (nodes === null || evaluated === null || feasible === null) return null;
  const rejected = (Array.isArray(json["rejected"]) ? json["rejected"] : []).flatMap((g: unknown): RejectedGroup[] => {
    if (!isRecord(g) || typeof g["plugin"] !== "string" || typeof g["reason"] !== "string") return [];
    const names = strings(g["nodes"]);
    return [{ plugin: g["plugin"], reason: g["reason"], count: count(g["count"]) ?? names.length, nodes: names }];
  });
  const scores = (Array.isArray(json["scores"]) ? json["scores"] : []).flatMap((s: unknown): ScoredNode[] => {
    if (!isRecord(s) || typeof s["node"] !== "string") return [];
    return [{ node: s["node"], total: count(s["total"]) ?? 0, plugins: numbers(s["plugins"]) }];
  });
  return {
    node: typeof json["node"] === "string" ? json["node"] : null,
    nodes,
    evaluated,
    feasible,
    rejected,
    scores,
    weights: numbers(json["weights"]),
    message: typeof json["message"] === "string" ? json["message"] : null,
  };
}

/** One score plugin's part in a node's total. */
export interface PluginScore {
  readonly plugin: string;
  /** 0–100, before weighting. */
  readonly score: number;
  readonly weight: number;
  readonly weighted: number;
}

/** One node's line in the table. */
export interface NodeLine {
  readonly node: string;
  readonly result: "chosen" | "feasible" | "rejected";
  /** What the result column says, e.g. `chosen · score 474` or `rejected by TaintToleration: …`. */
  readonly text: string;
  /** The weighted total, when the node was scored. */
  readonly total: number | null;
  /** Per-plugin scores, highest weighted first (empty when not scored). */
  readonly plugins: readonly PluginScore[];
}

/** A rejection reason with the nodes it names and how many more it counted. */
export interface RejectedReason extends RejectedGroup {
  /** Nodes rejected for this reason that the record does not name. */
  readonly more: number;
}

/** Everything the "why" section shows. */
export interface DecisionView {
  /** `Scheduled to <node>` or `Pending: <message>`. */
  readonly headline: string;
  readonly pending: boolean;
  /** `3 nodes · 3 evaluated · 2 feasible`, with why fewer were evaluated on large clusters. */
  readonly counts: string;
  readonly lines: readonly NodeLine[];
  readonly reasons: readonly RejectedReason[];
  /** What the table leaves out or why nothing was scored; `null` when it shows every node. */
  readonly note: string | null;
}

/** Every plugin's part in a node's total: the record leaves out plugins that gave 0, `weights` names them all. */
function pluginScores(scored: ScoredNode, weights: Readonly<Record<string, number>>): PluginScore[] {
  return Object.entries({ ...Object.fromEntries(Object.keys(weights).map((plugin) => [plugin, 0])), ...scored.plugins })
    .map(([plugin, score]) => {
      const weight = weights[plugin] ?? 1;
      return { plugin, score, weight, weighted: score * weight };
    })
    .sort((a, b) => b.weighted - a.weighted || a.plugin.localeCompare(b.plugin));
}

const plural = (n: number, one: string, many: string) => `${String(n)} ${n === 1 ? one : many}`;

/** The table and summary for a decision: the chosen node, other scored nodes, then rejected ones. */
export function decisionView(decision: Decision): DecisionView {
  const lines: NodeLine[] = [];
  const seen = new Set<string>();
  const chosen = decision.node;
  const chosenScore = decision.scores.find((s) => s.node === chosen);
  // Equal best totals are a tie the scheduler breaks at random, as upstream does.
  const tied = chosenScore ? decision.scores.filter((s) => s.node !== chosen && s.total === chosenScore.total).length : 0;
  if (chosen !== null) {
    seen.add(chosen);
    lines.push({
      node: chosen,
      result: "chosen",
      text: chosenScore
        ? tied > 0
          ? `chosen · score ${String(chosenScore.total)}, tied with ${plural(tied, "other node", "other nodes")}; the scheduler picks one of the best at random`
          : `chosen · highest score ${String(chosenScore.total)}`
        : decision.feasible <= 1
          ? "chosen · the only node that passed every filter, so nothing was scored"
          : "chosen",
      total: chosenScore?.total ?? null,
      plugins: chosenScore ? pluginScores(chosenScore, decision.weights) : [],
    });
  }
  for (const scored of decision.scores) {
    if (seen.has(scored.node)) continue;
    seen.add(scored.node);
    lines.push({
      node: scored.node,
      result: "feasible",
      text:
        scored.total === chosenScore?.total
          ? `feasible · score ${String(scored.total)}, as high as the chosen node (the tie was broken at random)`
          : `feasible · score ${String(scored.total)}`,
      total: scored.total,
      plugins: pluginScores(scored, decision.weights),
    });
  }
  // A node can fail several checks of one plugin (Insufficient cpu and memory): one line, all reasons.
  const rejections = new Map<string, { plugin: string; reasons: string[] }[]>();
  for (const group of decision.rejected) {
    for (const node of group.nodes) {
      if (seen.has(node)) continue;
      const list = rejections.get(node) ?? [];
      const same = list.find((r) => r.plugin === group.plugin);
      if (same) same.reasons.push(group.reason);
      else list.push({ plugin: group.plugin, reasons: [group.reason] });
      rejections.set(node, list);
    }
  }
  for (const node of [...rejections.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))) {
    const text = (rejections.get(node) ?? []).map((r) => `rejected by ${r.plugin}: ${r.reasons.join("; ")}`).join(" · ");
    lines.push({ node, result: "rejected", text, total: null, plugins: [] });
  }

  const reasons = decision.rejected.map((g) => ({ ...g, more: Math.max(0, g.count - g.nodes.length) }));
  const notes: string[] = [];
  const unnamedFeasible = decision.feasible - lines.filter((l) => l.result !== "rejected").length;
  if (unnamedFeasible > 0) {
    notes.push(`${plural(unnamedFeasible, "more feasible node scored lower and is", "more feasible nodes scored lower and are")} not listed.`);
  }
  const unnamedRejected = reasons.reduce((n, r) => n + r.more, 0);
  if (unnamedRejected > 0) notes.push("Each rejection reason names at most 10 nodes; the counts below include the rest.");
  if (decision.evaluated < decision.nodes && decision.node !== null) {
    notes.push(
      `The scheduler stopped after checking ${plural(decision.evaluated, "node", "nodes")} of ${String(decision.nodes)}: on large clusters it scores a sample once enough nodes fit, as Kubernetes does.`,
    );
  }

  const pending = decision.node === null;
  return {
    headline: pending ? `Pending: ${decision.message ?? "no node fits this pod."}` : `Scheduled to ${decision.node}`,
    pending,
    counts: `${plural(decision.nodes, "node", "nodes")} in the cluster · ${String(decision.evaluated)} evaluated · ${String(decision.feasible)} feasible`,
    lines,
    reasons,
    note: notes.length > 0 ? notes.join(" ") : null,
  };
}

/** What the section shows for a pod: the decision, or why there is none. */
export type Placement =
  | { readonly kind: "decision"; readonly view: DecisionView }
  | { readonly kind: "none"; readonly text: string };

/**
 * Why `pod` is where it is, or pending. `local`: the pod is on Kubarium's own cluster, whose
 * scheduler records its decisions (a remote cluster's kube-scheduler does not).
 */
export function placementOf(pod: KubeObject, local: boolean): Placement {
  const annotation = recordAt(pod, "metadata", "annotations")[DECISION_ANNOTATION];
  const node = textAt(pod, "spec", "nodeName");
  const schedulerName = textAt(pod, "spec", "schedulerName") || DEFAULT_SCHEDULER;
  if (typeof annotation === "string") {
    const decision = parseDecision(annotation);
    if (decision) return { kind: "decision", view: decisionView(decision) };
    return {
      kind: "none",
      text: `The ${DECISION_ANNOTATION} annotation is not a decision the scheduler wrote (it may have been edited), so it cannot be explained here. The PodScheduled condition and the Events tab still tell what happened.`,
    };
  }
  const scheduled = listAt(pod, "status", "conditions").find(
    (c) => textAt(c, "type") === "PodScheduled",
  );
  const condition = scheduled ? textAt(scheduled, "message") : "";
  if (!local) {
    return {
      kind: "none",
      text: node
        ? `Runs on ${node}. This cluster's scheduler does not record why it chose a node; only Kubarium's built-in cluster does. The Events tab shows the Scheduled event.`
        : `Not scheduled yet.${condition ? ` The scheduler says: ${condition}` : ""} This cluster's scheduler does not record more; see the Events tab for FailedScheduling events.`,
    };
  }
  if (schedulerName !== DEFAULT_SCHEDULER) {
    return {
      kind: "none",
      text: node
        ? `Runs on ${node}, placed by the scheduler "${schedulerName}" the pod asks for, not Kubarium's, so there is no decision record.`
        : `Waits for the scheduler "${schedulerName}" (spec.schedulerName). Kubarium's scheduler only places pods asking for ${DEFAULT_SCHEDULER}; run that scheduler or remove spec.schedulerName from the pod's template.`,
    };
  }
  if (node) {
    return {
      kind: "none",
      text: `Runs on ${node} because spec.nodeName was set when the pod was created (or a client bound it directly), so the scheduler never chose a node for it and left no decision record.`,
    };
  }
  return {
    kind: "none",
    text: `The scheduler has not decided about this pod yet; its decision appears here within seconds.${condition ? ` PodScheduled: ${condition}` : ""}`,
  };
}
