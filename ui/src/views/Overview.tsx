import { formatLatency, phaseLabel, type StatusSnapshot } from "../state/clusterStatus";
import { CopyField } from "./CopyField";

/** Home: the local cluster at a glance, and how to reach it from a terminal. */
export function Overview({ status }: { status: StatusSnapshot }) {
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
      <header className="view-header">
        <h1>Local cluster</h1>
        <span className={`badge badge-${s.phase}`} data-testid="overview-phase">
          {phaseLabel(s.phase)}
        </span>
      </header>

      {s.error && (
        <div className="card error" role="alert" data-testid="overview-error">
          {s.error.message}
        </div>
      )}

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
