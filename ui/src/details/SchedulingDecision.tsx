// A pod's "Why is this pod here?" / "Why is it pending?" card on the Overview tab: the
// scheduler's decision record as a per-node table (details/decision.ts builds it).
import { navigate } from "../shell/route";
import { placementOf, type NodeLine, type PluginScore } from "./decision";
import { textAt, type KubeObject } from "./describe";

function breakdown(plugins: readonly PluginScore[]): string {
  return plugins.map((p) => `${p.plugin}: ${String(p.score)} × ${String(p.weight)} = ${String(p.weighted)}`).join("\n");
}

function Scores({ line }: { line: NodeLine }) {
  if (line.total === null) return <span className="muted">—</span>;
  return (
    <details className="decision-scores">
      <summary title={breakdown(line.plugins)}>{line.total}</summary>
      <table className="decision-plugins">
        <thead>
          <tr>
            <th>Plugin</th>
            <th title="0–100, before weighting">Score</th>
            <th>Weight</th>
            <th>Weighted</th>
          </tr>
        </thead>
        <tbody>
          {line.plugins.map((p) => (
            <tr key={p.plugin}>
              <td>{p.plugin}</td>
              <td>{p.score}</td>
              <td>×{p.weight}</td>
              <td>{p.weighted}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

const TONES = { chosen: "tone-ok", feasible: "", rejected: "tone-warn" } as const;

/** The card; `local` says the pod is on Kubarium's own cluster, whose scheduler keeps a record. */
export function SchedulingDecision({ pod, local }: { pod: KubeObject; local: boolean }) {
  const placement = placementOf(pod, local);
  const pending = placement.kind === "decision" ? placement.view.pending : textAt(pod, "spec", "nodeName") === "";
  return (
    <section className="card details-wide decision" data-testid="scheduling-decision">
      <h2>{pending ? "Why is this pod pending?" : "Why is this pod here?"}</h2>
      {placement.kind === "none" ? (
        <p className="muted" data-testid="decision-none">
          {placement.text}
        </p>
      ) : (
        <>
          <p className={`decision-headline ${pending ? "tone-warn" : "tone-ok"}`} data-testid="decision-headline">
            {placement.view.headline}
          </p>
          <p className="muted small" data-testid="decision-counts">
            {placement.view.counts}
          </p>
          <table className="details-table">
            <thead>
              <tr>
                <th>Node</th>
                <th>Result</th>
                <th title="The weighted sum of the score plugins; open it for each plugin's part">Score</th>
              </tr>
            </thead>
            <tbody>
              {placement.view.lines.map((line) => (
                <tr key={line.node} data-testid={`decision-node-${line.node}`} data-result={line.result}>
                  <td>
                    <button
                      type="button"
                      className="link-button"
                      onClick={() => { navigate({ view: "details", resource: "nodes", namespace: null, name: line.node }); }}
                    >
                      {line.node}
                    </button>
                  </td>
                  <td className={`wrap ${TONES[line.result]}`}>{line.text}</td>
                  <td>
                    <Scores line={line} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {placement.view.reasons.length > 0 && (
            <>
              <h3 className="decision-subhead">Rejected nodes by reason</h3>
              <ul className="decision-reasons">
                {placement.view.reasons.map((r) => (
                  <li key={`${r.plugin}/${r.reason}`} data-testid="decision-reason">
                    <span className="decision-plugin">{r.plugin}</span> {r.reason}:{" "}
                    <span className="mono">{r.nodes.join(", ")}</span>
                    {r.more > 0 ? <span className="muted"> and {r.more} more</span> : null}
                  </li>
                ))}
              </ul>
            </>
          )}
          {placement.view.note && <p className="muted small">{placement.view.note}</p>}
        </>
      )}
    </section>
  );
}
