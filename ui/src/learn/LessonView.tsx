// One lesson: explanation and Read more, Start, the steps in order (only the active one is
// live), Reset, the completion banner with the next lesson; beside them the cluster map with
// the active step's objects highlighted, and the kubectl terminal when the lesson uses one.
import { useEffect, useMemo, useRef, useState } from "react";
import { openUrl } from "../ipc/streams";
import { LOCAL } from "../ipc/resources";
import { navigate } from "../shell/route";
import { setCurrentCluster } from "../state/clusters";
import { clearHighlight, setHighlight } from "../state/highlight";
import { reloadKinds, useKinds } from "../state/kinds";
import { useResources } from "../state/resources";
import { ClusterMap } from "../views/ClusterMap";
import { substituteAll } from "./checks";
import type { Lesson } from "./lesson";
import { LearnTerminal } from "./LearnTerminal";
import { LessonText } from "./LessonText";
import { activeStep, FRESH, lessonProgress, progressSnapshot, stepState, updateProgress, useProgress } from "./progress";
import { errorText } from "./runner";
import { clusterEffects, resetLesson, startLesson } from "./session";
import { StepView } from "./StepView";

const NO_WORLD = () => ({ objects: {}, namespace: "", clusterScoped: new Set<string>() });

/** A lesson's page. */
export function LessonView({ lesson, next }: { lesson: Lesson; next: Lesson | null }) {
  const kinds = useKinds();
  const progress = lessonProgress(useProgress(), lesson.id);
  const [busy, setBusy] = useState<"start" | "reset" | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const stepIds = useMemo(() => lesson.steps.map((s) => s.id), [lesson]);
  const active = activeStep(stepIds, progress);
  const complete = progress.started && lesson.steps.every((s) => progress.done.includes(s.id));
  const usesTerminal = lesson.steps.some((s) => s.way === "terminal");
  // Progress outlives the cluster (a cluster reset, another data dir): say when the lesson's
  // namespace is gone, so the learner resets rather than wonders why nothing holds.
  const namespaces = useResources("namespaces", null, LOCAL);
  const namespaceGone = progress.started && busy === null && namespaces.state === "live" && !namespaces.rows.some((r) => r.name === lesson.namespace);
  // Opened on a cluster without the lesson's namespace (a fresh data dir, a reset cluster):
  // the stored progress is another cluster's, so the lesson starts over. Checked once, when
  // the namespaces are first listed, and never after a Start or Reset in this view (whose
  // namespace a list taken just before may not show yet).
  const checked = useRef(false);
  const actedHere = useRef(false);
  useEffect(() => {
    if (checked.current || namespaces.state !== "live") return;
    checked.current = true;
    if (actedHere.current) return;
    const stored = lessonProgress(progressSnapshot(), lesson.id);
    if (stored.started && !namespaces.rows.some((r) => r.name === lesson.namespace)) updateProgress(lesson.id, () => FRESH);
  }, [namespaces, lesson]);

  // The map emphasises what the active step is about.
  const activeHighlight = lesson.steps.find((s) => s.id === active)?.highlight;
  const highlightKey = JSON.stringify(substituteAll(activeHighlight ?? [], { ...progress.vars, namespace: lesson.namespace }));
  useEffect(() => {
    const refs = JSON.parse(highlightKey) as { kind: string; namespace?: string; name?: string; labels?: Record<string, string> }[];
    const loaded = kinds.state === "loaded" ? kinds.kinds : [];
    setHighlight(
      refs.map((ref) => {
        const namespaced = loaded.find((k) => k.kind === ref.kind)?.namespaced ?? ref.kind !== "Node";
        return namespaced && ref.namespace === undefined ? { ...ref, namespace: lesson.namespace } : ref;
      }),
    );
  }, [highlightKey, kinds, lesson.namespace]);
  useEffect(() => clearHighlight, []);

  const start = (): void => {
    actedHere.current = true;
    setBusy("start");
    setError(null);
    setCurrentCluster(LOCAL);
    startLesson(lesson, clusterEffects(NO_WORLD)).then(
      () => { setBusy(null); },
      (e: unknown) => {
        setBusy(null);
        setError(`The lesson could not start: ${errorText(e)}. Is the local cluster running? Start it from the Overview, then press Start again.`);
      },
    );
  };
  const reset = (): void => {
    actedHere.current = true;
    setConfirming(false);
    setBusy("reset");
    setError(null);
    resetLesson(lesson, lessonProgress(progressSnapshot(), lesson.id), clusterEffects(NO_WORLD)).then(
      () => { setBusy(null); },
      (e: unknown) => {
        setBusy(null);
        setError(`Reset did not finish: ${errorText(e)}`);
      },
    );
  };

  return (
    <div className="learn-lesson" data-testid={`lesson-view-${lesson.id}`}>
      <div className="learn-main">
        <header className="view-header">
          <button type="button" className="link" data-testid="learn-back" onClick={() => { navigate({ view: "learn" }); }}>
            ← All lessons
          </button>
          <h1>{lesson.title}</h1>
          <span className="muted">{lesson.minutes} min</span>
        </header>
        <LessonText text={lesson.explanation} />
        <div className="learn-row">
          {lesson.docs !== undefined && (
            <button type="button" data-testid="lesson-docs" onClick={() => { openUrl(lesson.docs ?? "").catch((e: unknown) => { setError(`Could not open the browser: ${errorText(e)}`); }); }}>
              Read more
            </button>
          )}
          {!progress.started && busy !== "reset" && (
            <button type="button" className="primary" data-testid="lesson-start" disabled={busy !== null} onClick={start}>
              {busy === "start" ? "Starting…" : `Start (creates namespace ${lesson.namespace})`}
            </button>
          )}
          {busy === "reset" && <span className="muted">Resetting: deleting namespace {lesson.namespace} and waiting until it is gone…</span>}
          {progress.started &&
            (confirming ? (
              <span className="learn-confirm">
                Delete namespace {lesson.namespace} and everything in it, undo node changes, and start over?
                <button type="button" className="danger" data-testid="lesson-reset-confirm" onClick={reset}>
                  Reset
                </button>
                <button type="button" onClick={() => { setConfirming(false); }}>
                  Cancel
                </button>
              </span>
            ) : (
              <button type="button" data-testid="lesson-reset" disabled={busy !== null} onClick={() => { setConfirming(true); }}>
                {busy === "reset" ? "Resetting…" : "Reset"}
              </button>
            ))}
        </div>
        {namespaceGone && (
          <div className="error-banner" role="status" data-testid="lesson-namespace-gone">
            Namespace {lesson.namespace} is not in the cluster any more (the cluster was reset, or the namespace was deleted). Press Reset to set the lesson up again.
          </div>
        )}
        {error !== null && (
          <div className="error-banner" role="alert" data-testid="lesson-error">
            {error}
          </div>
        )}
        {kinds.state === "loading" && <p className="muted">Loading the cluster's kinds…</p>}
        {kinds.state === "failed" && (
          <div className="error-banner" role="alert">
            The cluster's kinds could not be loaded ({kinds.error.message}); the lesson needs them to watch its objects.{" "}
            <button type="button" onClick={reloadKinds}>
              Try again
            </button>
          </div>
        )}
        {kinds.state === "loaded" && (
          <ol className="learn-steps">
            {lesson.steps.map((step, i) => (
              <StepView key={step.id} lesson={lesson} step={step} index={i} state={stepState(stepIds, progress, step.id)} vars={progress.vars} kinds={kinds.kinds} />
            ))}
          </ol>
        )}
        {complete && (
          <div className="learn-complete" data-testid="lesson-complete" role="status">
            <strong>Lesson complete.</strong> You did every step of {lesson.title}.
            <button type="button" className="primary" data-testid="lesson-next" onClick={() => { navigate(next ? { view: "learn", lesson: next.id } : { view: "learn" }); }}>
              {next ? `Next: ${next.title}` : "Back to all lessons"}
            </button>
          </div>
        )}
      </div>
      <aside className="learn-aside" aria-label="The cluster">
        <div className="learn-map">
          <ClusterMap compact namespace={lesson.namespace} />
        </div>
        {usesTerminal && progress.started && <LearnTerminal namespace={lesson.namespace} />}
      </aside>
    </div>
  );
}
