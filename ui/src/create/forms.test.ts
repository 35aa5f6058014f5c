// Forms → objects, and the templates' shape.
import { describe, expect, it } from "vitest";
import { splitDocuments } from "../yaml/paths";
import { withNamespace } from "../yaml/useApply";
import { configMapObject, deploymentObject, objectToYaml, secretObject, serviceObject } from "./forms";
import { TEMPLATES, templateFor } from "./templates";

describe("forms", () => {
  it("makes a Deployment whose selector matches its pods", () => {
    const object = deploymentObject({
      name: "web",
      image: "kubarium.dev/demo:v1",
      replicas: 3,
      port: 8080,
      env: [
        { key: "MODE", value: "fast" },
        { key: " ", value: "ignored" },
      ],
    });
    expect(object).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", labels: { app: "web" } },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "web", image: "kubarium.dev/demo:v1", ports: [{ containerPort: 8080 }], env: [{ name: "MODE", value: "fast" }] }] },
        },
      },
    });
    const bare = deploymentObject({ name: "w", image: "i", replicas: 1, port: null, env: [] });
    expect(JSON.stringify(bare)).not.toContain("ports");
  });
  it("sends a Service's numeric target port as a number and a named one as a name", () => {
    const base = { name: "web", selector: [{ key: "app", value: "web" }], port: 80, type: "NodePort" as const };
    expect(serviceObject({ ...base, targetPort: "8080" })["spec"]).toEqual({ type: "NodePort", selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] });
    expect(serviceObject({ ...base, targetPort: "http" })["spec"]).toMatchObject({ ports: [{ port: 80, targetPort: "http" }] });
    expect(serviceObject({ ...base, targetPort: "" })["spec"]).toMatchObject({ ports: [{ port: 80, targetPort: 80 }] });
  });
  it("makes ConfigMaps and Secrets from rows", () => {
    const entries = [
      { key: "a", value: "1" },
      { key: "", value: "" },
    ];
    expect(configMapObject({ name: "c", entries })["data"]).toEqual({ a: "1" });
    expect(secretObject({ name: "s", type: "", entries })).toEqual({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, type: "Opaque", stringData: { a: "1" } });
  });
  it("round-trips through the editor's YAML", () => {
    const object = configMapObject({ name: "c", entries: [{ key: "k", value: "multi\nline" }] });
    expect(splitDocuments(objectToYaml(object))[0]?.object).toEqual(object);
  });
  it("fills a namespace only where a document names none", () => {
    const objects = [{ kind: "A", metadata: { name: "a" } }, { kind: "B", metadata: { name: "b", namespace: "kept" } }, { kind: "C" }];
    expect(withNamespace(objects, "team").map((o) => (o["metadata"] as { namespace?: string }).namespace)).toEqual(["team", "kept", "team"]);
  });
});

describe("templates", () => {
  it("has one valid template per core kind, each naming its kind", () => {
    expect(TEMPLATES).toHaveLength(12);
    for (const template of TEMPLATES) {
      const docs = splitDocuments(template.text);
      expect(docs.every((d) => d.problems.length === 0), template.id).toBe(true);
      expect(docs.map((d) => d.object?.["kind"]), template.id).toContain(template.kind);
      expect(template.id).toBe(template.kind.toLowerCase());
      expect(template.text).not.toMatch(/image: (?!kubarium\.dev\/)/);
    }
  });
  it("finds a template by kind in any case", () => {
    expect(templateFor("Secret")).toContain("kind: Secret");
    expect(templateFor("unknown")).toContain("kind: Deployment");
  });
});

describe("objectToYaml", () => {
  it("writes shared objects out in full, without YAML anchors", () => {
    const text = objectToYaml(deploymentObject({ name: "web", image: "i", replicas: 1, port: null, env: [] }));
    expect(text).not.toMatch(/[&*]a\d/);
    expect(text.match(/app: web/g)).toHaveLength(3);
  });
});
