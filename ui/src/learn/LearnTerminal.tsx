// The lesson's terminal: a shell on this machine with kubectl pointed at the local cluster
// (namespace = the lesson's), in xterm.js like the exec pane. A step's "Type it" puts its
// command on the prompt (without Enter) through `typeIntoTerminal`.
import { useEffect, useRef, useState } from "react";
import { terminalInput, terminalResize, terminalStart } from "../ipc/learn";
import { stopStream } from "../ipc/resources";
import { mountTerminal, writeExit } from "../streams/terminal";
import { errorText } from "./runner";

/** Sends text to the open lesson terminal; null while none is open. */
let typer: ((text: string) => void) | null = null;

/** Types `text` into the lesson terminal; false when no terminal is open. */
export function typeIntoTerminal(text: string): boolean {
  if (!typer) return false;
  typer(text);
  return true;
}

type State = { kind: "starting" } | { kind: "running" } | { kind: "exited"; message: string } | { kind: "failed"; message: string };

/** The terminal pane of a lesson. */
export function LearnTerminal({ namespace }: { namespace: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [attempt, setAttempt] = useState(0);
  const [state, setState] = useState<State>({ kind: "starting" });

  useEffect(() => {
    const el = host.current;
    if (!el) return undefined;
    let live = true;
    let id: number | null = null;
    const send = (bytes: Uint8Array): void => {
      if (id !== null) terminalInput(id, bytes).catch(() => undefined);
    };
    const { term, dispose } = mountTerminal(el, {
      onInput: send,
      onResize: (cols, rows) => {
        if (id !== null) terminalResize(id, cols, rows).catch(() => undefined);
      },
    });
    terminalStart(namespace, term.cols, term.rows, (output) => {
      if (!live) return;
      if (output.type === "exit") {
        id = null;
        setState({ kind: "exited", message: output.message });
        writeExit(term, output.message);
        return;
      }
      term.write(new Uint8Array(output.data));
    })
      .then((streamId) => {
        if (!live) {
          void stopStream(streamId);
          return;
        }
        id = streamId;
        setState({ kind: "running" });
        terminalResize(streamId, term.cols, term.rows).catch(() => undefined);
      })
      .catch((e: unknown) => {
        if (live) setState({ kind: "failed", message: errorText(e) });
      });
    const encoder = new TextEncoder();
    typer = (text) => {
      send(encoder.encode(text));
      term.focus();
    };
    return () => {
      live = false;
      typer = null;
      if (id !== null) void stopStream(id);
      dispose();
    };
  }, [namespace, attempt]);

  return (
    <section className="learn-terminal-pane" aria-label="Terminal">
      <div className="learn-row">
        <h3>Terminal</h3>
        <span className="muted small">
          {state.kind === "starting" && "Starting a shell…"}
          {state.kind === "running" && `kubectl talks to the local cluster, namespace ${namespace}`}
          {state.kind === "exited" && `${state.message}. Press Restart for a new shell.`}
        </span>
        <span className="spacer" />
        <button
          type="button"
          onClick={() => {
            setState({ kind: "starting" });
            setAttempt((a) => a + 1);
          }}
        >
          Restart
        </button>
      </div>
      {state.kind === "failed" && (
        <div className="error-banner" role="alert">
          The terminal could not start: {state.message}
        </div>
      )}
      <div ref={host} className="learn-terminal" data-testid="learn-terminal" />
    </section>
  );
}
