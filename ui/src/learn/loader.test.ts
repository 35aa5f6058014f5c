// The lesson loader: a minimal lesson reads into the model, each kind of mistake is named
// with its file, step and field, and every bundled lesson file loads.
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { LESSON_FILES } from "./bundled";
import { EXAMPLE } from "./fixture";
import { LessonError, fileId, loadLessons, parseLesson } from "./loader";

/** The example with `change` applied to its parsed form. */
function variant(change: (lesson: Record<string, unknown>) => void): string {
  const lesson = parse(EXAMPLE) as Record<string, unknown>;
  change(lesson);
  return stringify(lesson);
}

function steps(lesson: Record<string, unknown>): Record<string, unknown>[] {
  return lesson["steps"] as Record<string, unknown>[];
}

function problemsOf(source: string, file = "01-example.yaml"): string[] {
  try {
    parseLesson(file, source);
  } catch (e: unknown) {
    if (e instanceof LessonError) return [...e.problems];
    throw e;
  }
  return [];
}

describe("parseLesson", () => {
  it("reads the example into the model", () => {
    const lesson = parseLesson("01-example.yaml", EXAMPLE);
    expect(lesson.id).toBe("example");
    expect(lesson.minutes).toBe(3);
    expect(lesson.steps.map((s) => s.id)).toEqual(["run", "move"]);
    const [run, move] = lesson.steps;
    expect(run?.way).toBe("yaml");
    expect(run?.checks.map((c) => c.type)).toEqual(["object", "count"]);
    expect(run?.show.map((w) => w.type)).toEqual(["pods", "file"]);
    expect(run?.showMe.map((a) => a.type)).toEqual(["apply", "wait"]);
    expect(move?.capture).toEqual([
      { type: "from", name: "node", ref: { kind: "Pod", name: "web" }, path: "spec.nodeName" },
      { type: "exec", name: "data", exec: { pod: "web", command: ["cat", "/etc/hostname"] } },
    ]);
    expect(move?.checks.map((c) => c.type)).toEqual(["changed", "object", "exec", "ingress", "object"]);
    expect(move?.showMe.map((a) => a.type)).toEqual(["nodeStop", "nodeStart", "nodeAdd", "nodeRemove", "delete", "scale", "rolloutUndo", "exec"]);
    expect(move?.show[3]).toEqual({ type: "probe", label: "Open blue", browser: true, ingress: { host: "blue.localhost", path: "/api" } });
  });

  it("names the file, step and field of an unknown key", () => {
    const source = variant((l) => {
      (steps(l)[1] as Record<string, unknown>)["colour"] = "red";
    });
    expect(problemsOf(source)).toEqual(["step move.colour: unknown field (expected one of id, title, text, way, yaml, command, highlight, hint, capture, show, checks, showMe)"]);
    expect(() => parseLesson("01-example.yaml", source)).toThrow(/^01-example\.yaml: step move\.colour/);
  });

  it("reports missing fields", () => {
    const source = variant((l) => {
      delete l["summary"];
      delete (steps(l)[0] as Record<string, unknown>)["yaml"];
    });
    expect(problemsOf(source)).toEqual(["lesson.summary: is missing", "step run.yaml: is missing"]);
  });

  it("reports unknown ops, actions, ways and widgets", () => {
    const source = variant((l) => {
      const run = steps(l)[0] as Record<string, unknown>;
      run["way"] = "magic";
      (run["checks"] as Record<string, unknown>[])[1] = { ...(run["checks"] as Record<string, unknown>[])[1], op: "=~" };
      (run["showMe"] as unknown[]).push({ reboot: { name: "x" } });
      (run["show"] as unknown[]).push({ chart: {} });
    });
    const problems = problemsOf(source);
    expect(problems).toContain('step run.way: unknown way "magic" (expected one of ui, yaml, terminal, watch)');
    expect(problems).toContain('step run.checks[1].op: unknown op "=~" (expected one of == != >= <= > < exists absent contains matches)');
    expect(problems.some((p) => p.startsWith("step run.showMe[2].reboot: unknown field"))).toBe(true);
    expect(problems.some((p) => p.startsWith("step run.show[2].chart: unknown field"))).toBe(true);
  });

  it("reports references to variables nobody captured (or captured later)", () => {
    const source = variant((l) => {
      (steps(l)[0] as Record<string, unknown>)["text"] = "Look at ${node} and ${nobody}.";
    });
    expect(problemsOf(source)).toEqual([
      "step run.text: ${node} is not captured by this or an earlier step",
      "step run.text: ${nobody} is not captured by this or an earlier step",
    ]);
  });

  it("reports bad paths, regular expressions, YAML and checks with two shapes", () => {
    const source = variant((l) => {
      const move = steps(l)[1] as Record<string, unknown>;
      const checks = move["checks"] as Record<string, unknown>[];
      checks[0] = { label: "x", changed: { kind: "Pod", name: "web", path: "metadata..uid" } };
      checks[2] = { label: "y", exec: { pod: "web", command: ["cat"] }, output: { matches: "(" } };
      checks[4] = { label: "z", object: { kind: "Pod", name: "a" }, count: { kind: "Pod" } };
      (move["showMe"] as unknown[]).push({ apply: "kind: [" });
    });
    const problems = problemsOf(source);
    expect(problems.some((p) => p.startsWith('step move.checks[0].changed.path: path "metadata..uid" has an empty key'))).toBe(true);
    expect(problems).toContain('step move.checks[2].output.matches: "(" is not a valid regular expression');
    expect(problems).toContain("step move.checks[4]: needs exactly one of object, count, changed, exec, ingress (has object, count)");
    expect(problems.some((p) => p.startsWith("step move.showMe[8].apply: is not valid YAML"))).toBe(true);
  });

  it("reports duplicate step ids, an id unlike the file name and empty checks", () => {
    const source = variant((l) => {
      (steps(l)[1] as Record<string, unknown>)["id"] = "run";
      (steps(l)[1] as Record<string, unknown>)["checks"] = [];
    });
    const problems = problemsOf(source, "03-other.yaml");
    expect(problems).toContain('lesson.id: "example" differs from the file name\'s id "other"');
    expect(problems).toContain("step run.id: is used by an earlier step too");
    expect(problems).toContain("step run.checks: needs at least one check (the step could never be done)");
  });

  it("says when the text is not YAML at all", () => {
    expect(problemsOf("id: [")[0]).toMatch(/^not valid YAML/);
  });
});

describe("loadLessons", () => {
  it("orders by file name, skips the tour and keeps failures apart", () => {
    const { lessons, errors } = loadLessons({
      "x/02-example.yaml": EXAMPLE,
      "x/00-tour.yaml": "id: tour\nstops: []\n",
      "x/01-broken.yaml": "id: broken\n",
    });
    expect(lessons.map((l) => l.id)).toEqual(["example"]);
    expect(errors.map((e) => e.file)).toEqual(["01-broken.yaml"]);
    expect(fileId("assets/lessons/07-ingress.yaml")).toBe("ingress");
  });
});

describe("bundled lessons", () => {
  // Tolerates an empty folder (the lessons land apart); once there, every file must load.
  it("all load without problems", () => {
    const { lessons, errors } = loadLessons(LESSON_FILES);
    expect(errors.map((e) => e.message)).toEqual([]);
    const files = Object.keys(LESSON_FILES).filter((f) => !f.endsWith("00-tour.yaml"));
    expect(lessons).toHaveLength(files.length);
  });
});
