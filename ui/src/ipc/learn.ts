// Learn mode's host commands: a one-shot exec that collects its output, the kubectl terminal on
// this machine (pointed at the local cluster), and GETs through the local ingress controller.
// The terminal is stopped with `stopStream` (ipc/resources.ts), like every stream.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ExecOutput } from "./bindings/ExecOutput";
import type { ExecResult } from "./bindings/ExecResult";
import type { HttpAnswer } from "./bindings/HttpAnswer";
import type { StreamId } from "./resources";

export type { ExecOutput } from "./bindings/ExecOutput";
export type { ExecResult } from "./bindings/ExecResult";
export type { HttpAnswer } from "./bindings/HttpAnswer";

/**
 * Runs `command` once in a container (`container: null` = the pod's only one), without a
 * terminal, and resolves with what it printed and its exit code once it ends (cancelled after
 * 20 s, then `exitCode` is null and `message` says so). Rejects with an `AppError` when it
 * cannot start (no such pod or container, not running).
 */
export function execRun(
  cluster: string,
  namespace: string,
  pod: string,
  container: string | null,
  command: string[],
): Promise<ExecResult> {
  return invoke<ExecResult>("exec_run", { cluster, namespace, pod, container, command });
}

/**
 * Starts a shell on this machine in a terminal of `cols` × `rows`, with `KUBECONFIG` pointing
 * at the local cluster and its namespace set to `namespace` (null = `default`). Output and the
 * shell's exit arrive on `onOutput` (`stdout` only: a terminal has one stream). Rejects with an
 * `AppError` when no terminal can be opened (on Windows, not yet).
 */
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

/** Tells the terminal its new size. */
export function terminalResize(id: StreamId, cols: number, rows: number): Promise<void> {
  return invoke("terminal_resize", { id, cols, rows });
}

/**
 * GETs `path` (starting with `/`) from the local cluster's ingress controller with `Host: host`,
 * as a browser asking for `http://host/path` would. Resolves with any HTTP status; rejects with
 * an `AppError` when nothing answers (no ingress port, timeout after 10 s).
 */
export function ingressGet(host: string, path: string): Promise<HttpAnswer> {
  return invoke<HttpAnswer>("ingress_get", { host, path });
}

/** `http://host:port/` through the local ingress controller, for "Open in browser". */
export function ingressUrl(host: string): Promise<string> {
  return invoke<string>("ingress_url", { host });
}
