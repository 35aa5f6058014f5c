// The events of one object, newest first. Pure, for tests.
import type { EventSummary, Row } from "../ipc/resources";

/** An event row with its summary unwrapped. */
export type EventRow = Row & { readonly summary: { kind: "event" } & EventSummary };

/** Events about the object: by uid, or by kind and name when an event names no uid. */
export function eventsOf(rows: readonly Row[], uid: string, kind: string, name: string): EventRow[] {
  return rows
    .filter((row): row is EventRow => row.summary.kind === "event")
    .filter((row) => {
      const s = row.summary;
      return s.involvedUid ? s.involvedUid === uid : s.involvedKind === kind && s.involvedName === name;
    })
    .sort((a, b) => (b.summary.lastSeen ?? "").localeCompare(a.summary.lastSeen ?? ""));
}
