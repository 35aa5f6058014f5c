// The action → access check mapping and the answers' cache (its clock is the test's).
import { describe, expect, it, vi } from "vitest";
import type { AccessCheck } from "../ipc/clusters";
import { AccessCache, actionRefusals, checksFor, createChecks, deniedReason, refusal, type StreamAction } from "./access";
import type { ActionId } from "../actions/catalogue";

function short(c: AccessCheck): string {
  const what = c.subresource ? `${c.resource}/${c.subresource}` : c.resource;
  return `${c.verb} ${c.group === "" ? "" : `${c.group}/`}${what}${c.namespace ? ` in ${c.namespace}` : ""}`;
}

describe("checksFor", () => {
  const cases: [ActionId | StreamAction, string, string[]][] = [
    ["delete", "deployments", ["delete apps/deployments in web"]],
    ["delete", "pods", ["delete pods in web"]],
    ["scale", "statefulsets", ["update apps/statefulsets/scale in web"]],
    ["restart", "deployments", ["patch apps/deployments in web"]],
    ["undo", "daemonsets", ["patch apps/daemonsets in web"]],
    ["cordon", "nodes", ["patch nodes"]],
    ["uncordon", "nodes", ["patch nodes"]],
    ["drain", "nodes", ["patch nodes", "create pods/eviction"]],
    ["logs", "pods", ["get pods/log in web"]],
    ["exec", "pods", ["create pods/exec in web"]],
    ["port-forward", "services", ["create pods/portforward in web"]],
    ["stop-node", "nodes", []],
    ["reset-cluster", "nodes", []],
  ];
  it.each(cases)("%s on %s asks %j", (id, resource, expected) => {
    const namespace = resource === "nodes" ? null : "web";
    expect(checksFor(id, resource, namespace).map(short)).toEqual(expected);
  });

  it("takes the group of a kind it does not know from the caller", () => {
    expect(checksFor("delete", "widgets", "web", "example.com").map(short)).toEqual(["delete example.com/widgets in web"]);
  });
});

describe("deniedReason and refusal", () => {
  it("names the verb, the resource and the namespace", () => {
    expect(deniedReason(checksFor("delete", "deployments", "default")[0] as AccessCheck)).toMatch(
      /^RBAC: you may not delete deployments in default\./,
    );
    expect(deniedReason(checksFor("drain", "nodes", null)[1] as AccessCheck)).toMatch(
      /^RBAC: you may not create pods\/eviction in any namespace\./,
    );
  });

  it("reports the first refused check, and nothing while answers are unknown or yes", () => {
    const checks = checksFor("drain", "nodes", null);
    expect(refusal(checks, [true, false])).toMatch(/create pods\/eviction/);
    expect(refusal(checks, [undefined, undefined])).toBeNull();
    expect(refusal(checks, [true, true])).toBeNull();
  });
});

/** A cache with a clock the test moves and a `can_i` it answers by hand. */
function harness() {
  let now = 1_000;
  const calls: { cluster: string; checks: AccessCheck[]; resolve: (a: boolean[]) => void; reject: (e: unknown) => void }[] = [];
  const ask = vi.fn(
    (cluster: string, checks: AccessCheck[]) =>
      new Promise<boolean[]>((resolve, reject) => {
        calls.push({ cluster, checks, resolve, reject });
      }),
  );
  const cache = new AccessCache(ask, () => now, 30_000);
  const changed = vi.fn();
  cache.subscribe(changed);
  return {
    cache,
    ask,
    calls,
    changed,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("AccessCache", () => {
  const del = checksFor("delete", "deployments", "default");
  const logs = checksFor("logs", "pods", "default");

  it("asks once for what it does not know, then answers from the cache", async () => {
    const h = harness();
    expect(h.cache.lookup("prod", [...del, ...logs])).toEqual([undefined, undefined]);
    // Asked while the first question is out: not asked twice.
    h.cache.lookup("prod", [...del, ...logs]);
    expect(h.ask).toHaveBeenCalledTimes(1);
    h.calls[0]?.resolve([false, true]);
    await vi.waitFor(() => {
      expect(h.changed).toHaveBeenCalled();
    });
    expect(h.cache.lookup("prod", [...del, ...logs])).toEqual([false, true]);
    expect(h.ask).toHaveBeenCalledTimes(1);
  });

  it("asks again after 30 s, and per cluster", async () => {
    const h = harness();
    h.cache.lookup("prod", del);
    h.calls[0]?.resolve([false]);
    await vi.waitFor(() => {
      expect(h.changed).toHaveBeenCalled();
    });
    h.advance(29_000);
    expect(h.cache.lookup("prod", del)).toEqual([false]);
    expect(h.cache.lookup("staging", del)).toEqual([undefined]);
    expect(h.ask).toHaveBeenCalledTimes(2);
    expect(h.calls[1]?.cluster).toBe("staging");
    h.advance(2_000);
    expect(h.cache.lookup("prod", del)).toEqual([undefined]);
    expect(h.ask).toHaveBeenCalledTimes(3);
  });

  it("leaves checks unknown when can_i fails, without asking again in a loop", async () => {
    const h = harness();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    h.cache.lookup("prod", del);
    h.calls[0]?.reject({ code: "unreachable", message: "nothing answers", causes: [] });
    await vi.waitFor(() => {
      expect(h.changed).toHaveBeenCalled();
    });
    expect(h.cache.lookup("prod", del)).toEqual([undefined]);
    expect(h.ask).toHaveBeenCalledTimes(1);
    h.advance(30_000);
    h.cache.lookup("prod", del);
    expect(h.ask).toHaveBeenCalledTimes(2);
    warn.mockRestore();
  });
});

describe("actionRefusals", () => {
  it("splits the answers back per action", () => {
    const ids = ["cordon", "drain", "delete"] as const;
    const checksById = ids.map((id) => checksFor(id, "nodes", null));
    const refusals = actionRefusals(ids, checksById, [true, true, false, undefined]);
    expect(refusals.get("cordon")).toBeNull();
    expect(refusals.get("drain")).toMatch(/create pods\/eviction/);
    expect(refusals.get("delete")).toBeNull();
  });
});

describe("createChecks", () => {
  const resourceOf = (kind: string) => ({ Deployment: "deployments", Namespace: "namespaces", ConfigMap: "configmaps" })[kind] ?? null;
  const clusterScoped = (kind: string) => kind === "Namespace";

  it("asks create per resource and namespace, once each", () => {
    const checks = createChecks(
      [
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "a" } },
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "b" } },
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "other" } },
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "n" } },
        { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } },
      ],
      "web",
      resourceOf,
      clusterScoped,
    );
    expect(checks.map(short)).toEqual(["create apps/deployments in web", "create configmaps in other", "create namespaces"]);
  });
});
