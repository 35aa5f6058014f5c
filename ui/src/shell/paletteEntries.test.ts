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

describe("buildEntries with RBAC refusals", () => {
  it("marks a refused object action with the reason instead of hiding it", () => {
    const target = { resource: "deployments", row: row("web", "default") };
    const reason = "RBAC: you may not delete deployments in default. Ask the cluster's administrator for this permission.";
    const entries = buildEntries("prod", KINDS, [], target, () => undefined, new Map([["delete", reason]]));
    const del = entries.find((e) => e.id === "object:default/web:delete");
    expect(del?.refused).toBe(reason);
    expect(del?.detail).toBe(reason);
    const restart = entries.find((e) => e.id === "object:default/web:restart");
    expect(restart?.refused).toBeUndefined();
  });

  it("offers the local cluster's own actions only on the local cluster", () => {
    const remote = buildEntries("prod", KINDS, [], null, () => undefined).map((e) => e.id);
    expect(remote).not.toContain("cluster:add-node");
    const local = buildEntries("local", KINDS, [], null, () => undefined).map((e) => e.id);
    expect(local).toContain("cluster:add-node");
  });
});

describe("buildEntries with other clusters", () => {
  it("offers switching to every cluster but the current one", () => {
    const switched: string[] = [];
    const list = [
      { id: "local", name: "kubarium", local: true },
      { id: "prod", name: "prod", local: false },
    ];
    const entries = buildEntries("prod", KINDS, [], null, () => undefined, new Map(), {
      list,
      onSwitch: (id) => switched.push(id),
    });
    const switches = entries.filter((e) => e.id.startsWith("cluster-switch:"));
    expect(switches.map((e) => e.label)).toEqual(["Switch to kubarium (local)"]);
    void switches[0]?.run();
    expect(switched).toEqual(["local"]);
    expect(rankEntries(entries, "switch")[0]?.id).toBe("cluster-switch:local");
  });
});
