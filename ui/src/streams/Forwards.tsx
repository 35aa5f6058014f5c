// Every port-forward running in the app, wherever it was started, compact enough for the
// sidebar: the local URL (opens the browser), what it reaches, and Stop.
import { useState } from "react";
import type { AppError } from "../ipc";
import { openUrl } from "../ipc/streams";
import { asAppError } from "../state/resources";
import { stopForward, useForwards } from "./forwards";
import "./streams.css";

export function Forwards(): React.JSX.Element {
  const forwards = useForwards();
  const [error, setError] = useState<AppError | null>(null);
  const fail = (e: unknown): void => { setError(asAppError(e)); };
  return (
    <div className="forwards">
      {error && <div className="error-banner stream-error" data-testid="error-banner" role="alert">{error.message}</div>}
      {forwards.length === 0 ? (
        <p className="stream-muted">None running. Start one from a pod's or Service's Port-forward tab.</p>
      ) : (
        <ul className="forwards-list">
          {forwards.map((f) => (
            <li key={f.id} title={`${f.namespace}/${f.target.name} port ${String(f.remotePort)} (pod ${f.pod}:${String(f.podPort)})`}>
              <a
                className="forward-url"
                href={f.url}
                onClick={(e) => { e.preventDefault(); setError(null); openUrl(f.url).catch(fail); }}
              >
                :{f.localPort}
              </a>
              <span className="forwards-target">{f.target.kind === "service" ? "svc" : "pod"}/{f.target.name}:{f.remotePort}</span>
              <button type="button" className="forwards-stop" aria-label={`Stop forwarding ${f.url}`} onClick={() => { stopForward(f.id).catch(fail); }}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
