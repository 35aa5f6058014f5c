// The Learn markup, rendered to HTML without a window (react-dom/server): the test ids the
// desktop e2e drives and what each step state offers. Behaviour is tested in the pure modules.
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it, vi } from "vitest";
import type { KindInfo } from "../ipc/resources";
import { EXAMPLE } from "./fixture";

vi.mock("./bundled", async () => {
  const { loadLessons } = await import("./loader");
  const { EXAMPLE: text } = await import("./fixture");
  return { LESSON_FILES: {}, BUNDLED: loadLessons({ "01-example.yaml": text, "02-broken.yaml": "id: broken\n" }) };
});

const { parseLesson } = await import("./loader");
const { StepView } = await import("./StepView");
const { LearnPage } = await import("./LearnPage");

const KINDS: KindInfo[] = [
  { resource: "pods", kind: "Pod", group: "", version: "v1", namespaced: true, category: "workloads", shortNames: [], columns: [] },
  { resource: "nodes", kind: "Node", group: "", version: "v1", namespaced: false, category: "cluster", shortNames: [], columns: [] },
];

const lesson = parseLesson("01-example.yaml", EXAMPLE);
const [run, move] = lesson.steps;
if (!run || !move) throw new Error("the example lesson has two steps");

describe("StepView", () => {
  it("shows the active yaml step with its editor, checks, hint and Show me", () => {
    const html = renderToStaticMarkup(<StepView lesson={lesson} step={run} index={0} state="active" vars={{}} kinds={KINDS} />);
    expect(html).toContain('data-testid="step-run"');
    expect(html).toContain('data-state="active"');
    expect(html).toContain('data-testid="step-apply-run"');
    expect(html).toContain('data-testid="check-run-0" data-held="false"');
    expect(html).toContain('data-testid="check-run-1"');
    expect(html).toContain('data-testid="step-hint-run"');
    expect(html).toContain('data-testid="step-showme-run"');
    expect(html).toContain('data-testid="widget-run-0"');
    expect(html).toContain("Apply the pod in learn-example.");
  });

  it("offers Type it for a terminal step and substitutes captured values", () => {
    const html = renderToStaticMarkup(<StepView lesson={lesson} step={move} index={1} state="active" vars={{ node: "kubarium-worker" }} kinds={KINDS} />);
    expect(html).toContain('data-testid="step-type-move"');
    expect(html).toContain("kubectl get pods -o wide");
    expect(html).toContain("The pod runs on kubarium-worker.");
    expect(html).toContain("the node kubarium-worker is NotReady");
    expect(html).toContain('data-testid="widget-move-3-run"');
    expect(html).toContain('data-testid="widget-move-3-open"');
  });

  it("shows a done step's checks as held and a locked step without actions", () => {
    const done = renderToStaticMarkup(<StepView lesson={lesson} step={run} index={0} state="done" vars={{}} kinds={KINDS} />);
    expect(done).toContain('data-state="done"');
    expect(done).toContain('data-testid="check-run-0" data-held="true"');
    expect(done).toContain('data-testid="widget-run-0"');
    expect(done).not.toContain("step-apply-run");
    const locked = renderToStaticMarkup(<StepView lesson={lesson} step={move} index={1} state="locked" vars={{}} kinds={KINDS} />);
    expect(locked).toContain('data-state="locked"');
    expect(locked).toContain('data-testid="check-move-0" data-held="false"');
    expect(locked).not.toContain("step-showme-move");
    expect(locked).not.toContain("step-type-move");
  });
});

describe("LearnPage", () => {
  it("lists the lessons with progress and names a file that failed", () => {
    const html = renderToStaticMarkup(<LearnPage />);
    expect(html).toContain('data-testid="lesson-example"');
    expect(html).toContain("0/2 steps");
    expect(html).not.toContain("lesson-done-example");
    expect(html).toContain('data-testid="lesson-file-error"');
    expect(html).toContain("Lesson file 02-broken.yaml could not be read");
  });
});
