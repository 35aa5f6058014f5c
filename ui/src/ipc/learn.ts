// Learn mode's commands: a one-shot exec that collects output, the host kubectl terminal and
// requests through the local ingress controller. (Temporary copy of [host]'s wrappers with the
// same names and signatures; replaced by theirs at merge.)
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ExecOutput } from "./bindings/ExecOutput";
import type { StreamId } from "./resources";

/** What a one-shot exec printed and how it ended. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  message: string;
}

/** An ingress answer: the HTTP status and the (capped) body. */
export interface HttpAnswer {
  status: number;
  body: string;
}

/** Runs `command` in a container without a terminal and collects its output (20 s limit). */
export function execRun(
  cluster: string,
  namespace: string,
  pod: string,
  container: string | null,
  command: string[],
): Promise<ExecResult> {
  return invoke<ExecResult>("exec_run", { cluster, namespace, pod, container, command });
}

/** Starts a shell with kubectl pointed at the local cluster (namespace `namespace`). */
export function terminalStart(
  namespace: string | null,
  cols: number,
  rows: number,
  onOutput: (output: ExecOutput) => void,
): Promise<StreamId> {
  const channel = new Channel<ExecOutput>();
  channel.onmessage = onOutput;
  return invoke<StreamId>("terminal_start", { namespace, cols, rows, onOutput: channel });
}

/** Types bytes into the terminal. */
export function terminalInput(id: StreamId, data: Uint8Array): Promise<void> {
  return invoke("terminal_input", { id, data: Array.from(data) });
}

/** Tells the terminal its size. */
export function terminalResize(id: StreamId, cols: number, rows: number): Promise<void> {
  return invoke("terminal_resize", { id, cols, rows });
}

/** GETs `path` from the local ingress controller with `Host: host`. */
export function ingressGet(host: string, path: string): Promise<HttpAnswer> {
  return invoke<HttpAnswer>("ingress_get", { host, path });
}

/** The address of `host` on the local ingress controller, for a browser. */
export function ingressUrl(host: string): Promise<string> {
  return invoke<string>("ingress_url", { host });
}
