// The Overview tab: status fields and conditions as `kubectl describe` shows them, a pod's
// containers, labels and annotations, data of ConfigMaps and Secrets (hidden until
// revealed), and related objects as links to their own details pages.
import { useState } from "react";
import { LOCAL, type Row } from "../ipc/resources";
import { navigate } from "../shell/route";
import { useResources } from "../state/resources";
import { formatAge } from "../state/table";
import { useNow } from "../state/clock";
import {
  conditions,
  containers,
  decodeSecretValue,
  scalarFields,
  stringMap,
  textAt,
  type KubeObject,
} from "./describe";
import {
  ownedControllers,
  ownerLinks,
  podLinks,
  podUses,
  podsOnNode,
  serviceSlices,
  sliceEndpoints,
  specLinks,
  type RelatedLink,
  type ResourceOf,
} from "./related";
import { SchedulingDecision } from "./SchedulingDecision";
import { useObject } from "./useObject";

/** What the Overview tab needs from the page. */
export interface OverviewProps {
  readonly cluster: string;
  readonly resource: string;
  readonly object: KubeObject;
  readonly row: Row | undefined;
  readonly resourceOf: ResourceOf;
  /** A workload's pods (empty for other kinds). */
  readonly ownedPods: readonly Row[];
  /** A Deployment's ReplicaSets and a CronJob's Jobs as rows. */
  readonly replicaSets: readonly Row[];
  readonly jobs: readonly Row[];
}

/** The Overview tab. */
export function OverviewTab(props: OverviewProps) {
  const { cluster, resource, object, row, resourceOf } = props;
  const namespace = textAt(object, "metadata", "namespace") || null;
  const name = textAt(object, "metadata", "name");
  const uid = textAt(object, "metadata", "uid");
  const created = textAt(object, "metadata", "creationTimestamp");
  const now = useNow(5000);
  const related: RelatedLink[] = [
    ...ownerLinks(object, namespace, resourceOf),
    ...ownedControllers(resource, uid, props.replicaSets, props.jobs),
    ...podLinks(props.ownedPods),
    ...podUses(row),
    ...specLinks(resource, object, row),
  ];
  return (
    <div className="details-overview">
      <section className="card">
        <h2>About</h2>
        <dl className="facts">
          <dt>Name</dt>
          <dd>{name}</dd>
          {namespace && (
            <>
              <dt>Namespace</dt>
              <dd>{namespace}</dd>
            </>
          )}
          <dt>Created</dt>
          <dd>{created ? `${created} (${formatAge(created, now)} ago)` : "—"}</dd>
          <dt>UID</dt>
          <dd>{uid}</dd>
          {scalarFields(object, "spec").map(([key, value]) => (
            <Fact key={`spec.${key}`} name={`spec.${key}`} value={value} />
          ))}
          {scalarFields(object, "status").map(([key, value]) => (
            <Fact key={`status.${key}`} name={`status.${key}`} value={value} />
          ))}
        </dl>
      </section>
      <Conditions object={object} />
      {resource === "pods" && <SchedulingDecision pod={object} local={cluster === LOCAL} />}
      {resource === "pods" && <Containers object={object} />}
      {resource === "configmaps" && <ConfigMapData object={object} />}
      {resource === "secrets" && <SecretData object={object} />}
      <Related title="Related objects" links={related} empty="No owners, owned objects or references." />
      {resource === "services" && <ServiceEndpoints cluster={cluster} namespace={namespace} name={name} />}
      {resource === "nodes" && <NodePods name={name} />}
      <StringMap title="Labels" entries={stringMap(object, "metadata", "labels")} />
      <StringMap title="Annotations" entries={stringMap(object, "metadata", "annotations")} />
    </div>
  );
}

function Fact({ name, value }: { name: string; value: string }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>{value}</dd>
    </>
  );
}

function Conditions({ object }: { object: KubeObject }) {
  const now = useNow(5000);
  const list = conditions(object);
  if (list.length === 0) return null;
  return (
    <section className="card details-wide">
      <h2>Conditions</h2>
      <table className="details-table">
        <thead>
          <tr>
            <th>Type</th>
            <th>Status</th>
            <th>Reason</th>
            <th>Message</th>
            <th>Last transition</th>
          </tr>
        </thead>
        <tbody>
          {list.map((c) => (
            <tr key={c.type} data-testid={`condition-${c.type}`}>
              <td>{c.type}</td>
              <td className={c.status === "True" ? "tone-ok" : c.status === "False" ? "tone-warn" : ""}>{c.status}</td>
              <td>{c.reason}</td>
              <td className="wrap">{c.message}</td>
              <td title={c.lastTransition}>{c.lastTransition ? `${formatAge(c.lastTransition, now)} ago` : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Containers({ object }: { object: KubeObject }) {
  const list = containers(object);
  return (
    <section className="card details-wide">
      <h2>Containers</h2>
      <table className="details-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Image</th>
            <th>Ready</th>
            <th>Restarts</th>
            <th>State</th>
          </tr>
        </thead>
        <tbody>
          {list.map((c) => (
            <tr key={c.name}>
              <td>
                {c.name}
                {c.init ? <span className="muted small"> (init)</span> : null}
              </td>
              <td className="mono wrap">{c.image}</td>
              <td className={c.ready ? "tone-ok" : "tone-warn"}>{c.ready ? "yes" : "no"}</td>
              <td>{c.restarts}</td>
              <td className="wrap">{c.state}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function StringMap({ title, entries }: { title: string; entries: [string, string][] }) {
  return (
    <section className="card">
      <h2>{title}</h2>
      {entries.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="details-chips">
          {entries.map(([key, value]) => (
            <li key={key} className="details-chip" title={value}>
              <span className="details-chip-key">{key}</span>
              {value.length > 120 ? `=${value.slice(0, 120)}…` : `=${value}`}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ConfigMapData({ object }: { object: KubeObject }) {
  const entries = stringMap(object, "data");
  return (
    <section className="card">
      <h2>Data</h2>
      {entries.length === 0 && <p className="muted">No keys.</p>}
      {entries.map(([key, value]) => (
        <div key={key} className="data-entry">
          <div className="data-key">{key}</div>
          <pre className="data-value">{value}</pre>
        </div>
      ))}
    </section>
  );
}

function SecretData({ object }: { object: KubeObject }) {
  const [revealed, setRevealed] = useState<ReadonlySet<string>>(new Set());
  const entries = stringMap(object, "data");
  const toggle = (key: string) => {
    setRevealed((prev) => {
      const next = new Set(prev);
      if (!next.delete(key)) next.add(key);
      return next;
    });
  };
  return (
    <section className="card">
      <h2>Data</h2>
      <p className="muted small">Type {textAt(object, "type") || "Opaque"}. Values stay hidden until you reveal them.</p>
      {entries.length === 0 && <p className="muted">No keys.</p>}
      {entries.map(([key, value]) => {
        const decoded = decodeSecretValue(value);
        const shown = revealed.has(key);
        return (
          <div key={key} className="data-entry" data-testid={`secret-key-${key}`}>
            <div className="data-key">
              {key}
              <button type="button" className="link-button" onClick={() => { toggle(key); }} data-testid={`secret-reveal-${key}`}>
                {shown ? "Hide" : "Reveal"}
              </button>
            </div>
            {shown ? (
              decoded.kind === "text" ? (
                <pre className="data-value" data-testid={`secret-value-${key}`}>{decoded.text}</pre>
              ) : (
                <p className="muted" data-testid={`secret-value-${key}`}>binary, {decoded.bytes} bytes</p>
              )
            ) : (
              <p className="muted">••••••••</p>
            )}
          </div>
        );
      })}
    </section>
  );
}

/** Links to other objects' details pages. */
export function Related({ title, links, empty }: { title: string; links: readonly RelatedLink[]; empty: string }) {
  return (
    <section className="card">
      <h2>{title}</h2>
      {links.length === 0 ? (
        <p className="muted">{empty}</p>
      ) : (
        <ul className="related">
          {links.map((link) => (
            <li key={`${link.relation}/${link.resource}/${link.namespace ?? ""}/${link.name}`}>
              <span className="related-relation">{link.relation}</span>
              <button
                type="button"
                className="link-button"
                data-testid={`related-${link.resource}-${link.name}`}
                onClick={() => { navigate({ view: "details", resource: link.resource, namespace: link.namespace, name: link.name }); }}
              >
                {link.name}
              </button>
              {link.note && <span className="muted small">{link.note}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ServiceEndpoints({ cluster, namespace, name }: { cluster: string; namespace: string | null; name: string }) {
  const slices = serviceSlices(name, useResources("endpointslices", namespace, cluster).rows);
  return (
    <section className="card">
      <h2>Endpoints</h2>
      {slices.length === 0 ? (
        <p className="muted">No EndpointSlices yet: the Service selects no pods, or the controller has not caught up.</p>
      ) : (
        slices.map((slice) => <SliceEndpoints key={slice.uid} cluster={cluster} namespace={slice.namespace} name={slice.name} />)
      )}
    </section>
  );
}

function SliceEndpoints({ cluster, namespace, name }: { cluster: string; namespace: string | null; name: string }) {
  const { object } = useObject(cluster, "endpointslices", namespace, name);
  const links = object ? sliceEndpoints(object) : [];
  return (
    <div className="slice">
      <p className="muted small">EndpointSlice {name}</p>
      {links.length === 0 ? (
        <p className="muted">No endpoints: no selected pod is running.</p>
      ) : (
        <ul className="related">
          {links.map((link) => (
            <li key={link.name}>
              <span className="related-relation">{link.relation}</span>
              <button
                type="button"
                className="link-button"
                data-testid={`related-${link.resource}-${link.name}`}
                onClick={() => { navigate({ view: "details", resource: link.resource, namespace: link.namespace, name: link.name }); }}
              >
                {link.name}
              </button>
              <span className="muted small">{link.note}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function NodePods({ name }: { name: string }) {
  const pods = podsOnNode(name, useResources("pods", null).rows);
  return <Related title={`Pods on ${name}`} links={podLinks(pods)} empty="No pods run on this node." />;
}
