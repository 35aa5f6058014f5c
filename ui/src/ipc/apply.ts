// Server-side apply of edited or created objects (the YAML editor, the Create page).
import { invoke } from "@tauri-apps/api/core";
import type { ApplyOutcome } from "./bindings/ApplyOutcome";

export type { ApplyOutcome } from "./bindings/ApplyOutcome";
export type { ApplyResult } from "./bindings/ApplyResult";

/**
 * Applies each object (server-side apply, field manager `kubarium`); `dryRun` only validates.
 * One outcome per object, in order: a failing one does not stop the rest.
 */
export function applyObjects(
  cluster: string,
  objects: readonly Record<string, unknown>[],
  dryRun: boolean,
): Promise<ApplyOutcome[]> {
  return invoke<ApplyOutcome[]>("apply_objects", { cluster, objects, dryRun });
}
