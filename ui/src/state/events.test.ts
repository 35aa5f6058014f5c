// Tests for the events timeline's ordering, filtering, filter choices and relative times.
import { describe, expect, it } from "vitest";
import type { EventSummary, Row } from "../ipc/resources";
import { NO_FILTER, facets, filterEvents, formatAgo, toEntries } from "./events";
import { row } from "../test/fixtures";

function event(uid: string, over: Partial<EventSummary> = {}, createdAt: string | null = null): Row {
  return row(`ev-${uid}`, {
    uid,
    createdAt,
    summary: {
      kind: "event",
      eventType: "Normal",
      reason: "Scheduled",
      message: "Successfully assigned default/web-1 to worker-1",
      involvedKind: "Pod",
      involvedName: "web-1",
      involvedNamespace: "default",
      involvedUid: null,
      count: 1,
      lastSeen: "2026-11-28T10:00:00Z",
      source: "default-scheduler",
      ...over,
    },
  });
}

const rows = [
  event("a", { lastSeen: "2026-11-28T10:00:00Z" }),
  event("b", {
    lastSeen: "2026-11-28T10:05:00Z",
    eventType: "Warning",
    reason: "BackOff",
    message: "Back-off restarting failed container app",
    source: "kubelet",
  }),
  event("c", { lastSeen: null, reason: "ScalingReplicaSet", involvedKind: "Deployment", involvedName: "web" }, "2026-11-28T10:02:00Z"),
  event("d", { lastSeen: null }),
];

describe("toEntries", () => {
  it("orders newest first, falling back to creation time, timeless last", () => {
    expect(toEntries(rows).map((e) => e.uid)).toEqual(["b", "c", "a", "d"]);
  });

  it("ignores rows that are not events", () => {
    expect(toEntries([{ ...event("x"), summary: { kind: "none" } }])).toEqual([]);
  });
});

describe("filterEvents", () => {
  const entries = toEntries(rows);
  const uids = (f: Partial<typeof NO_FILTER>) => filterEvents(entries, { ...NO_FILTER, ...f }).map((e) => e.uid);

  it("passes everything through without a filter", () => {
    expect(filterEvents(entries, NO_FILTER)).toBe(entries);
  });

  it("filters by type, reason and involved kind", () => {
    expect(uids({ type: "Warning" })).toEqual(["b"]);
    expect(uids({ type: "Normal" })).toEqual(["c", "a", "d"]);
    expect(uids({ reason: "ScalingReplicaSet" })).toEqual(["c"]);
    expect(uids({ kind: "Pod" })).toEqual(["b", "a", "d"]);
  });

  it("needs every word of the text, in any field, ignoring case", () => {
    expect(uids({ text: "back-off APP" })).toEqual(["b"]);
    expect(uids({ text: "kubelet" })).toEqual(["b"]);
    expect(uids({ text: "deployment web" })).toEqual(["c"]);
    expect(uids({ text: "nothing-like-this" })).toEqual([]);
  });
});

describe("facets", () => {
  it("counts reasons and kinds, most frequent first", () => {
    const f = facets(toEntries(rows));
    expect(f.reasons).toEqual([
      { value: "Scheduled", count: 2 },
      { value: "BackOff", count: 1 },
      { value: "ScalingReplicaSet", count: 1 },
    ]);
    expect(f.kinds).toEqual([
      { value: "Pod", count: 3 },
      { value: "Deployment", count: 1 },
    ]);
    expect(f.warnings).toBe(1);
  });
});

describe("formatAgo", () => {
  const now = Date.parse("2026-11-28T12:00:00Z");
  it("writes short ages", () => {
    expect(formatAgo(now - 5_000, now)).toBe("5s");
    expect(formatAgo(now - 3 * 60_000, now)).toBe("3m");
    expect(formatAgo(now - 5 * 3_600_000, now)).toBe("5h");
    expect(formatAgo(now - 3 * 86_400_000, now)).toBe("3d");
    expect(formatAgo(now + 5_000, now)).toBe("0s");
    expect(formatAgo(null, now)).toBe("—");
  });
});
