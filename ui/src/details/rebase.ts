// Whether an edit begun on one version of an object can be sent against a newer one: only
// when the newer one differs in status alone (what controllers write), so the user's edit
// cannot undo anyone's change. Pure, for tests.
import type { KubeObject } from "./describe";

function withoutVolatile(object: KubeObject): unknown {
  const copy: Record<string, unknown> = { ...object };
  delete copy["status"];
  const metadata = copy["metadata"];
  const meta = typeof metadata === "object" && metadata !== null ? { ...(metadata as Record<string, unknown>) } : {};
  delete meta["resourceVersion"];
  delete meta["managedFields"];
  copy["metadata"] = meta;
  return copy;
}

/** Key order aside, whether two values are equal. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  if (ak.length !== bk.length) return false;
  return ak.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Whether `before` and `after` differ only in status, resourceVersion and managedFields. */
export function sameApartFromStatus(before: KubeObject, after: KubeObject): boolean {
  return same(withoutVolatile(before), withoutVolatile(after));
}

/** The objects with resourceVersion `from` moved to `to` (others left as they are). */
export function withVersion(objects: Record<string, unknown>[], from: string, to: string): Record<string, unknown>[] {
  return objects.map((object) => {
    const metadata = object["metadata"];
    if (typeof metadata !== "object" || metadata === null) return object;
    const meta = metadata as Record<string, unknown>;
    return meta["resourceVersion"] === from ? { ...object, metadata: { ...meta, resourceVersion: to } } : object;
  });
}
