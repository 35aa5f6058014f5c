// The Overview: the current cluster at a glance; for the local one also how to reach it from a
// terminal (kubectl line, kubeconfig copy/export/merge) and where its files live.
import type { ClusterStatus } from "../ipc";
import { LOCAL } from "../ipc/resources";
import { authWords } from "../clusters/forms";
import { formatLatency, phaseLabel, type StatusSnapshot } from "../state/clusterStatus";
import { statusOf, useClusters, useCurrentCluster } from "../state/clusters";
import { CopyField } from "./CopyField";
import { LocalKubeconfig } from "./LocalKubeconfig";

/** Home: the current cluster at a glance, and for the local one how to reach it from a terminal. */
export function Overview({ status }: { status: StatusSnapshot }) {
  const current = useCurrentCluster();
  if (current !== LOCAL) return <RemoteOverview id={current} />;
  return <LocalOverview status={status} />;
}

function LocalOverview({ status }: { status: StatusSnapshot }) {
  if (status.kind === "waiting") {
    return <p className="muted">Connecting to Kubarium's backend…</p>;
  }
  if (status.kind === "ipcFailed") {
    return (
      <div className="card error" role="alert">
        {status.message}
      </div>
    );
  }
  const s = status.status;
  return (
    <div className="overview">
      <StatusHeader title="Local cluster" status={s} />

      {s.phase === "starting" && <p className="muted">Starting the embedded cluster…</p>}

      <div className="cards">
        <section className="card" aria-labelledby="api-heading">
          <h2 id="api-heading">API server</h2>
          <dl className="facts">
            <dt>Address</dt>
            <dd data-testid="overview-server">{s.serverUrl ?? "—"}</dd>
            <dt>Kubernetes</dt>
            <dd data-testid="overview-version">{s.version?.gitVersion ?? "—"}</dd>
            <dt>Platform</dt>
            <dd>{s.version?.platform ?? "—"}</dd>
            <dt>Round trip</dt>
            <dd>{s.latencyMs === null ? "—" : formatLatency(s.latencyMs)}</dd>
          </dl>
        </section>

        {s.kubeconfigPath && s.kubectlCommand && (
          <section className="card" aria-labelledby="kubectl-heading">
            <h2 id="kubectl-heading">Use it with kubectl</h2>
            <p className="muted">
              The cluster wrote a kubeconfig for you (readable only by you). Point kubectl at it:
            </p>
            <CopyField label="Try" value={s.kubectlCommand} testId="overview-kubectl" />
            <CopyField label="Kubeconfig" value={s.kubeconfigPath} testId="overview-kubeconfig" />
          </section>
        )}

        {s.phase !== "starting" && <LocalKubeconfig />}

        {s.dataDir && (
          <section className="card" aria-labelledby="data-heading">
            <h2 id="data-heading">Where things live</h2>
            <CopyField label="Data folder" value={s.dataDir} testId="overview-data-dir" />
            {s.logsDir && <CopyField label="Logs" value={s.logsDir} testId="overview-logs" />}
          </section>
        )}
      </div>
    </div>
  );
}

/** A remote cluster at a glance: its state, server, version and how Kubarium signs in. */
function RemoteOverview({ id }: { id: string }) {
  const clusters = useClusters();
  const s: ClusterStatus | undefined = statusOf(clusters.statuses, id);
  const entry = clusters.entries.find((e) => e.id === id);
  if (!s) return <p className="muted">Connecting to {id}…</p>;
  return (
    <div className="overview">
      <StatusHeader title={s.name} status={s} />

      <div className="cards">
        <section className="card" aria-labelledby="api-heading">
          <h2 id="api-heading">API server</h2>
          <dl className="facts">
            <dt>Address</dt>
            <dd data-testid="overview-server">{s.serverUrl ?? entry?.server ?? "—"}</dd>
            <dt>Kubernetes</dt>
            <dd data-testid="overview-version">{s.version?.gitVersion ?? "—"}</dd>
            <dt>Platform</dt>
            <dd>{s.version?.platform ?? "—"}</dd>
            <dt>Round trip</dt>
            <dd>{s.latencyMs === null ? "—" : formatLatency(s.latencyMs)}</dd>
            <dt>Signs in with</dt>
            <dd>{entry ? `${authWords(entry.auth)} (kept in the OS keychain)` : "—"}</dd>
            <dt>Namespace</dt>
            <dd>{entry?.namespace ?? "— (all that you may list)"}</dd>
          </dl>
        </section>
      </div>
    </div>
  );
}

/** The Overview's title with the cluster's state, and its error when it has one. */
function StatusHeader({ title, status: s }: { title: string; status: ClusterStatus }) {
  return (
    <>
      <header className="view-header">
        <h1>{title}</h1>
        <span className={`badge badge-${s.phase}`} data-testid="overview-phase">
          {phaseLabel(s.phase, s.error)}
        </span>
      </header>

      {s.error && (
        <div className="card error" role="alert" data-testid="overview-error">
          {s.error.message}
        </div>
      )}
    </>
  );
}
