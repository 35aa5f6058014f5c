// A shell (or any command) in a container, in an xterm.js terminal: typed input goes to the
// session, the terminal's size follows the pane, the exit is shown with a Reconnect button.
// The default `sh` is tried from PATH and then as /bin/sh; a container with neither is said
// to have no shell.
import { useEffect, useRef, useState } from "react";
import type { AppError } from "../ipc";
import { stopStream } from "../ipc/resources";
import { execInput, execResize, execStart } from "../ipc/streams";
import { asAppError } from "../state/resources";
import { isMissingProgram, shellAttempts } from "./exec";
import "./streams.css";
import { ContainerPicker, useContainerChoice } from "./ContainerPicker";
import { mountTerminal, writeExit } from "./terminal";

interface Props {
  cluster: string;
  namespace: string;
  pod: string;
  containers: string[];
}

type SessionState =
  | { kind: "connecting" }
  | { kind: "running"; command: string }
  | { kind: "exited"; code: number | null; message: string }
  | { kind: "failed"; error: AppError }
  | { kind: "noShell"; message: string };

export function ExecPane({ cluster, namespace, pod, containers }: Props): React.JSX.Element {
  const [chosen, setContainer] = useContainerChoice(containers);
  const [command, setCommand] = useState("sh");
  const [tty, setTty] = useState(true);
  // What the current session runs, and a counter so Reconnect starts a fresh one.
  const [run, setRun] = useState({ command: "sh", tty: true, attempt: 0 });
  const [state, setState] = useState<SessionState>({ kind: "connecting" });
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    let live = true;
    let id: number | null = null;
    // Whether the user typed into the current session: until then a 126/127 exit means the
    // program is missing (a runtime may print its own complaint first), not a command the
    // user ran in the shell.
    let typed = false;
    const { term, dispose } = mountTerminal(
      el,
      {
        onInput: (bytes) => {
          if (id === null) return;
          typed = true;
          execInput(id, bytes).catch(() => undefined);
        },
        onResize: (cols, rows) => {
          if (id !== null && run.tty) execResize(id, cols, rows).catch(() => undefined);
        },
      },
      { convertEol: !run.tty }, // without a terminal, output has bare \n
    );
    const attempts = shellAttempts(run.command);
    setState({ kind: "connecting" });

    const failed = (argv: string[], next: number, failure: { code: number | null; message: string } | AppError): void => {
      if (!typed && isMissingProgram(failure) && next < attempts.length) {
        setState({ kind: "connecting" });
        start(next);
        return;
      }
      if (!typed && isMissingProgram(failure)) {
        const what = attempts.length > 1 ? "no shell (neither sh nor /bin/sh)" : `no program ${argv[0] ?? ""}`;
        setState({ kind: "noShell", message: `Container ${chosen ?? ""} has ${what}. Images built from scratch or distroless have none; run a program the image does have, or use the Logs tab.` });
        return;
      }
      if ("causes" in failure) setState({ kind: "failed", error: failure });
      else setState({ kind: "exited", code: failure.code, message: failure.message });
    };

    const start = (index: number): void => {
      const argv = attempts[index] ?? [];
      let sawOutput = false;
      typed = false;
      execStart(cluster, namespace, pod, chosen, argv, run.tty, (output) => {
        if (!live) return;
        if (output.type === "exit") {
          id = null;
          if (output.code === 0) {
            setState({ kind: "exited", code: 0, message: output.message });
          } else {
            failed(argv, index + 1, { code: output.code, message: output.message });
          }
          if (sawOutput) writeExit(term, output.message);
          return;
        }
        sawOutput = true;
        term.write(new Uint8Array(output.data));
      })
        .then((sessionId) => {
          if (!live) {
            void stopStream(sessionId);
            return;
          }
          id = sessionId;
          setState((s) => (s.kind === "connecting" ? { kind: "running", command: argv.join(" ") } : s));
          if (run.tty) execResize(sessionId, term.cols, term.rows).catch(() => undefined);
        })
        .catch((error: unknown) => {
          if (live) failed(argv, index + 1, asAppError(error));
        });
    };

    start(0);
    term.focus();
    return () => {
      live = false;
      if (id !== null) void stopStream(id);
      dispose();
    };
  }, [cluster, namespace, pod, chosen, run]);

  const connect = (): void => {
    setRun((r) => ({ command: command.trim() === "" ? "sh" : command, tty, attempt: r.attempt + 1 }));
  };

  return (
    <div className="exec-pane">
      <div className="stream-toolbar">
        <ContainerPicker containers={containers} chosen={chosen} onChoose={setContainer} />
        <label>
          Command{" "}
          <input
            type="text"
            value={command}
            aria-label="Command to run"
            onChange={(e) => { setCommand(e.target.value); }}
            onKeyDown={(e) => { if (e.key === "Enter") connect(); }}
          />
        </label>
        <label><input type="checkbox" checked={tty} onChange={(e) => { setTty(e.target.checked); }} /> Terminal (tty)</label>
        <button type="button" onClick={connect}>
          {state.kind === "running" || state.kind === "connecting" ? "Restart" : "Reconnect"}
        </button>
        <span className="stream-muted">
          {state.kind === "connecting" && "Connecting…"}
          {state.kind === "running" && `Running ${state.command} in ${chosen ?? pod}`}
          {state.kind === "exited" && state.message}
        </span>
      </div>
      {state.kind === "failed" && (
        <div className="error-banner stream-error" data-testid="error-banner" role="alert">{state.error.message}</div>
      )}
      {state.kind === "noShell" && (
        <div className="error-banner stream-error" data-testid="error-banner" role="alert">{state.message}</div>
      )}
      <div ref={host} className="exec-terminal" data-testid="exec-terminal" />
    </div>
  );
}
