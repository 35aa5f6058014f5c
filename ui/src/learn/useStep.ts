// The active step, live: its objects watched, captures taken once, `changed` baselines noted
// when it became active, exec/ingress checks polled every 2 s, every check evaluated, and the
// step marked done the moment they all hold.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { KindInfo } from "../ipc/resources";
import { baselineOf, captureFrom, checkKey, evaluate, substituteAll, type ObjectsByKind, type Output, type Verdict, type Vars, type World } from "./checks";
import type { Lesson, Step } from "./lesson";
import { stepRefs, useLiveObjects, watchesFor } from "./objects";
import { updateProgress, withDone } from "./progress";
import { runExec } from "./runner";
import { clusterEffects, pollOutput } from "./session";

const POLL_MS = 2000;

/** Whether a substituted value still names a variable nobody captured yet. */
function unresolved(value: unknown): boolean {
  return JSON.stringify(value).includes("${");
}

export interface StepLive {
  /** The step with the variables known so far substituted. */
  readonly step: Step;
  readonly verdicts: readonly Verdict[];
  readonly objects: ObjectsByKind;
  readonly synced: boolean;
  /** The world the checks see now (for Show me's waits). */
  readonly world: () => World;
  /**
   * Whether the step's objects are in view and its `changed` baselines noted. Show me waits
   * for it: an action taken before would be part of the baseline (a pod deleted and made
   * again before its uid was noted never counts as changed).
   */
  readonly ready: () => boolean;
}

/** Drives the active step of `lesson`; `vars` are the lesson's captured values. */
export function useActiveStep(lesson: Lesson, raw: Step, vars: Vars, kinds: readonly KindInfo[]): StepLive {
  const allVars = useMemo(() => ({ ...vars, namespace: lesson.namespace }), [vars, lesson.namespace]);
  const step = useMemo(() => substituteAll(raw, allVars), [raw, allVars]);
  const clusterScoped = useMemo(() => new Set(kinds.filter((k) => !k.namespaced).map((k) => k.kind)), [kinds]);
  const watches = useMemo(() => watchesFor(stepRefs(step), kinds, lesson.namespace), [step, kinds, lesson.namespace]);
  const { objects, synced } = useLiveObjects(watches);
  const [baseline, setBaseline] = useState<{ step: string; values: Record<string, unknown> } | null>(null);
  const [outputs, setOutputs] = useState<Record<string, Output>>({});

  const world: World = useMemo(
    () => ({ objects, namespace: lesson.namespace, clusterScoped, baseline: baseline?.step === raw.id ? baseline.values : {}, outputs }),
    [objects, lesson.namespace, clusterScoped, baseline, raw.id, outputs],
  );
  const worldRef = useRef(world);
  useEffect(() => {
    worldRef.current = world;
  }, [world]);

  // Baselines of `changed` checks: once, when the step's objects are first in view (set
  // during render, React's way to adjust state to a change of input).
  if (synced && baseline?.step !== raw.id) {
    const values: Record<string, unknown> = {};
    const now: World = { objects, namespace: lesson.namespace, clusterScoped };
    step.checks.forEach((check, i) => {
      if (check.type === "changed" && !unresolved(check)) values[checkKey(raw.id, i)] = baselineOf(check, now);
    });
    setBaseline({ step: raw.id, values });
  }

  // Captures from objects: taken once, as soon as the object is there.
  useEffect(() => {
    if (!synced) return;
    for (const capture of step.capture) {
      if (capture.type !== "from" || vars[capture.name] !== undefined || unresolved(capture.ref)) continue;
      const value = captureFrom(capture.ref, capture.path, world);
      if (value !== undefined) updateProgress(lesson.id, (p) => ({ ...p, vars: { ...p.vars, [capture.name]: value } }));
    }
  }, [synced, step, vars, world, lesson.id]);

  // Captures from commands, and the polled checks: every 2 s while the step is active.
  const polled = useMemo(() => step.checks.map((check, i) => ({ check, key: checkKey(raw.id, i) })).filter(({ check }) => check.type === "exec" || check.type === "ingress"), [step, raw.id]);
  const execCaptures = useMemo(() => step.capture.filter((c) => c.type === "exec" && vars[c.name] === undefined), [step, vars]);
  useEffect(() => {
    if (polled.length === 0 && execCaptures.length === 0) return undefined;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const effects = clusterEffects(() => worldRef.current);
    const round = async (): Promise<void> => {
      for (const capture of execCaptures) {
        if (capture.type !== "exec" || unresolved(capture.exec)) continue;
        try {
          const stdout = await runExec(effects, lesson.namespace, capture.exec);
          if (live) updateProgress(lesson.id, (p) => ({ ...p, vars: { ...p.vars, [capture.name]: stdout.trim() } }));
        } catch {
          // Not yet (the pod is starting): the next round tries again.
        }
      }
      const results = await Promise.all(
        polled.map(async ({ check, key }) => [key, unresolved(check) ? { ok: false as const, error: "waiting for a captured value" } : await pollOutput(check, lesson.namespace)] as const),
      );
      if (!live) return;
      setOutputs((prev) => ({ ...prev, ...Object.fromEntries(results) }));
      timer = setTimeout(() => void round(), POLL_MS);
    };
    void round();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [polled, execCaptures, lesson.namespace, lesson.id]);

  const ready = synced && baseline?.step === raw.id;
  const readyRef = useRef(ready);
  useEffect(() => {
    readyRef.current = ready;
  }, [ready]);
  const verdicts = useMemo(
    () =>
      step.checks.map((check, i) =>
        !ready ? { held: false, detail: "looking at the cluster…" } : unresolved(check) ? { held: false, detail: "waiting for a captured value" } : evaluate(check, world, checkKey(raw.id, i)),
      ),
    [ready, step, world, raw.id],
  );
  const allHeld = verdicts.length > 0 && verdicts.every((v) => v.held);
  useEffect(() => {
    if (allHeld) updateProgress(lesson.id, (p) => withDone(p, raw.id));
  }, [allHeld, lesson.id, raw.id]);

  const current = useCallback(() => worldRef.current, []);
  const isReady = useCallback(() => readyRef.current, []);
  return { step, verdicts, objects, synced, world: current, ready: isReady };
}
