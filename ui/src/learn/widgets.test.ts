// The widgets' pure parts.
import { describe, expect, it } from "vitest";
import { decodeBase64, hueOf, podChips, rolloutRows, secretKeys } from "./widgets";

describe("widgets", () => {
  it("makes pod chips for matching pods, oldest first", () => {
    const pod = (name: string, created: string, app: string, hash: string) => ({
      metadata: { name, namespace: "learn-x", creationTimestamp: created, labels: { app, "pod-template-hash": hash } },
      spec: { nodeName: "w1" },
      status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }], containerStatuses: [{ restartCount: 1 }, { restartCount: 2 }] },
    });
    const chips = podChips([pod("b", "2026-01-02", "web", "h2"), pod("a", "2026-01-01", "web", "h1"), pod("c", "2026-01-01", "db", "h1")], "learn-x", { app: "web" });
    expect(chips.map((c) => c.name)).toEqual(["a", "b"]);
    expect(chips[0]).toEqual({ name: "a", node: "w1", phase: "Running", ready: true, restarts: 3, template: "h1", deleting: false });
  });

  it("lists a Deployment's ReplicaSets newest first", () => {
    const rs = (name: string, revision: string, image: string, owner: string) => ({
      metadata: { name, namespace: "learn-x", annotations: { "deployment.kubernetes.io/revision": revision }, ownerReferences: [{ kind: "Deployment", name: owner }], labels: { "pod-template-hash": name } },
      spec: { replicas: 3, template: { spec: { containers: [{ image, env: [{ name: "VERSION", value: image.slice(-1) }] }] } } },
      status: { readyReplicas: 2 },
    });
    const rows = rolloutRows([rs("web-1", "1", "demo:1", "web"), rs("web-2", "2", "demo:2", "web"), rs("other", "5", "x", "other")], "learn-x", "web");
    expect(rows.map((r) => [r.name, r.revision, r.version, r.current])).toEqual([
      ["web-2", 2, "2", true],
      ["web-1", 1, "1", false],
    ]);
    expect(rows[0]?.ready).toBe(2);
  });

  it("decodes Secret values and says when they are not text", () => {
    expect(secretKeys({ data: { password: "czNjcjN0", blob: "/w==" } })).toEqual([
      { key: "blob", stored: "/w==", decoded: null },
      { key: "password", stored: "czNjcjN0", decoded: "s3cr3t" },
    ]);
    expect(decodeBase64("not base64!")).toBeNull();
    expect(secretKeys(undefined)).toEqual([]);
  });

  it("gives the same text the same hue", () => {
    expect(hueOf("web-1")).toBe(hueOf("web-1"));
    expect(hueOf("web-1")).not.toBe(hueOf("web-2"));
  });
});
