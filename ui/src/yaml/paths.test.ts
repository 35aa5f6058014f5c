// Field paths → YAML positions, and multi-document splitting.
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { parseFieldPath, placeCauses, spanOfPath, splitDocuments } from "./paths";

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app.kubernetes.io/name: web
spec:
  replicas: -1
  template:
    spec:
      containers:
      - name: web
        image: ""
      - name: sidecar
        image: kubarium.dev/demo:v1
`;

function textAt(text: string, span: { from: number; to: number } | null): string | null {
  return span ? text.slice(span.from, span.to) : null;
}

describe("parseFieldPath", () => {
  it("splits keys and indices", () => {
    expect(parseFieldPath("spec.template.spec.containers[0].image")).toEqual([
      "spec",
      "template",
      "spec",
      "containers",
      0,
      "image",
    ]);
  });
  it("keeps bracketed map keys whole and drops a leading dot", () => {
    expect(parseFieldPath(".metadata.labels[app.kubernetes.io/name]")).toEqual([
      "metadata",
      "labels",
      "app.kubernetes.io/name",
    ]);
  });
  it("reads an empty path as the document", () => {
    expect(parseFieldPath("")).toEqual([]);
  });
});

describe("spanOfPath", () => {
  const doc = parseDocument(DEPLOYMENT);
  it("finds a scalar field's key and value", () => {
    const span = spanOfPath(doc, parseFieldPath("spec.replicas"));
    expect(textAt(DEPLOYMENT, span)).toBe("replicas: -1");
    expect(span?.exact).toBe(true);
  });
  it("finds fields inside list items", () => {
    expect(textAt(DEPLOYMENT, spanOfPath(doc, parseFieldPath("spec.template.spec.containers[0].image")))).toBe(
      'image: ""',
    );
    expect(textAt(DEPLOYMENT, spanOfPath(doc, parseFieldPath("spec.template.spec.containers[1].image")))).toBe(
      "image: kubarium.dev/demo:v1",
    );
  });
  it("underlines a collection by its key, not the whole block", () => {
    expect(textAt(DEPLOYMENT, spanOfPath(doc, parseFieldPath("spec.template")))).toBe("template");
    expect(textAt(DEPLOYMENT, spanOfPath(doc, parseFieldPath("spec.template.spec.containers[1]")))).toBe("name");
  });
  it("finds a map key with dots and slashes", () => {
    expect(textAt(DEPLOYMENT, spanOfPath(doc, parseFieldPath("metadata.labels[app.kubernetes.io/name]")))).toBe(
      "app.kubernetes.io/name: web",
    );
  });
  it("falls back to the nearest ancestor for a missing field", () => {
    const span = spanOfPath(doc, parseFieldPath("spec.selector.matchLabels"));
    expect(textAt(DEPLOYMENT, span)).toBe("spec");
    expect(span?.exact).toBe(false);
    const item = spanOfPath(doc, parseFieldPath("spec.template.spec.containers[5].image"));
    expect(textAt(DEPLOYMENT, item)).toBe("containers");
    expect(item?.exact).toBe(false);
  });
});

describe("placeCauses", () => {
  it("places each cause at its field, naming the field", () => {
    const doc = parseDocument(DEPLOYMENT);
    const [replicas, nameless] = placeCauses(doc, [
      { field: "spec.replicas", message: "Invalid value: -1: must be greater than or equal to 0" },
      { field: "", message: "something about the whole object" },
    ]);
    expect(textAt(DEPLOYMENT, replicas ?? null)).toBe("replicas: -1");
    expect(replicas?.field).toBe("spec.replicas");
    expect(replicas?.message).toContain("spec.replicas: Invalid value");
    expect(nameless?.field).toBeNull();
    expect(nameless?.from).toBe(0);
  });
});

describe("splitDocuments", () => {
  it("splits at --- and skips empty documents", () => {
    const text = "a: 1\n---\n# only a comment\n---\nkind: B\n---\n";
    const docs = splitDocuments(text);
    expect(docs.map((d) => d.object)).toEqual([{ a: 1 }, { kind: "B" }]);
  });
  it("keeps positions across documents so causes land in the right one", () => {
    const text = "kind: A\n---\nkind: B\nspec:\n  replicas: x\n";
    const second = splitDocuments(text)[1];
    expect(second).toBeDefined();
    if (!second) return;
    const [problem] = placeCauses(second.doc, [{ field: "spec.replicas", message: "bad" }]);
    expect(textAt(text, problem ?? null)).toBe("replicas: x");
  });
  it("reports syntax errors at their position and gives no object", () => {
    const text = "kind: A\nmetadata:\n  name: [unclosed\n";
    const [doc] = splitDocuments(text);
    expect(doc?.object).toBeNull();
    expect(doc?.problems.length).toBeGreaterThan(0);
    const problem = doc?.problems[0];
    expect(problem?.severity).toBe("error");
    expect(problem?.from).toBeGreaterThanOrEqual(text.indexOf("["));
  });
  it("refuses a document that is not a mapping", () => {
    const [doc] = splitDocuments("- just\n- a list\n");
    expect(doc?.object).toBeNull();
    expect(doc?.problems[0]?.message).toContain("not a mapping");
  });
});
