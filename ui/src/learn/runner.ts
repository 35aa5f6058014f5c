// "Show me": runs a step's actions in order against the local cluster. The cluster calls come
// in as `Effects` (the real IPC in the app, fakes in tests) so the order, the variables, the
// node bookkeeping and the waits are tested without a cluster.
import type { ApplyOutcome } from "../ipc/apply";
import type { Propagation } from "../ipc/actions";
import type { ExecResult } from "../ipc/learn";
import { substitute, substituteAll, type Verdict, type Vars } from "./checks";
import type { Action, Check, ExecSpec } from "./lesson";
import { parseDocuments } from "./loader";
import { withNamespace } from "../yaml/useApply";

/** The cluster calls actions make (on the local cluster). */
export interface Effects {
  readonly applyObjects: (objects: Record<string, unknown>[]) => Promise<ApplyOutcome[]>;
  readonly deleteObject: (resource: string, namespace: string | null, name: string, propagation: Propagation) => Promise<void>;
  readonly scale: (resource: string, namespace: string, name: string, replicas: number) => Promise<void>;
  readonly rolloutUndo: (resource: string, namespace: string, name: string) => Promise<unknown>;
  readonly execRun: (namespace: string, pod: string, container: string | null, command: string[]) => Promise<ExecResult>;
  readonly stopNode: (name: string) => Promise<void>;
  readonly startNode: (name: string) => Promise<void>;
  readonly addNode: () => Promise<string>;
  readonly removeNode: (name: string) => Promise<void>;
  /** Whether a (substituted) check holds now. */
  readonly holds: (check: Check) => Promise<Verdict>;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

/** What actions need from the lesson and report back to its progress. */
export interface RunContext {
  readonly namespace: string;
  /** The plural resource of a kind and whether it is namespaced; throws for an unknown kind. */
  readonly resourceOf: (kind: string) => { resource: string; namespaced: boolean };
  readonly vars: () => Vars;
  readonly setVar: (name: string, value: string) => void;
  /** A node the lesson added (`added: true`) or removed. */
  readonly nodeAdded: (name: string, added: boolean) => void;
  /** A node the lesson stopped (`stopped: true`) or started. */
  readonly nodeStopped: (name: string, stopped: boolean) => void;
}

/** How long a `wait` waits before giving up. */
export const WAIT_LIMIT_MS = 3 * 60 * 1000;
const WAIT_POLL_MS = 1000;
const READY_POLL_MS = 100;

/** The namespace objects of a kind live in for this lesson (`null` for cluster-scoped kinds). */
function namespaceFor(ctx: RunContext, kind: string, given?: string): string | null {
  return ctx.resourceOf(kind).namespaced ? (given ?? ctx.namespace) : null;
}

/** Throws when any document failed, naming it and the server's reason. */
export function requireApplied(outcomes: readonly ApplyOutcome[]): void {
  const failed = outcomes.filter((o) => o.error !== null);
  if (failed.length === 0) return;
  throw new Error(failed.map((o) => `${[o.kind, o.name].filter((s) => s !== "").join(" ")}: ${o.error?.message ?? "failed"}`).join("; "));
}

/** Applies YAML documents into the lesson's namespace. */
export async function applyYaml(effects: Effects, text: string, namespace: string): Promise<void> {
  const objects = withNamespace(parseDocuments(text), namespace);
  if (objects.length === 0) return;
  requireApplied(await effects.applyObjects(objects));
}

/** Runs a command and fails unless it exits 0; resolves to its stdout. */
export async function runExec(effects: Effects, namespace: string, exec: ExecSpec): Promise<string> {
  const result = await effects.execRun(namespace, exec.pod, exec.container ?? null, [...exec.command]);
  if (result.exitCode !== 0) {
    const said = (result.stderr.trim() || result.stdout.trim() || result.message).split("\n").slice(-3).join(" ");
    throw new Error(`\`${exec.command.join(" ")}\` in ${exec.pod} ended with ${result.exitCode === null ? "no exit code" : `exit code ${String(result.exitCode)}`}: ${said}`);
  }
  return result.stdout;
}

/** Says what an action does, for the list shown while Show me runs. */
export function describeAction(action: Action): string {
  switch (action.type) {
    case "apply": {
      let names: string[];
      try {
        names = parseDocuments(action.yaml).map((d) => {
          const meta = d["metadata"] as Record<string, unknown> | undefined;
          return `${String(d["kind"])} ${typeof meta?.["name"] === "string" ? meta["name"] : ""}`.trim();
        });
      } catch {
        names = ["YAML"];
      }
      return `Apply ${names.join(", ")}`;
    }
    case "delete":
      return `Delete ${action.ref.kind} ${action.ref.name ?? ""}`;
    case "scale":
      return `Scale ${action.ref.kind} ${action.ref.name ?? ""} to ${String(action.replicas)}`;
    case "rolloutUndo":
      return `Undo the rollout of ${action.ref.kind} ${action.ref.name ?? ""}`;
    case "exec":
      return `Run \`${action.exec.command.join(" ")}\` in ${action.exec.pod}`;
    case "nodeStop":
      return `Stop node ${action.name}`;
    case "nodeStart":
      return `Start node ${action.name}`;
    case "nodeAdd":
      return "Add a node";
    case "nodeRemove":
      return `Remove node ${action.name}`;
    case "wait":
      return `Wait until: ${action.check.label}`;
  }
}

/** Runs one action (with `${vars}` substituted now, so earlier actions' names are seen). */
export async function runAction(raw: Action, ctx: RunContext, effects: Effects): Promise<void> {
  const vars = { ...ctx.vars(), namespace: ctx.namespace };
  const action = raw.type === "apply" ? { ...raw, yaml: substitute(raw.yaml, vars) } : substituteAll(raw, vars);
  switch (action.type) {
    case "apply":
      await applyYaml(effects, action.yaml, ctx.namespace);
      return;
    case "delete": {
      const { resource } = ctx.resourceOf(action.ref.kind);
      await effects.deleteObject(resource, namespaceFor(ctx, action.ref.kind, action.ref.namespace), action.ref.name ?? "", "background");
      return;
    }
    case "scale": {
      const { resource } = ctx.resourceOf(action.ref.kind);
      await effects.scale(resource, action.ref.namespace ?? ctx.namespace, action.ref.name ?? "", action.replicas);
      return;
    }
    case "rolloutUndo": {
      const { resource } = ctx.resourceOf(action.ref.kind);
      await effects.rolloutUndo(resource, action.ref.namespace ?? ctx.namespace, action.ref.name ?? "");
      return;
    }
    case "exec":
      await runExec(effects, ctx.namespace, action.exec);
      return;
    case "nodeStop":
      await effects.stopNode(action.name);
      ctx.nodeStopped(action.name, true);
      return;
    case "nodeStart":
      await effects.startNode(action.name);
      ctx.nodeStopped(action.name, false);
      return;
    case "nodeAdd": {
      const name = await effects.addNode();
      ctx.nodeAdded(name, true);
      if (action.as !== undefined) ctx.setVar(action.as, name);
      return;
    }
    case "nodeRemove":
      await effects.removeNode(action.name);
      ctx.nodeAdded(action.name, false);
      ctx.nodeStopped(action.name, false);
      return;
    case "wait": {
      let detail = "";
      await pollUntil(
        async () => {
          const verdict = await effects.holds(action.check);
          detail = verdict.detail;
          return verdict.held;
        },
        WAIT_POLL_MS,
        effects,
        () => new Error(`Waited 3 minutes for "${action.check.label}" and it still does not hold (${detail}). Look at the map and the pod's events for why, then try Show me again.`),
      );
      return;
    }
  }
}

/**
 * Resolves once `ready()` (the active step's objects are in view and its baselines noted),
 * checking every 100 ms; gives up after `WAIT_LIMIT_MS` with what to do.
 */
export async function untilStepReady(ready: () => boolean, effects: Pick<Effects, "sleep" | "now">): Promise<void> {
  await pollUntil(ready, READY_POLL_MS, effects, () => new Error("The step's objects could not be read from the local cluster in 3 minutes. Check that it is running (the status bar), then try Show me again."));
}

/** Asks `done` every `pollMs` until it says yes; throws `timedOut()` after `WAIT_LIMIT_MS`. */
async function pollUntil(done: () => boolean | Promise<boolean>, pollMs: number, effects: Pick<Effects, "sleep" | "now">, timedOut: () => Error): Promise<void> {
  const deadline = effects.now() + WAIT_LIMIT_MS;
  while (!(await done())) {
    if (effects.now() >= deadline) throw timedOut();
    await effects.sleep(pollMs);
  }
}

/** Progress of a Show me run, for the step's list. */
export interface RunReport {
  readonly index: number;
  readonly state: "running" | "done" | "failed";
  readonly error?: string;
}

/**
 * Runs `actions` in order; `report` hears each start, end and failure. Stops at the first
 * failure and rethrows it; `cancelled` stops between actions (the learner left the step).
 */
export async function runActions(
  actions: readonly Action[],
  ctx: RunContext,
  effects: Effects,
  report: (r: RunReport) => void,
  cancelled: () => boolean = () => false,
): Promise<void> {
  for (const [index, action] of actions.entries()) {
    if (cancelled()) return;
    report({ index, state: "running" });
    try {
      await runAction(action, ctx, effects);
    } catch (e: unknown) {
      const error = errorText(e);
      report({ index, state: "failed", error });
      throw new Error(`${describeAction(action)}: ${error}`, { cause: e });
    }
    report({ index, state: "done" });
  }
}

/** The message of whatever was thrown (an `Error`, or an `AppError` from IPC). */
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === "object" && e !== null && "message" in e && typeof e.message === "string") return e.message;
  return String(e);
}
