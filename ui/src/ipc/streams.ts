// Pod logs, exec sessions and port-forwards: typed wrappers over the streams commands.
// Every stream is stopped with `stopStream` (ipc/resources.ts); forwards also with `portForwardStop`.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ExecOutput } from "./bindings/ExecOutput";
import type { Forward } from "./bindings/Forward";
import type { ForwardTarget } from "./bindings/ForwardTarget";
import type { LogBatch } from "./bindings/LogBatch";
import type { LogOptions } from "./bindings/LogOptions";
import type { StreamId } from "./resources";

export type { ExecOutput } from "./bindings/ExecOutput";
export type { Forward } from "./bindings/Forward";
export type { ForwardTarget } from "./bindings/ForwardTarget";
export type { LogBatch } from "./bindings/LogBatch";
export type { LogOptions } from "./bindings/LogOptions";
export type { TargetKind } from "./bindings/TargetKind";

/**
 * Streams a container's log (`container: null` = the pod's only one) as batches of lines,
 * then an `end` or `error`. Rejects with an `AppError` when the cluster is unknown.
 */
export function streamLogs(
  cluster: string,
  namespace: string,
  pod: string,
  container: string | null,
  options: LogOptions,
  onLines: (batch: LogBatch) => void,
): Promise<StreamId> {
  const channel = new Channel<LogBatch>();
  channel.onmessage = onLines;
  return invoke<StreamId>("stream_logs", { cluster, namespace, pod, container, options, onLines: channel });
}

/**
 * Runs `command` in a container with stdin attached (and a terminal with `tty`). Rejects with an
 * `AppError` when it cannot start (no such pod or container, not running).
 */
export function execStart(
  cluster: string,
  namespace: string,
  pod: string,
  container: string | null,
  command: string[],
  tty: boolean,
  onOutput: (output: ExecOutput) => void,
): Promise<StreamId> {
  const channel = new Channel<ExecOutput>();
  channel.onmessage = onOutput;
  return invoke<StreamId>("exec_start", { cluster, namespace, pod, container, command, tty, onOutput: channel });
}

/** Types bytes into an exec session. */
export function execInput(id: StreamId, data: Uint8Array): Promise<void> {
  return invoke("exec_input", { id, data: Array.from(data) });
}

/** Tells an exec session's terminal its size. */
export function execResize(id: StreamId, cols: number, rows: number): Promise<void> {
  return invoke("exec_resize", { id, cols, rows });
}

/** Forwards 127.0.0.1:`localPort` (null = any free port) to `remotePort` of a pod or Service. */
export function portForwardStart(
  cluster: string,
  namespace: string,
  target: ForwardTarget,
  remotePort: number,
  localPort: number | null,
): Promise<Forward> {
  return invoke<Forward>("port_forward_start", { cluster, namespace, target, remotePort, localPort });
}

/** The port-forwards that run, oldest first. */
export function portForwards(): Promise<Forward[]> {
  return invoke<Forward[]>("port_forwards");
}

/** Stops a port-forward; stopping one that ended is not an error. */
export function portForwardStop(id: StreamId): Promise<void> {
  return invoke("port_forward_stop", { id });
}

/** Opens a local http(s) address (a forward's) in the desktop's browser. */
export function openUrl(url: string): Promise<void> {
  return invoke("open_url", { url });
}
