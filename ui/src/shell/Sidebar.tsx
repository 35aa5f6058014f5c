import { phaseLabel, type StatusSnapshot } from "../state/clusterStatus";
import { StatusDot } from "./StatusDot";
import { VIEWS } from "./views";

interface Props {
  status: StatusSnapshot;
  viewId: string;
  onSelect: (viewId: string) => void;
}

/** Brand, the cluster this window shows, and the views. */
export function Sidebar({ status, viewId, onSelect }: Props) {
  return (
    <nav className="sidebar" aria-label="Kubarium">
      <div className="brand">
        <img src="/kubarium.svg" alt="" width={28} height={28} />
        <span>Kubarium</span>
      </div>
      <section className="cluster-chip" aria-label="Cluster">
        <StatusDot status={status} />
        <div>
          <div className="cluster-name">
            {status.kind === "status" ? status.status.name : "kubarium"} <span className="muted">(local)</span>
          </div>
          <div className="muted small">
            {status.kind === "status" ? phaseLabel(status.status.phase) : "Connecting…"}
          </div>
        </div>
      </section>
      <ul className="nav">
        {VIEWS.map((v) => (
          <li key={v.id}>
            <button
              type="button"
              className={v.id === viewId ? "nav-item active" : "nav-item"}
              aria-current={v.id === viewId ? "page" : undefined}
              onClick={() => {
                onSelect(v.id);
              }}
            >
              {v.label}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
