// The whole objects a lesson step looks at, kept live: the rows of each watched kind come from
// the shared watches (state/resources.ts), and every row whose resourceVersion is new is
// fetched whole (`getObject`) — checks read fields (conditions, nodeName, data) rows do not carry.
import { useEffect, useMemo, useState } from "react";
import { getObject, LOCAL } from "../ipc/resources";
import type { KindInfo } from "../ipc/resources";
import { followResources, resourceSnapshot } from "../state/resources";
import type { KubeObject, ObjectsByKind } from "./checks";
import type { Check, ObjectRef, Step, Widget } from "./lesson";

/** One kind to follow, in one namespace (`null`: all, or cluster-scoped). */
export interface Watch {
  readonly kind: string;
  readonly resource: string;
  readonly namespace: string | null;
}

function refsOfCheck(check: Check): ObjectRef[] {
  return check.type === "object" || check.type === "count" || check.type === "changed" ? [check.ref] : [];
}

function refsOfWidget(widget: Widget): ObjectRef[] {
  switch (widget.type) {
    case "pods":
      return [{ kind: "Pod" }];
    case "rollout":
      return [{ kind: "Deployment" }, { kind: "ReplicaSet" }];
    case "secret":
      return [{ kind: "Secret" }];
    case "file":
    case "probe":
      return [];
  }
}

/** The object references a step reads: its checks, captures, Show me waits and widgets. */
export function stepRefs(step: Step): ObjectRef[] {
  return [
    ...step.checks.flatMap(refsOfCheck),
    ...step.capture.flatMap((c) => (c.type === "from" ? [c.ref] : [])),
    ...step.showMe.flatMap((a) => (a.type === "wait" ? refsOfCheck(a.check) : [])),
    ...step.show.flatMap(refsOfWidget),
  ];
}

/**
 * The watches that cover `refs`: one per kind, in the lesson's namespace unless a reference
 * names another (then all namespaces). Kinds the cluster does not serve are left out. Pure.
 */
export function watchesFor(refs: readonly ObjectRef[], kinds: readonly KindInfo[], namespace: string): Watch[] {
  const byKind = new Map<string, Watch>();
  for (const ref of refs) {
    const info = kinds.find((k) => k.kind === ref.kind);
    if (!info) continue;
    const wanted = info.namespaced ? (ref.namespace ?? namespace) : null;
    const known = byKind.get(ref.kind);
    const ns = known === undefined ? wanted : known.namespace === wanted ? wanted : null;
    byKind.set(ref.kind, { kind: ref.kind, resource: info.resource, namespace: ns });
  }
  return [...byKind.values()].sort((a, b) => a.kind.localeCompare(b.kind));
}

interface Fetched {
  readonly resourceVersion: string;
  readonly object: KubeObject;
}

/** What the hook gives: the objects by kind, and whether every watch has caught up. */
export interface LiveObjects {
  readonly objects: ObjectsByKind;
  /** Every watch has listed and every listed object has been fetched at least once. */
  readonly synced: boolean;
}

/** Follows `watches` on the local cluster and keeps their objects whole. */
export function useLiveObjects(watches: readonly Watch[]): LiveObjects {
  const key = JSON.stringify(watches);
  const [state, setState] = useState<{ key: string; objects: ObjectsByKind; synced: boolean }>({ key, objects: {}, synced: false });

  useEffect(() => {
    const list = JSON.parse(key) as Watch[];
    const cache = new Map<string, Fetched>();
    const inFlight = new Map<string, string>();
    let live = true;

    const publish = (): void => {
      if (!live) return;
      const objects: Record<string, KubeObject[]> = {};
      let synced = true;
      for (const watch of list) {
        const snapshot = resourceSnapshot(LOCAL, watch.resource, watch.namespace);
        if (snapshot.state !== "live") synced = false;
        const found: KubeObject[] = [];
        for (const row of snapshot.rows) {
          const fetched = cache.get(row.uid);
          if (fetched) found.push(fetched.object);
          else synced = false;
        }
        objects[watch.kind] = [...(objects[watch.kind] ?? []), ...found];
      }
      setState({ key, objects, synced });
    };

    const refresh = (watch: Watch): void => {
      const snapshot = resourceSnapshot(LOCAL, watch.resource, watch.namespace);
      const uids = new Set(snapshot.rows.map((r) => r.uid));
      for (const uid of [...cache.keys()]) {
        if (!uids.has(uid) && cache.get(uid)?.object["kind"] === watch.kind) cache.delete(uid);
      }
      for (const row of snapshot.rows) {
        if (cache.get(row.uid)?.resourceVersion === row.resourceVersion) continue;
        if (inFlight.get(row.uid) === row.resourceVersion) continue;
        inFlight.set(row.uid, row.resourceVersion);
        getObject(LOCAL, watch.resource, row.namespace, row.name).then(
          (object) => {
            if (inFlight.get(row.uid) === row.resourceVersion) inFlight.delete(row.uid);
            // Only a row still listed is kept (a late answer for a deleted object is dropped).
            if (!resourceSnapshot(LOCAL, watch.resource, watch.namespace).byUid.has(row.uid)) return;
            cache.set(row.uid, { resourceVersion: row.resourceVersion, object: { kind: watch.kind, ...object } });
            publish();
          },
          () => {
            // Gone meanwhile (its deletion arrives as a row change) or the cluster is away: the
            // next row change tries again.
            if (inFlight.get(row.uid) === row.resourceVersion) inFlight.delete(row.uid);
          },
        );
      }
      publish();
    };

    const stops = list.map((watch) =>
      followResources(LOCAL, watch.resource, watch.namespace, () => {
        refresh(watch);
      }),
    );
    for (const watch of list) refresh(watch);
    // A step that watches nothing (only command or ingress checks) is synced at once.
    if (list.length === 0) publish();
    return () => {
      live = false;
      for (const stop of stops) stop();
    };
  }, [key]);

  return useMemo(
    () => (state.key === key ? { objects: state.objects, synced: state.synced } : { objects: {}, synced: false }),
    [state, key],
  );
}
