// Placeholder until its owner lands it: the actions the command palette offers.
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */
import type { Row } from "../ipc/resources";

/** One action a user can run on an object or on the cluster. */
export interface Action {
  id: string;
  label: string;
  /** Runs it; rejects with an `AppError` the caller shows. */
  run: () => Promise<void>;
}

/** The actions offered for an object of `resource` (an empty list until built). */
export function actionsFor(_cluster: string, _resource: string, _row: Row): Action[] {
  return [];
}

/** Cluster-wide actions (add a node, stop the cluster, …). */
export function clusterActions(_cluster: string): Action[] {
  return [];
}
