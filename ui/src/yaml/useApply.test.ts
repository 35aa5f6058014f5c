// The server's outcomes placed in a multi-document text.
import { describe, expect, it } from "vitest";
import type { ApplyOutcome } from "../ipc/apply";
import { splitDocuments } from "./paths";
import { outcomeProblems } from "./useApply";

const TEXT = `apiVersion: v1
kind: ConfigMap
metadata:
  name: ok
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: -1
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
`;

function outcome(kind: string, name: string, error: ApplyOutcome["error"]): ApplyOutcome {
  return { kind, name, namespace: "default", result: error ? null : "created", error };
}

describe("outcomeProblems", () => {
  const documents = splitDocuments(TEXT);
  const problems = outcomeProblems(documents, [
    outcome("ConfigMap", "ok", null),
    outcome("Deployment", "web", { code: "invalid", message: "Deployment.apps \"web\" is invalid", causes: [{ field: "spec.replicas", message: "Invalid value: -1" }] }),
    outcome("Widget", "w", { code: "notFound", message: "The cluster has no kind \"Widget\"", causes: [] }),
  ]);
  it("places a cause at its field in its own document, naming the document", () => {
    const [replicas] = problems;
    expect(TEXT.slice(replicas?.from, replicas?.to)).toBe("replicas: -1");
    expect(replicas?.message).toBe("Deployment web: spec.replicas: Invalid value: -1");
    expect(replicas?.field).toBe("spec.replicas");
  });
  it("puts an error without causes at its document's start", () => {
    const widget = problems[1];
    expect(widget?.from).toBe(TEXT.indexOf("apiVersion: example.com"));
    expect(widget?.field).toBeNull();
    expect(widget?.message).toContain("Widget w: The cluster has no kind");
  });
  it("says nothing about documents that applied", () => {
    expect(problems).toHaveLength(2);
  });
});
