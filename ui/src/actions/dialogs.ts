// Pure logic behind the action dialogs: cascade choices, replica input, the revision an undo
// picks by default, what a drain will evict, and how its outcome reads.
import type { DrainOutcome, Propagation, Revision } from "../ipc/actions";
import type { Row } from "../ipc/resources";
import type { Action, ActionId } from "./catalogue";

/** Actions with a dialog of their own (options, a list to review, a number to type). */
const WITH_DIALOG: ReadonlySet<ActionId> = new Set<ActionId>(["delete", "scale", "undo", "drain"]);

/**
 * What choosing `id` in the menu does: open its own dialog, ask the catalogue action's
 * question first, or run at once. `action` is the catalogue's entry, if it has one.
 */
export function opening(id: ActionId, action: Action | undefined): "dialog" | "confirm" | "run" {
  if (WITH_DIALOG.has(id) || action === undefined) return "dialog";
  return action.confirm === undefined ? "run" : "confirm";
}

/** The cascade choices of a delete, the default first, each explained in one line. */
export const CASCADES: readonly { value: Propagation; label: string; explanation: string }[] = [
  {
    value: "background",
    label: "Background",
    explanation: "Deletes it now; the objects it owns (ReplicaSets, pods) are deleted right after.",
  },
  {
    value: "foreground",
    label: "Foreground",
    explanation: "Deletes the objects it owns first; it stays, marked for deletion, until they are gone.",
  },
  {
    value: "orphan",
    label: "Orphan",
    explanation: "Deletes only it; the objects it owns keep running, with no owner.",
  },
];

/** Replicas typed by the user, or why they are not a count. */
export function parseReplicas(text: string): { ok: true; replicas: number } | { ok: false; message: string } {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) {
    return { ok: false, message: "Replicas must be a whole number, 0 or more." };
  }
  const replicas = Number(trimmed);
  if (replicas > 10000) {
    return { ok: false, message: "That is more than 10,000 replicas; give a smaller number." };
  }
  return { ok: true, replicas };
}

/** The revision `kubectl rollout undo` picks without `--to-revision`: the second-newest. */
export function previousRevision(revisions: readonly Revision[]): number | null {
  const numbers = revisions.map((r) => r.revision).sort((a, b) => b - a);
  return numbers[1] ?? null;
}

/** One revision in a line: its number, images and change-cause. */
export function describeRevision(revision: Revision): string {
  const images = revision.images.length > 0 ? revision.images.join(", ") : "no images";
  const cause = revision.changeCause ?? "no change-cause recorded";
  return `#${String(revision.revision)} — ${images} — ${cause}${revision.current ? " (current)" : ""}`;
}

/** What draining `node` will do to each pod on it, as the backend decides it. */
export interface DrainPlan {
  evict: Row[];
  skip: { row: Row; reason: string }[];
}

/** The pods on `node` split into those a drain evicts and those it leaves. */
export function drainPlan(pods: readonly Row[], node: string): DrainPlan {
  const plan: DrainPlan = { evict: [], skip: [] };
  const onNode = pods
    .filter((p) => p.summary.kind === "pod" && p.summary.node === node)
    .sort((a, b) => `${a.namespace ?? ""}/${a.name}`.localeCompare(`${b.namespace ?? ""}/${b.name}`));
  for (const pod of onNode) {
    const daemonSet = pod.owners.find((o) => o.controller && o.kind === "DaemonSet");
    if (daemonSet) {
      plan.skip.push({ row: pod, reason: `DaemonSet ${daemonSet.name} runs it on every node` });
    } else if (pod.deleting) {
      plan.skip.push({ row: pod, reason: "already being deleted" });
    } else {
      plan.evict.push(pod);
    }
  }
  return plan;
}

/** How long a drain waits before it tries pods a PodDisruptionBudget blocked again (kubectl's 5 s). */
export const DRAIN_RETRY_MS = 5000;

/** Whether a PodDisruptionBudget blocked any pod of `outcome` (so a drain tries again, as kubectl's does). */
export function drainBlocked(outcome: DrainOutcome): boolean {
  return outcome.pods.some((p) => p.result === "blocked");
}

/**
 * The outcome of a drain tried again: pods evicted by an earlier try stay evicted (they are
 * now terminating or gone, which the new try reports as skipped or not at all).
 */
export function mergeDrain(previous: DrainOutcome, next: DrainOutcome): DrainOutcome {
  const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;
  const evicted = new Map(previous.pods.filter((p) => p.result === "evicted").map((p) => [key(p), p]));
  const pods = next.pods.map((p) => evicted.get(key(p)) ?? p);
  const seen = new Set(pods.map(key));
  for (const p of evicted.values()) if (!seen.has(key(p))) pods.push(p);
  pods.sort((a, b) => key(a).localeCompare(key(b)));
  return { node: next.node, pods };
}

/** A drain's outcome in one sentence; `retrying` when blocked pods are tried again by itself. */
export function drainSummary(outcome: DrainOutcome, retrying = false): string {
  const count = (result: string) => outcome.pods.filter((p) => p.result === result).length;
  const parts = [
    `${String(count("evicted"))} evicted`,
    `${String(count("skipped"))} skipped`,
  ];
  const blocked = count("blocked");
  const failed = count("failed");
  if (blocked > 0) parts.push(`${String(blocked)} blocked by a PodDisruptionBudget`);
  if (failed > 0) parts.push(`${String(failed)} failed`);
  let trouble = blocked + failed > 0 ? " Drain again to retry the pods left." : "";
  if (retrying && blocked > 0) {
    trouble = ` Trying the blocked pods again every ${String(DRAIN_RETRY_MS / 1000)} s until their budget allows it; stop to leave them.`;
  }
  return `Node ${outcome.node} is cordoned: ${parts.join(", ")}.${trouble}`;
}
