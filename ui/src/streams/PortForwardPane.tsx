// Port-forwards to a pod or Service: pick one of its ports and a local port (empty = any free
// one), start, open the URL in the browser; this object's running forwards with Stop.
import { useState } from "react";
import type { AppError } from "../ipc";
import type { Forward, ForwardTarget } from "../ipc/streams";
import { openUrl } from "../ipc/streams";
import { asAppError } from "../state/resources";
import { forwardsTo, parseLocalPort, startForward, stopForward, useForwards } from "./forwards";
import "./streams.css";

interface Props {
  cluster: string;
  namespace: string;
  target: { kind: "pod" | "service"; name: string };
  ports: number[];
}

export function PortForwardPane({ cluster, namespace, target, ports }: Props): React.JSX.Element {
  const [remote, setRemote] = useState<string>(ports[0] === undefined ? "" : String(ports[0]));
  const [local, setLocal] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const all = useForwards();
  const forwardTarget: ForwardTarget = { kind: target.kind, name: target.name };
  const mine = all.filter((f) => forwardsTo(f, cluster, namespace, forwardTarget));
  const remotePort = ports.length > 0 && !ports.map(String).includes(remote) ? ports[0] : Number(remote);

  const start = (): void => {
    const parsed = parseLocalPort(local);
    if ("error" in parsed) {
      setError({ code: "local", message: parsed.error, causes: [] });
      return;
    }
    if (remotePort === undefined || !Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
      setError({ code: "local", message: `Enter the ${target.kind === "service" ? "Service" : "pod"}'s port to forward to (1–65535).`, causes: [] });
      return;
    }
    setBusy(true);
    setError(null);
    startForward(cluster, namespace, forwardTarget, remotePort, parsed.port)
      .catch((e: unknown) => { setError(asAppError(e)); })
      .finally(() => { setBusy(false); });
  };

  return (
    <div className="forward-pane">
      <div className="stream-toolbar">
        <label>
          {target.kind === "service" ? "Service port" : "Pod port"}{" "}
          {ports.length > 0 ? (
            <select value={String(remotePort)} onChange={(e) => { setRemote(e.target.value); }}>
              {ports.map((p) => <option key={p} value={p}>{p}</option>)}
            </select>
          ) : (
            <input type="number" min={1} max={65535} value={remote} placeholder="port" onChange={(e) => { setRemote(e.target.value); }} />
          )}
        </label>
        <label>
          Local port{" "}
          <input
            type="text"
            inputMode="numeric"
            placeholder="any free port"
            data-testid="portforward-local-port"
            value={local}
            onChange={(e) => { setLocal(e.target.value); }}
            onKeyDown={(e) => { if (e.key === "Enter") start(); }}
          />
        </label>
        <button type="button" data-testid="portforward-start" onClick={start} disabled={busy}>
          {busy ? "Starting…" : "Start forwarding"}
        </button>
      </div>
      <p className="stream-muted">
        Listens on 127.0.0.1 only. Leave the local port empty to pick a free one.
      </p>
      {error && <div className="error-banner stream-error" data-testid="error-banner" role="alert">{error.message}</div>}
      {mine.length === 0 ? (
        <p className="stream-muted">No forward to {target.name} runs.</p>
      ) : (
        <ForwardList forwards={mine} onError={setError} showTarget={false} />
      )}
    </div>
  );
}

/** Forwards with their URL, an Open button and Stop. */
export function ForwardList({ forwards, onError, showTarget }: {
  forwards: readonly Forward[];
  onError: (error: AppError | null) => void;
  showTarget: boolean;
}): React.JSX.Element {
  return (
    <ul className="forward-list">
      {forwards.map((f) => (
        <li key={f.id}>
          <a
            className="forward-url"
            data-testid="portforward-url"
            href={f.url}
            onClick={(e) => { e.preventDefault(); openUrl(f.url).catch((err: unknown) => { onError(asAppError(err)); }); }}
          >
            {f.url}
          </a>
          <span className="stream-muted">
            → {showTarget ? `${f.target.kind === "service" ? "service" : "pod"}/${f.target.name} (${f.namespace}) ` : ""}
            port {f.remotePort}{f.target.kind === "service" ? ` (pod ${f.pod}:${String(f.podPort)})` : ""}
          </span>
          <button type="button" onClick={() => { openUrl(f.url).catch((err: unknown) => { onError(asAppError(err)); }); }}>
            Open in browser
          </button>
          <button type="button" onClick={() => { stopForward(f.id).catch((err: unknown) => { onError(asAppError(err)); }); }}>
            Stop
          </button>
        </li>
      ))}
    </ul>
  );
}
