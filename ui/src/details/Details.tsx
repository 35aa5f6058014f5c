// An object's details page: a header (kind, name, namespace, status, actions) over tabs —
// Overview, YAML, Events, and for pods (Logs also for workloads, over all their pods) Logs,
// Exec and Port-forward. The object is watched live; the page says so when it is deleted.
import { useMemo, useState } from "react";
import { ActionsMenu } from "../actions/ActionsMenu";
import type { Row } from "../ipc/resources";
import { useActionRefusals, type StreamAction } from "../state/access";
import { useCurrentCluster } from "../state/clusters";
import { back, type Route } from "../shell/route";
import { useResources } from "../state/resources";
import { ExecPane } from "../streams/ExecPane";
import { LogsPane } from "../streams/LogsPane";
import { PortForwardPane } from "../streams/PortForwardPane";
import { forwardPorts, headerStatus, textAt, type KubeObject } from "./describe";
import { EventsTab } from "./EventsTab";
import { ErrorBanner } from "../shell/ErrorBanner";
import { kindOf, useKinds } from "../state/kinds";
import { resourceForKind } from "../state/kindNames";
import { OverviewTab } from "./OverviewTab";
import { WORKLOADS, ownedPods } from "./related";
import { useObject } from "./useObject";
import { YamlTab } from "./YamlTab";
import "./details.css";

type DetailsRoute = Extract<Route, { view: "details" }>;

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "yaml", label: "YAML" },
  { id: "events", label: "Events" },
  { id: "logs", label: "Logs" },
  { id: "exec", label: "Exec" },
  { id: "portforward", label: "Port-forward" },
] as const;

type TabId = (typeof TABS)[number]["id"];

/** The tabs an object of `resource` has. */
export function tabsFor(resource: string): TabId[] {
  const tabs: TabId[] = ["overview", "yaml", "events"];
  if (resource === "pods" || WORKLOADS.has(resource)) tabs.push("logs");
  if (resource === "pods") tabs.push("exec");
  if (resource === "pods" || resource === "services") tabs.push("portforward");
  return tabs;
}

/** The RBAC-checked action behind a streaming tab; `null` for the tabs any reader may open. */
function streamOf(tab: TabId): StreamAction | null {
  switch (tab) {
    case "logs":
    case "exec":
      return tab;
    case "portforward":
      return "port-forward";
    default:
      return null;
  }
}

/** An object's details */
export function Details({ route }: { route: DetailsRoute }): React.JSX.Element {
  // A new object starts a fresh page (tab, edits), so the state of one never leaks into another.
  return <DetailsPage key={`${route.resource}/${route.namespace ?? ""}/${route.name}/${route.tab ?? ""}`} route={route} />;
}

function DetailsPage({ route }: { route: DetailsRoute }) {
  const cluster = useCurrentCluster();
  const { resource, namespace, name } = route;
  const watched = useObject(cluster, resource, namespace, name);
  const rows = useResources(resource, namespace, cluster);
  const kinds = useKinds();
  const kindInfo = kinds.state === "loaded" ? kindOf(kinds.kinds, resource) : undefined;
  const object = watched.object;
  const uid = textAt(object, "metadata", "uid");
  const row = rows.byUid.get(uid);
  const kind = textAt(object, "kind") || kindInfo?.kind || resource;
  const tabs = tabsFor(resource);
  const initial = tabs.find((t) => t === route.tab) ?? "overview";
  const [tab, setTab] = useState<TabId>(initial);
  const status = headerStatus(row, object);
  // The streaming tabs need the cluster's RBAC to allow them; a refused one is disabled, saying why.
  const streamTabs = tabs.flatMap((t) => {
    const stream = streamOf(t);
    return stream === null ? [] : [stream];
  });
  const refusals = useActionRefusals(cluster, streamTabs, resource, namespace);
  const tabRefusal = (t: TabId): string | null => {
    const stream = streamOf(t);
    return stream === null ? null : (refusals.get(stream) ?? null);
  };

  return (
    <div className="details" data-testid="details">
      <header className="details-header">
        <button type="button" className="link-button" onClick={back} title="Back (Alt+←)">
          ← Back
        </button>
        <div className="details-title">
          <span className="details-kind">{kind}</span>
          <h1>{name}</h1>
          {namespace && <span className="muted">in {namespace}</span>}
          {watched.deleted ? (
            <span className="badge tone-bad" data-testid="details-deleted">
              deleted
            </span>
          ) : (
            status.text && (
              <span className={`badge tone-${status.tone}`} data-testid="details-status">
                {status.text}
              </span>
            )
          )}
          {watched.state === "reconnecting" && <span className="muted small">reconnecting…</span>}
        </div>
        <div className="spacer" />
        {row && !watched.deleted && <ActionsMenu cluster={cluster} resource={resource} row={row} />}
      </header>
      {watched.error && (
        <ErrorBanner
          title={watched.state === "reconnecting" ? "Watching this object failed; retrying" : `Could not read ${kind} ${name}`}
          error={watched.error}
          tone={watched.object ? "warning" : "error"}
        />
      )}
      {watched.deleted && (
        <div className="details-notice" role="status">
          This {kind} was deleted. What it last looked like is below; go back to the list to pick another.
        </div>
      )}
      <nav className="details-tabs" role="tablist">
        {TABS.filter((t) => tabs.includes(t.id)).map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            aria-selected={tab === t.id}
            className={tab === t.id ? "details-tab active" : "details-tab"}
            data-testid={`details-${t.id}`}
            disabled={tab !== t.id && tabRefusal(t.id) !== null}
            title={tabRefusal(t.id) ?? undefined}
            onClick={() => { setTab(t.id); }}
          >
            {t.label}
          </button>
        ))}
      </nav>
      <div className="details-body" role="tabpanel">
        {object === null ? (
          <p className="muted">{watched.state === "syncing" ? "Loading…" : `No ${kind} ${name} to show.`}</p>
        ) : WORKLOADS.has(resource) ? (
          <WorkloadBody cluster={cluster} resource={resource} object={object} row={row} tab={tab} deleted={watched.deleted} />
        ) : (
          <Body cluster={cluster} resource={resource} object={object} row={row} tab={tab} deleted={watched.deleted} pods={NO_ROWS} replicaSets={NO_ROWS} jobs={NO_ROWS} />
        )}
      </div>
    </div>
  );
}

const NO_ROWS: readonly Row[] = [];

interface BodyProps {
  readonly cluster: string;
  readonly resource: string;
  readonly object: KubeObject;
  readonly row: Row | undefined;
  readonly tab: TabId;
  readonly deleted: boolean;
}

/** A workload's page also knows its pods (through ReplicaSets or Jobs). */
function WorkloadBody(props: BodyProps) {
  const namespace = textAt(props.object, "metadata", "namespace") || null;
  const pods = useResources("pods", namespace, props.cluster).rows;
  const replicaSets = useResources("replicasets", namespace, props.cluster).rows;
  const jobs = useResources("jobs", namespace, props.cluster).rows;
  const uid = textAt(props.object, "metadata", "uid");
  const owned = useMemo(() => ownedPods(props.resource, uid, pods, replicaSets, jobs), [props.resource, uid, pods, replicaSets, jobs]);
  return <Body {...props} pods={owned} replicaSets={replicaSets} jobs={jobs} />;
}

function Body(props: BodyProps & { pods: readonly Row[]; replicaSets: readonly Row[]; jobs: readonly Row[] }) {
  const { cluster, resource, object, row, tab, deleted } = props;
  const namespace = textAt(object, "metadata", "namespace");
  const name = textAt(object, "metadata", "name");
  switch (tab) {
    case "overview":
      return (
        <OverviewTab
          cluster={cluster}
          resource={resource}
          object={object}
          row={row}
          resourceOf={resourceForKind}
          ownedPods={props.pods}
          replicaSets={props.replicaSets}
          jobs={props.jobs}
        />
      );
    case "yaml":
      return <YamlTab cluster={cluster} object={object} deleted={deleted} />;
    case "events":
      return (
        <EventsTab
          cluster={cluster}
          namespace={namespace || null}
          uid={textAt(object, "metadata", "uid")}
          kind={textAt(object, "kind")}
          name={name}
        />
      );
    case "logs": {
      const pods = resource === "pods" ? [name] : props.pods.map((p) => p.name);
      const containers = resource === "pods" ? containerNames(object, row) : [...new Set(props.pods.flatMap((p) => containerNames(null, p)))];
      if (pods.length === 0) return <p className="muted">No pods yet, so no logs: wait for the controller to create them.</p>;
      return <LogsPane cluster={cluster} namespace={namespace} pods={pods} containers={containers} />;
    }
    case "exec":
      return <ExecPane cluster={cluster} namespace={namespace} pod={name} containers={containerNames(object, row)} />;
    case "portforward":
      return (
        <PortForwardPane
          cluster={cluster}
          namespace={namespace}
          target={{ kind: resource === "services" ? "service" : "pod", name }}
          ports={forwardPorts(resource, object)}
        />
      );
  }
}

/** A pod's app containers, from its row (or its spec before the row arrives). */
function containerNames(object: KubeObject | null, row: Row | undefined): string[] {
  if (row?.summary.kind === "pod") return row.summary.containers;
  const spec = object ? (object["spec"] as { containers?: { name?: string }[] } | undefined) : undefined;
  return (spec?.containers ?? []).map((c) => c.name ?? "").filter((n) => n !== "");
}
