// The live widgets under a step's text: pod chips, a Deployment's rollout, a Secret's keys, a
// file in a container (read every 2 s) and probes (a button that runs a command or an
// ingress request and shows its answer lines, identical lines coloured alike).
import { useEffect, useState } from "react";
import { openUrl } from "../ipc/streams";
import { execRun, ingressGet, ingressUrl } from "../ipc/learn";
import { LOCAL } from "../ipc/resources";
import type { ObjectsByKind } from "./checks";
import type { Widget } from "./lesson";
import { valueAt } from "./paths";
import { errorText } from "./runner";
import { hueOf, podChips, rolloutRows, secretKeys } from "./widgets";

interface Props {
  readonly widget: Widget;
  readonly objects: ObjectsByKind;
  readonly namespace: string;
  /** `widget-<step>-<index>`. */
  readonly testId: string;
}

/** One widget of the active step. */
export function StepWidget({ widget, objects, namespace, testId }: Props) {
  switch (widget.type) {
    case "pods":
      return <PodsWidget widget={widget} objects={objects} namespace={namespace} testId={testId} />;
    case "rollout":
      return <RolloutWidget deployment={widget.deployment} objects={objects} namespace={namespace} testId={testId} />;
    case "secret":
      return <SecretWidget name={widget.name} objects={objects} namespace={namespace} testId={testId} />;
    case "file":
      return <FileWidget pod={widget.pod} container={widget.container ?? null} path={widget.path} namespace={namespace} testId={testId} />;
    case "probe":
      return <ProbeWidget widget={widget} namespace={namespace} testId={testId} />;
  }
}

function tint(key: string): React.CSSProperties {
  return key === "" ? {} : { borderLeftColor: `hsl(${String(hueOf(key))} 65% 50%)` };
}

function PodsWidget({ widget, objects, namespace, testId }: { widget: Extract<Widget, { type: "pods" }>; objects: ObjectsByKind; namespace: string; testId: string }) {
  const chips = podChips(objects["Pod"] ?? [], namespace, widget.labels, widget.name);
  return (
    <div className="learn-widget" data-testid={testId}>
      <h4>Pods</h4>
      {chips.length === 0 ? (
        <p className="muted small">No pods yet.</p>
      ) : (
        <ul className="learn-chips">
          {chips.map((chip) => (
            <li key={chip.name} className={`learn-chip ${chip.ready ? "ready" : "unready"}${chip.deleting ? " deleting" : ""}`} style={tint(chip.template)} data-testid={`pod-chip-${chip.name}`}>
              <strong>{chip.name}</strong>
              <span className="muted small">
                {chip.deleting ? "Terminating" : chip.phase}
                {chip.ready ? " · ready" : " · not ready"}
                {chip.node !== "" ? ` · ${chip.node}` : " · unscheduled"}
                {chip.restarts > 0 ? ` · ${String(chip.restarts)} restarts` : ""}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function RolloutWidget({ deployment, objects, namespace, testId }: { deployment: string; objects: ObjectsByKind; namespace: string; testId: string }) {
  const rows = rolloutRows(objects["ReplicaSet"] ?? [], namespace, deployment);
  return (
    <div className="learn-widget" data-testid={testId}>
      <h4>Rollout of {deployment}</h4>
      {rows.length === 0 ? (
        <p className="muted small">Deployment {deployment} has no ReplicaSets yet.</p>
      ) : (
        <table className="learn-table">
          <thead>
            <tr>
              <th>Revision</th>
              <th>ReplicaSet</th>
              <th>Image</th>
              <th>Ready / desired</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.name} className={row.current ? "current" : "old"} style={tint(row.template)}>
                <td>
                  {row.revision} {row.current ? <span className="learn-tag">new</span> : <span className="learn-tag old">old</span>}
                </td>
                <td>{row.name}</td>
                <td>
                  <code>{row.image}</code>
                  {row.version !== "" ? ` (VERSION ${row.version})` : ""}
                </td>
                <td>
                  {row.ready} / {row.desired}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function SecretWidget({ name, objects, namespace, testId }: { name: string; objects: ObjectsByKind; namespace: string; testId: string }) {
  const secret = (objects["Secret"] ?? []).find((s) => valueAt(s, "metadata.name") === name && valueAt(s, "metadata.namespace") === namespace);
  const keys = secretKeys(secret);
  return (
    <div className="learn-widget" data-testid={testId}>
      <h4>Secret {name}</h4>
      {!secret ? (
        <p className="muted small">Secret {name} does not exist yet.</p>
      ) : (
        <table className="learn-table">
          <thead>
            <tr>
              <th>Key</th>
              <th>Stored (base64)</th>
              <th>Decoded</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.key}>
                <td>{k.key}</td>
                <td>
                  <code>{k.stored}</code>
                </td>
                <td>{k.decoded === null ? <span className="muted">(not text)</span> : <code>{k.decoded}</code>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const FILE_POLL_MS = 2000;

function FileWidget({ pod, container, path, namespace, testId }: { pod: string; container: string | null; path: string; namespace: string; testId: string }) {
  const [content, setContent] = useState<{ ok: boolean; text: string } | null>(null);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const read = async (): Promise<void> => {
      try {
        const result = await execRun(LOCAL, namespace, pod, container, ["cat", path]);
        if (live) setContent(result.exitCode === 0 ? { ok: true, text: result.stdout } : { ok: false, text: result.stderr.trim() || result.message });
      } catch (e: unknown) {
        if (live) setContent({ ok: false, text: errorText(e) });
      }
      if (live) timer = setTimeout(() => void read(), FILE_POLL_MS);
    };
    void read();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [pod, container, path, namespace]);
  return (
    <div className="learn-widget" data-testid={testId}>
      <h4>
        <code>{path}</code> in {pod}
      </h4>
      {content === null ? (
        <p className="muted small">Reading…</p>
      ) : content.ok ? (
        <pre className="learn-output">{content.text === "" ? "(empty)" : content.text}</pre>
      ) : (
        <p className="muted small">Cannot read it yet: {content.text}</p>
      )}
    </div>
  );
}

function ProbeWidget({ widget, namespace, testId }: { widget: Extract<Widget, { type: "probe" }>; namespace: string; testId: string }) {
  const [busy, setBusy] = useState(false);
  const [answer, setAnswer] = useState<{ lines: string[]; error: string | null } | null>(null);
  const probe = async (): Promise<void> => {
    setBusy(true);
    try {
      if (widget.exec) {
        const result = await execRun(LOCAL, namespace, widget.exec.pod, widget.exec.container ?? null, [...widget.exec.command]);
        const error = result.exitCode === 0 ? null : result.stderr.trim() || result.message;
        setAnswer({ lines: result.stdout.split("\n").filter((l) => l.trim() !== ""), error });
      } else if (widget.ingress) {
        const result = await ingressGet(widget.ingress.host, widget.ingress.path);
        setAnswer({ lines: [`HTTP ${String(result.status)}`, ...result.body.split("\n").filter((l) => l.trim() !== "").slice(0, 40)], error: null });
      }
    } catch (e: unknown) {
      setAnswer({ lines: [], error: errorText(e) });
    } finally {
      setBusy(false);
    }
  };
  const openInBrowser = async (): Promise<void> => {
    if (!widget.ingress) return;
    try {
      await openUrl(await ingressUrl(widget.ingress.host));
    } catch (e: unknown) {
      setAnswer({ lines: [], error: errorText(e) });
    }
  };
  return (
    <div className="learn-widget" data-testid={testId}>
      <div className="learn-row">
        <button type="button" disabled={busy} onClick={() => void probe()} data-testid={`${testId}-run`}>
          {busy ? "Running…" : widget.label}
        </button>
        {widget.browser && (
          <button type="button" onClick={() => void openInBrowser()} data-testid={`${testId}-open`}>
            Open in browser
          </button>
        )}
      </div>
      {answer?.error != null && <p className="learn-error small">{answer.error}</p>}
      {answer && answer.lines.length > 0 && (
        <ul className="learn-lines">
          {answer.lines.map((line, i) => (
            <li key={i} style={tint(line)}>
              <code>{line}</code>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
