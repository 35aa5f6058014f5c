// The only module that talks to the Rust backend. Types come from ./bindings, generated
// from the Rust structs (`cargo xtask bindings`), so both sides agree by construction.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ClusterStatus } from "./bindings/ClusterStatus";

export type { AppError } from "./bindings/AppError";
export type { ClusterPhase } from "./bindings/ClusterPhase";
export type { ClusterStatus } from "./bindings/ClusterStatus";
export type { ErrorCode } from "./bindings/ErrorCode";
export type { ServerVersion } from "./bindings/ServerVersion";

/** The local cluster's status right now. */
export function clusterStatus(): Promise<ClusterStatus> {
  return invoke<ClusterStatus>("cluster_status");
}

/**
 * Streams the local cluster's status: the current one at once, then every change, pushed
 * by the backend (no polling). Resolves once the stream is set up.
 */
export function watchClusterStatus(onStatus: (status: ClusterStatus) => void): Promise<void> {
  const channel = new Channel<ClusterStatus>();
  channel.onmessage = onStatus;
  return invoke("watch_cluster_status", { onStatus: channel });
}

/** Stops the local cluster cleanly and exits the app. */
export function quit(): Promise<void> {
  return invoke("quit");
}
