// Tests for what the command palette offers.
import { describe, expect, it } from "vitest";
import type { Action } from "../actions/catalogue";
import type { KindInfo, Row } from "../ipc/resources";
import { rankEntries } from "../state/palette";
import { row as fixtureRow } from "../test/fixtures";
import { actionEntry, buildEntries } from "./paletteEntries";

const kind = (resource: string, k: string, shortNames: string[], namespaced = true): KindInfo => ({
  resource,
  kind: k,
  group: "",
  version: "v1",
  namespaced,
  category: "workloads",
  shortNames,
  columns: [],
});

const row = (name: string, namespace: string | null): Row => fixtureRow(name, { uid: `${namespace ?? ""}/${name}`, namespace });

const KINDS = [kind("pods", "Pod", ["po"]), kind("deployments", "Deployment", ["deploy"]), kind("nodes", "Node", ["no"], false)];

describe("buildEntries", () => {
  const entries = buildEntries(
    "local",
    KINDS,
    [
      { resource: "pods", rows: [row("web-7f9c-abcde", "default")] },
      { resource: "nodes", rows: [row("worker-1", null)] },
    ],
    null,
    () => undefined,
  );

  it("offers every place, the shortcuts, the themes, every kind and every object", () => {
    const ids = entries.map((e) => e.id);
    for (const id of ["place:map", "place:topology", "place:events", "place:create", "place:overview"]) {
      expect(ids).toContain(id);
    }
    expect(ids).toContain("help:shortcuts");
    expect(ids).toContain("theme:dark");
    expect(ids).toContain("kind:pods");
    expect(ids).toContain("kind:nodes");
    expect(entries.find((e) => e.id === "object:pods:default/web-7f9c-abcde")?.detail).toBe("Pod · default");
    expect(entries.find((e) => e.id === "object:nodes:/worker-1")?.detail).toBe("Node");
  });

  it("finds kinds by short name and objects by kind/name", () => {
    expect(rankEntries(entries, "deploy")[0]?.id).toBe("kind:deployments");
    expect(rankEntries(entries, "no")[0]?.id).toBe("kind:nodes");
    expect(rankEntries(entries, "po/web")[0]?.id).toBe("object:pods:default/web-7f9c-abcde");
    expect(rankEntries(entries, "worker")[0]?.id).toBe("object:nodes:/worker-1");
  });
});

describe("actionEntry", () => {
  const run = () => Promise.resolve();
  it("keeps an action's confirmation question", () => {
    const action = { id: "delete", label: "Delete", confirm: "Delete pod web?", run } as Action;
    const entry = actionEntry(action, "pods default/web", "object:1");
    expect(entry.confirm).toBe("Delete pod web?");
    expect(entry.section).toBe("Action");
    expect(entry.run).toBe(run);
  });
  it("runs harmless actions without asking", () => {
    const restart: Action = { id: "restart", label: "Restart", run };
    const entry = actionEntry(restart, "", "x");
    expect(entry.confirm).toBeUndefined();
  });
});
