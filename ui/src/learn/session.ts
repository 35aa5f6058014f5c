// The cluster side of a lesson in the app: the real `Effects` (IPC on the local cluster),
// starting a lesson (namespace, setup) and resetting it (namespace deleted and waited for,
// added nodes removed, stopped nodes started, progress cleared).
import { addNode, deleteObject, removeNode, rolloutUndo, scale, startNode, stopNode } from "../ipc/actions";
import { applyObjects } from "../ipc/apply";
import { execRun, ingressGet } from "../ipc/learn";
import { getObject, LOCAL, type KindInfo } from "../ipc/resources";
import { evaluate, matchOutput, type Output, type Verdict, type World } from "./checks";
import type { Check, Lesson } from "./lesson";
import { FRESH, updateProgress, withNode, type LessonProgress } from "./progress";
import { applyYaml, errorText, requireApplied, type Effects, type RunContext } from "./runner";

/** Runs an exec or ingress check's command or request once. */
export async function pollOutput(check: Check, namespace: string): Promise<Output> {
  try {
    if (check.type === "exec") {
      const result = await execRun(LOCAL, namespace, check.exec.pod, check.exec.container ?? null, [...check.exec.command]);
      if (result.exitCode !== 0) {
        const said = (result.stderr.trim() || result.stdout.trim() || result.message).split("\n").slice(-2).join(" ");
        return { ok: false, error: `exit code ${result.exitCode === null ? "none" : String(result.exitCode)}: ${said}` };
      }
      return { ok: true, text: result.stdout };
    }
    if (check.type === "ingress") {
      const answer = await ingressGet(check.ingress.host, check.ingress.path);
      if (answer.status < 200 || answer.status > 299) return { ok: false, error: `HTTP ${String(answer.status)}: ${answer.body.slice(0, 200)}` };
      return { ok: true, text: answer.body };
    }
    return { ok: false, error: "not a polled check" };
  } catch (e: unknown) {
    return { ok: false, error: errorText(e) };
  }
}

/** Whether a check holds now: objects from `world()`, commands and requests run once. */
export async function holdsNow(check: Check, world: () => World): Promise<Verdict> {
  if (check.type === "exec" || check.type === "ingress") {
    const output = await pollOutput(check, world().namespace);
    return output.ok ? matchOutput(output.text, check.output) : { held: false, detail: output.error };
  }
  return evaluate(check, world());
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** The local cluster's calls for the runner. */
export function clusterEffects(world: () => World): Effects {
  return {
    applyObjects: (objects) => applyObjects(LOCAL, objects, false),
    deleteObject: (resource, namespace, name, propagation) => deleteObject(LOCAL, resource, namespace, name, propagation),
    scale: (resource, namespace, name, replicas) => scale(LOCAL, resource, namespace, name, replicas),
    rolloutUndo: (resource, namespace, name) => rolloutUndo(LOCAL, resource, namespace, name, null),
    execRun: (namespace, pod, container, command) => execRun(LOCAL, namespace, pod, container, command),
    stopNode: (name) => stopNode(LOCAL, name),
    startNode: (name) => startNode(LOCAL, name),
    addNode: () => addNode(LOCAL),
    removeNode: (name) => removeNode(LOCAL, name),
    holds: (check) => holdsNow(check, world),
    sleep,
    now: () => Date.now(),
  };
}

/** The runner's view of a lesson: kinds, variables and node bookkeeping in its progress. */
export function runContext(lesson: Lesson, kinds: readonly KindInfo[], vars: () => Readonly<Record<string, string>>): RunContext {
  return {
    namespace: lesson.namespace,
    resourceOf: (kind) => {
      const info = kinds.find((k) => k.kind === kind);
      if (!info) throw new Error(`The cluster serves no kind ${kind}; check the lesson file or start the local cluster.`);
      return { resource: info.resource, namespaced: info.namespaced };
    },
    vars,
    setVar: (name, value) => {
      updateProgress(lesson.id, (p) => ({ ...p, vars: { ...p.vars, [name]: value } }));
    },
    nodeAdded: (name, added) => {
      updateProgress(lesson.id, (p) => ({ ...p, addedNodes: withNode(p.addedNodes, name, added) }));
    },
    nodeStopped: (name, stopped) => {
      updateProgress(lesson.id, (p) => ({ ...p, stoppedNodes: withNode(p.stoppedNodes, name, stopped) }));
    },
  };
}

/** Creates the lesson's namespace and applies its setup. */
async function prepare(lesson: Lesson, effects: Effects): Promise<void> {
  requireApplied(await effects.applyObjects([{ apiVersion: "v1", kind: "Namespace", metadata: { name: lesson.namespace, labels: { "kubarium.dev/lesson": lesson.id } } }]));
  if (lesson.setup !== undefined) await applyYaml(effects, lesson.setup.replaceAll("${namespace}", lesson.namespace), lesson.namespace);
}

/** Starts a lesson: namespace, setup, then marks it started. */
export async function startLesson(lesson: Lesson, effects: Effects): Promise<void> {
  await prepare(lesson, effects);
  updateProgress(lesson.id, (p) => ({ ...p, started: true }));
}

/** How long Reset waits for the old namespace to go. */
const NAMESPACE_GONE_MS = 3 * 60 * 1000;

function isNotFound(e: unknown): boolean {
  return typeof e === "object" && e !== null && "code" in e && e.code === "notFound";
}

/**
 * Puts the lesson back at its start: nodes it added are removed and nodes it stopped started,
 * the namespace is deleted and waited for, then created again with the setup.
 */
export async function resetLesson(lesson: Lesson, progress: LessonProgress, effects: Effects): Promise<void> {
  // Not started while the namespace goes: no step is live, so none is marked done by the
  // objects disappearing.
  updateProgress(lesson.id, (p) => ({ ...FRESH, addedNodes: p.addedNodes, stoppedNodes: p.stoppedNodes }));
  for (const node of progress.stoppedNodes) {
    if (!progress.addedNodes.includes(node)) await effects.startNode(node);
    updateProgress(lesson.id, (p) => ({ ...p, stoppedNodes: withNode(p.stoppedNodes, node, false) }));
  }
  for (const node of progress.addedNodes) {
    await effects.removeNode(node);
    updateProgress(lesson.id, (p) => ({ ...p, addedNodes: withNode(p.addedNodes, node, false) }));
  }
  try {
    await effects.deleteObject("namespaces", null, lesson.namespace, "background");
  } catch (e: unknown) {
    if (!isNotFound(e)) throw e;
  }
  const deadline = effects.now() + NAMESPACE_GONE_MS;
  for (;;) {
    try {
      await getObject(LOCAL, "namespaces", null, lesson.namespace);
    } catch (e: unknown) {
      if (isNotFound(e)) break;
      throw e;
    }
    if (effects.now() > deadline) {
      throw new Error(`Namespace ${lesson.namespace} is still being deleted after 3 minutes. Look at what is left in it (Browse, namespace ${lesson.namespace}) and press Reset again.`);
    }
    await effects.sleep(1000);
  }
  if (progress.started) await startLesson(lesson, effects);
}
