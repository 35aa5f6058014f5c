// The Learn section: the list of bundled lessons with each one's progress, and the lesson
// view when one is open (route `{view: "learn", lesson}`).
import { navigate } from "../shell/route";
import { startTour } from "../tour/state";
import { BUNDLED } from "./bundled";
import { LessonView } from "./LessonView";
import { lessonProgress, useProgress } from "./progress";
import "./learn.css";

/** Replays the first-launch tour from the map, where most of its stops are. */
function takeTour(): void {
  navigate({ view: "map" });
  startTour();
}

/** The Learn page: a lesson when one is chosen, else the list. */
export function LearnPage({ lesson }: { lesson?: string }) {
  const chosen = lesson === undefined ? undefined : BUNDLED.lessons.find((l) => l.id === lesson);
  if (chosen) {
    const index = BUNDLED.lessons.indexOf(chosen);
    return <LessonView key={chosen.id} lesson={chosen} next={BUNDLED.lessons[index + 1] ?? null} />;
  }
  return <LessonList missing={lesson} />;
}

function LessonList({ missing }: { missing: string | undefined }) {
  const progress = useProgress();
  return (
    <div className="learn-page">
      <header className="view-header">
        <h1>Learn Kubernetes</h1>
        <span className="muted">Short lessons on the local cluster: read, try it yourself, see the cluster react.</span>
        <button type="button" data-testid="learn-tour" onClick={takeTour}>Take the tour</button>
      </header>
      {missing !== undefined && (
        <div className="error-banner" role="alert">
          There is no lesson “{missing}” in this version of Kubarium; choose one below.
        </div>
      )}
      {BUNDLED.errors.map((error) => (
        <div key={error.file} className="error-banner" role="alert" data-testid="lesson-file-error">
          Lesson file {error.file} could not be read, so it is not listed: {error.problems.join("; ")}
        </div>
      ))}
      {BUNDLED.lessons.length === 0 ? (
        <p className="muted">No lessons are bundled with this build. Lessons live in assets/lessons/*.yaml; rebuild the app after adding some.</p>
      ) : (
        <ol className="learn-list">
          {BUNDLED.lessons.map((lesson) => {
            const p = lessonProgress(progress, lesson.id);
            const done = lesson.steps.filter((s) => p.done.includes(s.id)).length;
            const complete = done === lesson.steps.length;
            return (
              <li key={lesson.id}>
                <button type="button" className={`learn-card${complete ? " complete" : ""}`} data-testid={`lesson-${lesson.id}`} onClick={() => { navigate({ view: "learn", lesson: lesson.id }); }}>
                  <span className="learn-card-title">
                    {lesson.title}
                    {complete && (
                      <span className="learn-tag done" data-testid={`lesson-done-${lesson.id}`}>
                        ✓ Done
                      </span>
                    )}
                  </span>
                  <span className="muted small">{lesson.summary}</span>
                  <span className="muted small">
                    {lesson.minutes} min · {done}/{lesson.steps.length} steps{p.started && !complete ? " · in progress" : ""}
                  </span>
                </button>
              </li>
            );
          })}
        </ol>
      )}
    </div>
  );
}
