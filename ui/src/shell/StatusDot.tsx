import type { StatusSnapshot } from "../state/clusterStatus";

/** A coloured dot for the cluster's state; the words beside it carry the meaning too. */
export function StatusDot({ status }: { status: StatusSnapshot }) {
  const tone =
    status.kind === "status"
      ? status.status.phase
      : status.kind === "ipcFailed"
        ? "failed"
        : "starting";
  return <span className={`dot dot-${tone}`} aria-hidden="true" />;
}
