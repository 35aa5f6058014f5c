// One step of a lesson: its text, how to do it (YAML editor, terminal command, or the app's own
// views), live widgets and checks while it is active, the hint, and "Show me".
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApplyResults } from "../details/ApplyResults";
import { LOCAL, type KindInfo } from "../ipc/resources";
import { ProblemList } from "../yaml/ProblemList";
import { useApply, withNamespace } from "../yaml/useApply";
import { YamlEditor, type EditorHandle } from "../yaml/YamlEditor";
import { substituteAll, type Verdict, type Vars, type World } from "./checks";
import type { Lesson, Step } from "./lesson";
import { LessonText } from "./LessonText";
import { stepRefs, useLiveObjects, watchesFor } from "./objects";
import { typeIntoTerminal } from "./LearnTerminal";
import { lessonProgress, progressSnapshot } from "./progress";
import { describeAction, errorText, runActions, untilStepReady, type RunReport } from "./runner";
import { clusterEffects, runContext } from "./session";
import { useActiveStep } from "./useStep";
import { StepWidget } from "./Widgets";

export type StepState = "locked" | "active" | "done";

interface Props {
  readonly lesson: Lesson;
  readonly step: Step;
  readonly index: number;
  readonly state: StepState;
  readonly vars: Vars;
  readonly kinds: readonly KindInfo[];
}

/** A step in the lesson's list; the active one is live. */
export function StepView({ lesson, step, index, state, vars, kinds }: Props) {
  const [showHint, setShowHint] = useState(false);
  const [run, setRun] = useState<{ reports: Record<number, RunReport>; running: boolean } | null>(null);
  const [error, setError] = useState<string | null>(null);
  // The active step's world, for Show me's waits; a done step's waits hold (its checks did).
  const world = useRef<(() => World) | null>(null);
  const ready = useRef<(() => boolean) | null>(null);
  const doneRef = useRef(state === "done");
  useEffect(() => {
    doneRef.current = state === "done";
  }, [state]);
  const onWorld = useCallback((get: () => World, isReady: () => boolean) => {
    world.current = get;
    ready.current = isReady;
  }, []);

  const showMe = useCallback(() => {
    setError(null);
    setRun({ reports: {}, running: true });
    const vars = (): Vars => lessonProgress(progressSnapshot(), lesson.id).vars;
    const effects = clusterEffects(() => world.current?.() ?? { objects: {}, namespace: lesson.namespace, clusterScoped: new Set() });
    const holds = effects.holds;
    // First the step's baselines, so the actions count as changes.
    untilStepReady(() => doneRef.current || ready.current?.() === true, effects)
      .then(() =>
        runActions(
          step.showMe,
          runContext(lesson, kinds, vars),
          { ...effects, holds: (check) => (doneRef.current ? Promise.resolve({ held: true, detail: "the step is done" }) : holds(check)) },
          (report) => {
            setRun((r) => ({ running: true, reports: { ...(r?.reports ?? {}), [report.index]: report } }));
          },
        ),
      )
      .then(
      () => {
        setRun((r) => (r ? { ...r, running: false } : r));
      },
      (e: unknown) => {
        setRun((r) => (r ? { ...r, running: false } : r));
        setError(`Show me stopped: ${errorText(e)}`);
      },
    );
  }, [lesson, step, kinds]);

  const shown = state === "active" ? null : substituteAll(step, { ...vars, namespace: lesson.namespace });
  return (
    <li className={`learn-step ${state}`} data-testid={`step-${step.id}`} data-state={state}>
      <header className="learn-step-header">
        <span className="learn-step-number" aria-hidden="true">
          {state === "done" ? "✓" : index + 1}
        </span>
        <h3>{(shown ?? step).title}</h3>
        <span className="muted small">{state === "locked" ? "Later" : state === "done" ? "Done" : "Now"}</span>
      </header>
      {state === "active" ? (
        <ActiveStep lesson={lesson} raw={step} vars={vars} kinds={kinds} onWorld={onWorld} />
      ) : (
        shown && (
          <div className="learn-step-body">
            {state === "done" && <LessonText text={shown.text} />}
            {state === "done" && shown.show.length > 0 && <LiveWidgets lesson={lesson} step={shown} kinds={kinds} />}
            <Checks stepId={step.id} labels={shown.checks.map((c) => c.label)} verdicts={shown.checks.map(() => ({ held: state === "done", detail: state === "done" ? "held" : "not checked yet" }))} />
          </div>
        )
      )}
      {state !== "locked" && (
        <div className="learn-row learn-step-actions">
          {step.hint !== undefined && (
            <button type="button" data-testid={`step-hint-${step.id}`} aria-expanded={showHint} onClick={() => { setShowHint((s) => !s); }}>
              {showHint ? "Hide hint" : "Hint"}
            </button>
          )}
          {step.showMe.length > 0 && (
            <button type="button" data-testid={`step-showme-${step.id}`} disabled={run?.running === true || state === "done"} onClick={showMe}>
              {run?.running === true ? "Showing…" : "Show me"}
            </button>
          )}
        </div>
      )}
      {showHint && step.hint !== undefined && state !== "locked" && (
        <div className="learn-hint" data-testid={`step-hint-text-${step.id}`}>
          <LessonText text={substituteAll(step.hint, { ...vars, namespace: lesson.namespace })} />
        </div>
      )}
      {run && (
        <ol className="learn-run" aria-label="What Show me does">
          {step.showMe.map((action, i) => {
            const report = run.reports[i];
            return (
              <li key={i} className={report?.state ?? "waiting"}>
                {report?.state === "done" ? "✓ " : report?.state === "running" ? "… " : report?.state === "failed" ? "✗ " : ""}
                {describeAction(substituteAll(action, { ...vars, namespace: lesson.namespace }))}
              </li>
            );
          })}
        </ol>
      )}
      {error !== null && (
        <p className="learn-error" role="alert" data-testid={`step-error-${step.id}`}>
          {error}
        </p>
      )}
    </li>
  );
}

function Checks({ stepId, labels, verdicts }: { stepId: string; labels: readonly string[]; verdicts: readonly Verdict[] }) {
  return (
    <ul className="learn-checks" aria-label="Checks">
      {labels.map((label, i) => {
        const held = verdicts[i]?.held === true;
        return (
          <li key={i} className={held ? "held" : "pending"} data-testid={`check-${stepId}-${String(i)}`} data-held={held ? "true" : "false"} title={verdicts[i]?.detail}>
            <span aria-hidden="true">{held ? "✓" : "○"}</span> {label}
          </li>
        );
      })}
    </ul>
  );
}

function ActiveStep({ lesson, raw, vars, kinds, onWorld }: { lesson: Lesson; raw: Step; vars: Vars; kinds: readonly KindInfo[]; onWorld: (get: () => World, ready: () => boolean) => void }) {
  const live = useActiveStep(lesson, raw, vars, kinds);
  useEffect(() => {
    onWorld(live.world, live.ready);
  }, [onWorld, live.world, live.ready]);
  const step = live.step;
  return (
    <div className="learn-step-body">
      <LessonText text={step.text} />
      {step.way === "yaml" && step.yaml !== undefined && <YamlStep lesson={lesson} stepId={step.id} initial={step.yaml} />}
      {step.way === "terminal" && step.command !== undefined && <CommandLine stepId={step.id} command={step.command} />}
      {step.show.map((widget, i) => (
        <StepWidget key={i} widget={widget} objects={live.objects} namespace={lesson.namespace} testId={`widget-${step.id}-${String(i)}`} />
      ))}
      <Checks stepId={step.id} labels={step.checks.map((c) => c.label)} verdicts={live.verdicts} />
    </div>
  );
}

function YamlStep({ lesson, stepId, initial }: { lesson: Lesson; stepId: string; initial: string }) {
  const [text, setText] = useState(initial);
  const editor = useRef<EditorHandle>(null);
  const state = useApply(LOCAL, text, true, { key: lesson.namespace, objects: (objects) => withNamespace(objects, lesson.namespace) });
  return (
    <div className="learn-yaml">
      <div className="learn-yaml-editor">
        <YamlEditor value={text} onChange={setText} problems={state.problems} label={`YAML for step ${stepId}`} ref={editor} />
      </div>
      <ProblemList problems={state.problems} text={text} onSelect={(p) => editor.current?.select(p.from, p.to)} />
      <div className="learn-row">
        <button type="button" className="primary" data-testid={`step-apply-${stepId}`} disabled={!state.sendable || state.busy} onClick={() => void state.apply()}>
          {state.busy ? "Applying…" : `Apply to ${lesson.namespace}`}
        </button>
        <button type="button" onClick={() => { setText(initial); }}>
          Start over
        </button>
      </div>
      {state.error && (
        <p className="learn-error" role="alert">
          Could not apply: {state.error.message}
        </p>
      )}
      {state.result && <ApplyResults dryRun={state.result.dryRun} outcomes={state.result.outcomes} />}
    </div>
  );
}

function CommandLine({ stepId, command }: { stepId: string; command: string }) {
  const [note, setNote] = useState<string | null>(null);
  return (
    <div className="learn-command">
      <code>{command}</code>
      <button
        type="button"
        onClick={() => {
          navigator.clipboard.writeText(command).then(
            () => { setNote("Copied."); },
            () => { setNote("Could not copy; select the command and copy it by hand."); },
          );
        }}
      >
        Copy
      </button>
      <button
        type="button"
        data-testid={`step-type-${stepId}`}
        onClick={() => {
          setNote(typeIntoTerminal(command) ? "Typed into the terminal: press Enter there to run it." : "The terminal is not open yet; it starts with the lesson, below the map.");
        }}
      >
        Type it
      </button>
      {note !== null && <span className="muted small">{note}</span>}
    </div>
  );
}

/** A done step's widgets, kept live: what the learner made stays in view. */
function LiveWidgets({ lesson, step, kinds }: { lesson: Lesson; step: Step; kinds: readonly KindInfo[] }) {
  const watches = useMemo(() => watchesFor(stepRefs({ ...step, checks: [], capture: [], showMe: [] }), kinds, lesson.namespace), [step, kinds, lesson.namespace]);
  const { objects } = useLiveObjects(watches);
  return (
    <>
      {step.show.map((widget, i) => (
        <StepWidget key={i} widget={widget} objects={objects} namespace={lesson.namespace} testId={`widget-${step.id}-${String(i)}`} />
      ))}
    </>
  );
}
