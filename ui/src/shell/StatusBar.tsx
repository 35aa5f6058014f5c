import type { DockerState } from "../ipc/actions";
import { formatLatency, phaseLabel, type StatusSnapshot } from "../state/clusterStatus";
import { StatusDot } from "./StatusDot";
import { dockerLabel, hostLabel } from "../actions/statusFigures";
import { StartCluster } from "../actions/StartCluster";

/** Which cluster the window talks to and whether it answers, always in view. */
export function StatusBar({ status }: { status: StatusSnapshot }) {
  if (status.kind !== "status") {
    return (
      <footer className="statusbar" role="status">
        <StatusDot status={status} />
        <span data-testid="status-phase">
          {status.kind === "waiting" ? "Connecting to the backend…" : status.message}
        </span>
      </footer>
    );
  }
  const s = status.status;
  return (
    <footer className="statusbar" role="status">
      <StatusDot status={status} />
      <span className="statusbar-cluster">
        {s.name} <span className="muted">(local)</span>
      </span>
      <span data-testid="status-phase">{phaseLabel(s.phase)}</span>
      {s.local && s.phase === "stopped" && <StartCluster />}
      {s.serverUrl && <span className="muted">{s.serverUrl}</span>}
      <span className="spacer" />
      {s.docker && <DockerItem docker={s.docker} />}
      {s.host && (
        <span className="muted" data-testid="status-host" title="This machine's CPU and memory use">
          {hostLabel(s.host)}
        </span>
      )}
      {s.version && <span data-testid="status-version">Kubernetes {s.version.gitVersion}</span>}
      {s.latencyMs !== null && (
        <span className="muted" title="Round trip of the last /version probe">
          {formatLatency(s.latencyMs)}
        </span>
      )}
    </footer>
  );
}

/** Docker's state beside the cluster's; its message when it does not answer. */
function DockerItem({ docker }: { docker: DockerState }) {
  const { text, down, title } = dockerLabel(docker);
  return (
    <span
      className={down ? undefined : "muted"}
      style={down ? { color: "var(--bad)" } : undefined}
      data-testid="status-docker"
      title={title}
    >
      {text}
    </span>
  );
}
