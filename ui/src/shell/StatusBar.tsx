// The status bar: the cluster the window shows (local or remote), its state, server, version,
// round trip and what is wrong with it; for the local cluster also Docker and this machine.
import type { ClusterStatus } from "../ipc";
import type { DockerState } from "../ipc/actions";
import { LOCAL } from "../ipc/resources";
import { retryCluster } from "../ipc/clusters";
import { useNow } from "../state/clock";
import { formatLatency, phaseLabel, retryLabel, type StatusSnapshot } from "../state/clusterStatus";
import { statusOf, useClusterStatuses, useCurrentCluster } from "../state/clusters";
import { StatusDot } from "./StatusDot";
import { dockerLabel, hostLabel } from "../actions/statusFigures";
import { StartCluster } from "../actions/StartCluster";
import "../clusters/clusters.css";

/**
 * Which cluster the window talks to and whether it answers, always in view. One footer for
 * every state, each item in a fixed slot, so an item (the phase) stays the same element as the
 * state changes — whoever holds it (a screen reader, a test) keeps holding it.
 */
export function StatusBar({ status }: { status: StatusSnapshot }) {
  const current = useCurrentCluster();
  const statuses = useClusterStatuses();
  const remote = current !== LOCAL;
  const s: ClusterStatus | null = remote ? (statusOf(statuses, current) ?? null) : status.kind === "status" ? status.status : null;
  const dot: StatusSnapshot = s ? { kind: "status", status: s } : remote ? { kind: "waiting" } : status;
  const phase = s
    ? phaseLabel(s.phase, s.error)
    : remote
      ? "Connecting…"
      : status.kind === "ipcFailed"
        ? status.message
        : "Connecting to the backend…";
  return (
    <footer className="statusbar" role="status">
      <StatusDot status={dot} />
      {(s !== null || remote) && (
        <span className="statusbar-cluster" data-testid="status-cluster">
          {s?.name ?? current} <span className="muted">{remote ? "(remote)" : "(local)"}</span>
        </span>
      )}
      <span data-testid="status-phase">{phase}</span>
      {s?.local === true && s.phase === "stopped" && <StartCluster />}
      {s?.serverUrl && <span className="muted">{s.serverUrl}</span>}
      {s?.error && s.phase !== "connected" && (
        <span className="statusbar-error" data-testid="status-error" title={s.error.message}>
          {s.error.message}
        </span>
      )}
      {s !== null && s.phase !== "connected" && s.retryAt !== null && <Retry cluster={s.id} retryAt={s.retryAt} />}
      <span className="spacer" />
      {s?.docker && <DockerItem docker={s.docker} />}
      {s?.host && (
        <span className="muted" data-testid="status-host" title="This machine's CPU and memory use">
          {hostLabel(s.host)}
        </span>
      )}
      {s?.version && <span data-testid="status-version">Kubernetes {s.version.gitVersion}</span>}
      {s !== null && s.latencyMs !== null && (
        <span className="muted" data-testid="status-latency" title="Round trip of the last /version probe">
          {formatLatency(s.latencyMs)}
        </span>
      )}
    </footer>
  );
}

/** When a failing remote cluster is tried next, counting down, and a button to try now. */
export function Retry({ cluster, retryAt }: { cluster: string; retryAt: number }) {
  const now = useNow();
  return (
    <span className="statusbar-retry" data-testid="status-retry">
      <span className="muted">{retryLabel(retryAt, now)}</span>{" "}
      <button
        type="button"
        className="link-button"
        data-testid="status-retry-now"
        title="Try to connect again now"
        onClick={() => {
          retryCluster(cluster).catch(() => undefined);
        }}
      >
        Retry now
      </button>
    </span>
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
