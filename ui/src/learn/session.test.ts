// Starting and resetting a lesson with fake cluster calls: the namespace and setup, nodes put
// back, the namespace waited for, and progress that is not live while the namespace goes.
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { ApplyOutcome } from "../ipc/apply";

const lookups: string[] = [];
let namespaceLeft = 0;
vi.mock("../ipc/resources", () => ({
  LOCAL: "local",
  getObject: (_cluster: string, resource: string, _namespace: string | null, name: string) => {
    lookups.push(`${resource}/${name}`);
    if (namespaceLeft > 0) {
      namespaceLeft -= 1;
      return Promise.resolve({ metadata: { name } });
    }
    // The backend rejects with an AppError (not an Error), as IPC does.
    return Promise.reject(Object.assign(new Error("not found"), { code: "notFound", causes: [] }));
  },
}));

const { parseLesson } = await import("./loader");
const { EXAMPLE } = await import("./fixture");
const { resetLesson, startLesson } = await import("./session");
const { lessonProgress, progressSnapshot, updateProgress } = await import("./progress");
import type { Effects } from "./runner";

const lesson = parseLesson("01-example.yaml", EXAMPLE);

function namespaceOf(object: Record<string, unknown>): string {
  const ns = (object["metadata"] as Record<string, unknown>)["namespace"];
  return typeof ns === "string" ? ns : "-";
}

function effects(calls: string[], startedSeen: boolean[]): Effects {
  const outcome = (o: Record<string, unknown>): ApplyOutcome => ({ kind: String(o["kind"]), name: "", namespace: null, result: null, error: null });
  return {
    applyObjects: (objects) => {
      calls.push(`apply ${objects.map((o) => `${String(o["kind"])}@${namespaceOf(o)}`).join(",")}`);
      return Promise.resolve(objects.map(outcome));
    },
    deleteObject: (resource, _namespace, name) => {
      calls.push(`delete ${resource}/${name}`);
      startedSeen.push(lessonProgress(progressSnapshot(), "example").started);
      return Promise.resolve();
    },
    scale: () => Promise.resolve(),
    rolloutUndo: () => Promise.resolve(),
    execRun: () => Promise.resolve({ stdout: "", stderr: "", exitCode: 0, message: "" }),
    stopNode: () => Promise.resolve(),
    startNode: (name) => {
      calls.push(`start ${name}`);
      return Promise.resolve();
    },
    addNode: () => Promise.resolve("n"),
    removeNode: (name) => {
      calls.push(`remove ${name}`);
      return Promise.resolve();
    },
    holds: () => Promise.resolve({ held: true, detail: "" }),
    sleep: () => Promise.resolve(),
    now: () => 0,
  };
}

describe("lesson session", () => {
  beforeEach(() => {
    lookups.length = 0;
    updateProgress("example", () => ({ started: false, done: [], vars: {}, addedNodes: [], stoppedNodes: [] }));
  });

  it("starts: namespace first, then the setup in it, then marks started", async () => {
    const calls: string[] = [];
    await startLesson(lesson, effects(calls, []));
    expect(calls).toEqual(["apply Namespace@-", "apply ConfigMap@learn-example"]);
    expect(lessonProgress(progressSnapshot(), "example").started).toBe(true);
  });

  it("resets: nodes put back, namespace deleted and waited for, then started afresh", async () => {
    updateProgress("example", () => ({ started: true, done: ["run"], vars: { node: "w1", added: "w3" }, addedNodes: ["w3"], stoppedNodes: ["w1", "w3"] }));
    namespaceLeft = 2;
    const calls: string[] = [];
    const startedSeen: boolean[] = [];
    await resetLesson(lesson, lessonProgress(progressSnapshot(), "example"), effects(calls, startedSeen));
    expect(calls).toEqual(["start w1", "remove w3", "delete namespaces/learn-example", "apply Namespace@-", "apply ConfigMap@learn-example"]);
    expect(lookups).toEqual(["namespaces/learn-example", "namespaces/learn-example", "namespaces/learn-example"]);
    expect(startedSeen).toEqual([false]);
    expect(lessonProgress(progressSnapshot(), "example")).toEqual({ started: true, done: [], vars: {}, addedNodes: [], stoppedNodes: [] });
  });
});
