// The highlight store's matching: kind, namespace, name and labels each narrow the match.
import { describe, expect, it } from "vitest";
import { isHighlighted } from "./highlight";

const pod = { kind: "Pod", namespace: "learn-pods", name: "web", labels: { app: "web" } };

describe("isHighlighted", () => {
  it("matches by kind alone, then narrows by namespace, name and labels", () => {
    expect(isHighlighted([{ kind: "Pod" }], pod)).toBe(true);
    expect(isHighlighted([{ kind: "Node" }], pod)).toBe(false);
    expect(isHighlighted([{ kind: "Pod", namespace: "default" }], pod)).toBe(false);
    expect(isHighlighted([{ kind: "Pod", name: "web" }], pod)).toBe(true);
    expect(isHighlighted([{ kind: "Pod", name: "db" }], pod)).toBe(false);
    expect(isHighlighted([{ kind: "Pod", labels: { app: "web" } }], pod)).toBe(true);
    expect(isHighlighted([{ kind: "Pod", labels: { app: "db" } }], pod)).toBe(false);
  });

  it("treats a cluster-scoped object's missing namespace as empty", () => {
    const node = { kind: "Node", name: "kubarium-worker" };
    expect(isHighlighted([{ kind: "Node", namespace: "" }], node)).toBe(true);
    expect(isHighlighted([], node)).toBe(false);
  });
});
