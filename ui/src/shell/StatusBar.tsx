import { formatLatency, phaseLabel, type StatusSnapshot } from "../state/clusterStatus";
import { StatusDot } from "./StatusDot";

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
      {s.serverUrl && <span className="muted">{s.serverUrl}</span>}
      <span className="spacer" />
      {s.version && <span data-testid="status-version">Kubernetes {s.version.gitVersion}</span>}
      {s.latencyMs !== null && (
        <span className="muted" title="Round trip of the last /version probe">
          {formatLatency(s.latencyMs)}
        </span>
      )}
    </footer>
  );
}
