// Resource watches and objects. Rows arrive as batches pushed by the backend; nothing polls.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { KindInfo } from "./bindings/KindInfo";
import type { ObjectUpdate } from "./bindings/ObjectUpdate";
import type { ResourceBatch } from "./bindings/ResourceBatch";

export type { Category } from "./bindings/Category";
export type { Cell } from "./bindings/Cell";
export type { Column } from "./bindings/Column";
export type { ColumnType } from "./bindings/ColumnType";
export type { EventSummary } from "./bindings/EventSummary";
export type { FieldCause } from "./bindings/FieldCause";
export type { IngressSummary } from "./bindings/IngressSummary";
export type { KindInfo } from "./bindings/KindInfo";
export type { NodeSummary } from "./bindings/NodeSummary";
export type { ObjectUpdate } from "./bindings/ObjectUpdate";
export type { OwnerRef } from "./bindings/OwnerRef";
export type { PodSummary } from "./bindings/PodSummary";
export type { ResourceBatch } from "./bindings/ResourceBatch";
export type { Row } from "./bindings/Row";
export type { ServiceSummary } from "./bindings/ServiceSummary";
export type { Summary } from "./bindings/Summary";
export type { WatchState } from "./bindings/WatchState";
export type { WorkloadSummary } from "./bindings/WorkloadSummary";

/** Identifies a running watch or stream; pass it to `stopStream`. */
export type StreamId = number;

/** The id of the cluster embedded in the app. */
export const LOCAL = "local";

/** Every kind the UI can browse, with its `kubectl get` columns. */
export function kinds(): Promise<KindInfo[]> {
  return invoke<KindInfo[]>("kinds");
}

/**
 * Watches one resource (`pods`) in one namespace, or all of them (`namespace: null`). The
 * first data batch is a `reset` with every row; `changes` follow. Rejects with an `AppError`.
 */
export function watchResources(
  cluster: string,
  resource: string,
  namespace: string | null,
  onBatch: (batch: ResourceBatch) => void,
): Promise<StreamId> {
  const channel = new Channel<ResourceBatch>();
  channel.onmessage = onBatch;
  return invoke<StreamId>("watch_resources", { cluster, resource, namespace, onBatch: channel });
}

/** One object, whole, as the API server returns it (JSON). */
export function getObject(
  cluster: string,
  resource: string,
  namespace: string | null,
  name: string,
): Promise<Record<string, unknown>> {
  return invoke<Record<string, unknown>>("get_object", { cluster, resource, namespace, name });
}

/** Watches one object; pushes it whole on every change (details pages). */
export function watchObject(
  cluster: string,
  resource: string,
  namespace: string | null,
  name: string,
  onUpdate: (update: ObjectUpdate) => void,
): Promise<StreamId> {
  const channel = new Channel<ObjectUpdate>();
  channel.onmessage = onUpdate;
  return invoke<StreamId>("watch_object", { cluster, resource, namespace, name, onUpdate: channel });
}

/** Stops a watch, log stream or exec session. Stopping one that ended is not an error. */
export function stopStream(id: StreamId): Promise<void> {
  return invoke("stop_stream", { id });
}
