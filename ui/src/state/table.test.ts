// Tests for the resource table's pure logic: kubectl's AGE format, sorting, filtering, selectors.
import { describe, expect, it } from "vitest";
import type { Cell, KindInfo, Row } from "../ipc/resources";
import {
  cellText,
  compareNatural,
  filterRows,
  formatAge,
  humanDuration,
  matchesSelector,
  nextSort,
  parseSelector,
  searchText,
  sortRows,
  statusTone,
  tableColumns,
  type Requirement,
} from "./table";
import { row as fixtureRow } from "../test/fixtures";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const Y = 365 * D;

const PODS: KindInfo = {
  resource: "pods",
  kind: "Pod",
  group: "",
  version: "v1",
  namespaced: true,
  category: "workloads",
  shortNames: ["po"],
  columns: [
    { name: "READY", columnType: "string", priority: 0 },
    { name: "STATUS", columnType: "string", priority: 0 },
    { name: "RESTARTS", columnType: "integer", priority: 0 },
    { name: "AGE", columnType: "age", priority: 0 },
    { name: "IP", columnType: "string", priority: 1 },
    { name: "NODE", columnType: "string", priority: 1 },
  ],
};

function row(name: string, cells: Cell[] = [], extra: Partial<Row> = {}): Row {
  return fixtureRow(name, { uid: `uid-${name}-${extra.namespace ?? "default"}`, cells, ...extra });
}

describe("humanDuration (apimachinery duration.HumanDuration)", () => {
  it.each([
    [-3 * S, "<invalid>"],
    [-2 * S, "<invalid>"],
    [-1.5 * S, "0s"],
    [-1 * S, "0s"],
    [-0.5 * S, "0s"],
    [0, "0s"],
    [999, "0s"],
    [45 * S, "45s"],
    [59 * S, "59s"],
    [60 * S, "60s"],
    [119 * S + 999, "119s"],
    [2 * M, "2m"],
    [2 * M + 30 * S, "2m30s"],
    [5 * M + 12 * S, "5m12s"],
    [9 * M + 59 * S, "9m59s"],
    [10 * M, "10m"],
    [10 * M + 59 * S, "10m"],
    [179 * M, "179m"],
    [3 * H, "3h"],
    [3 * H + 5 * M, "3h5m"],
    [7 * H + 59 * M + 59 * S, "7h59m"],
    [8 * H, "8h"],
    [8 * H + 30 * M, "8h"],
    [47 * H + 59 * M, "47h"],
    [48 * H, "2d"],
    [3 * D + 4 * H, "3d4h"],
    [7 * D + 23 * H, "7d23h"],
    [8 * D, "8d"],
    [8 * D + 5 * H, "8d"],
    [729 * D, "729d"],
    [2 * Y, "2y"],
    [2 * Y + 40 * D, "2y40d"],
    [7 * Y + 364 * D, "7y364d"],
    [8 * Y, "8y"],
    [9 * Y + 100 * D, "9y"],
  ])("%d ms → %s", (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe("formatAge / cellText", () => {
  const now = Date.parse("2026-11-28T12:00:00Z");
  it("renders an RFC 3339 timestamp as kubectl's age", () => {
    expect(formatAge("2026-11-28T11:57:30Z", now)).toBe("2m30s");
    expect(formatAge("2026-11-28T08:55:00Z", now)).toBe("3h5m");
  });
  it("says <unknown> for a missing or unparsable timestamp", () => {
    expect(formatAge(null, now)).toBe("<unknown>");
    expect(formatAge("yesterday", now)).toBe("<unknown>");
  });
  it("prints empty cells as <none> and numbers as numbers", () => {
    expect(cellText(null, "string", now)).toBe("<none>");
    expect(cellText(3, "integer", now)).toBe("3");
    expect(cellText("1/1", "string", now)).toBe("1/1");
    expect(cellText("2026-11-28T11:59:15Z", "age", now)).toBe("45s");
    expect(cellText(null, "age", now, "AGE")).toBe("<unknown>");
    expect(cellText(null, "age", now, "LAST SCHEDULE")).toBe("<none>");
    expect(cellText("2026-11-28T11:00:00Z", "age", now, "LAST SCHEDULE")).toBe("60m");
  });
});

describe("tableColumns", () => {
  it("shows NAMESPACE only for all namespaces of a namespaced kind, wide columns on request", () => {
    expect(tableColumns(PODS, false, false).map((c) => c.id)).toEqual([
      "NAME",
      "READY",
      "STATUS",
      "RESTARTS",
      "AGE",
    ]);
    expect(tableColumns(PODS, true, true).map((c) => c.id)).toEqual([
      "NAMESPACE",
      "NAME",
      "READY",
      "STATUS",
      "RESTARTS",
      "AGE",
      "IP",
      "NODE",
    ]);
    const nodes: KindInfo = { ...PODS, resource: "nodes", namespaced: false };
    expect(tableColumns(nodes, true, false)[0]?.id).toBe("NAME");
  });
  it("keeps each cell's index into Row.cells when wide columns are hidden", () => {
    const cols = tableColumns(PODS, false, true);
    expect(cols.find((c) => c.id === "NODE")?.cell).toBe(5);
    expect(cols.find((c) => c.id === "NODE")?.wide).toBe(true);
  });
});

describe("sorting", () => {
  const cols = tableColumns(PODS, true, true);
  const names = (rows: Row[]) => rows.map((r) => r.name);

  it("orders names naturally", () => {
    expect(compareNatural("web-2", "web-10")).toBeLessThan(0);
    expect(compareNatural("web-10", "web-2")).toBeGreaterThan(0);
    expect(compareNatural("web", "web-1")).toBeLessThan(0);
    expect(compareNatural("a1b2", "a1b10")).toBeLessThan(0);
    expect(compareNatural("v1.9.0", "v1.10.0")).toBeLessThan(0);
    expect(compareNatural("1", "01")).toBeLessThan(0);
    expect(compareNatural("007", "7")).toBeGreaterThan(0);
    expect(compareNatural("99999999999999999998", "99999999999999999999")).toBeLessThan(0);
    expect(compareNatural("Web", "web-0")).toBeLessThan(0);
    expect(compareNatural("Web", "web")).toBeLessThan(0);
    expect(compareNatural("web", "web")).toBe(0);
    const sorted = ["b", "A", "a", "B", "a10", "a9"].sort(compareNatural);
    expect(sorted).toEqual(["A", "a", "a9", "a10", "B", "b"]);
    const rows = ["web-10", "web-2", "web-1", "api"].map((n) => row(n));
    expect(names(sortRows(rows, cols, { column: "NAME", direction: "asc" }))).toEqual([
      "api",
      "web-1",
      "web-2",
      "web-10",
    ]);
    expect(names(sortRows(rows, cols, { column: "NAME", direction: "desc" }))).toEqual([
      "web-10",
      "web-2",
      "web-1",
      "api",
    ]);
  });

  it("sorts Integer columns numerically with empty cells last either way", () => {
    const rows = [
      row("a", ["1/1", "Running", 10, null]),
      row("b", ["1/1", "Running", 9, null]),
      row("c", ["1/1", "Running", null, null]),
      row("d", ["1/1", "Running", 100, null]),
    ];
    expect(names(sortRows(rows, cols, { column: "RESTARTS", direction: "asc" }))).toEqual(["b", "a", "d", "c"]);
    expect(names(sortRows(rows, cols, { column: "RESTARTS", direction: "desc" }))).toEqual(["d", "a", "b", "c"]);
  });

  it("sorts AGE by timestamp, youngest first ascending", () => {
    const rows = [
      row("old", [null, null, null, "2026-11-01T00:00:00Z"]),
      row("new", [null, null, null, "2026-11-28T00:00:00Z"]),
      row("mid", [null, null, null, "2026-11-15T00:00:00+00:00"]),
    ];
    expect(names(sortRows(rows, cols, { column: "AGE", direction: "asc" }))).toEqual(["new", "mid", "old"]);
    expect(names(sortRows(rows, cols, { column: "AGE", direction: "desc" }))).toEqual(["old", "mid", "new"]);
  });

  it("breaks ties by namespace then name and leaves the input alone", () => {
    const rows = [
      row("b", ["1/1"], { namespace: "z" }),
      row("a", ["1/1"], { namespace: "z" }),
      row("c", ["1/1"], { namespace: "a" }),
    ];
    const before = [...rows];
    expect(names(sortRows(rows, cols, { column: "READY", direction: "desc" }))).toEqual(["c", "a", "b"]);
    expect(rows).toEqual(before);
  });

  it("flips direction on the same header, starts ascending on another", () => {
    expect(nextSort({ column: "NAME", direction: "asc" }, "NAME")).toEqual({ column: "NAME", direction: "desc" });
    expect(nextSort({ column: "NAME", direction: "desc" }, "NAME")).toEqual({ column: "NAME", direction: "asc" });
    expect(nextSort({ column: "NAME", direction: "desc" }, "AGE")).toEqual({ column: "AGE", direction: "asc" });
  });
});

describe("label selectors", () => {
  const ok = (text: string): Requirement[] => {
    const parsed = parseSelector(text);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.selector;
  };

  it("parses kubectl's syntax", () => {
    expect(ok("app=web,tier!=db, env in (a, b),!legacy,key")).toEqual([
      { key: "app", op: "in", values: ["web"] },
      { key: "tier", op: "notIn", values: ["db"] },
      { key: "env", op: "in", values: ["a", "b"] },
      { key: "legacy", op: "notExists" },
      { key: "key", op: "exists" },
    ]);
    expect(ok("app==web")).toEqual([{ key: "app", op: "in", values: ["web"] }]);
    expect(ok("env notin (prod)")).toEqual([{ key: "env", op: "notIn", values: ["prod"] }]);
    expect(ok("app.kubernetes.io/name=web")).toEqual([
      { key: "app.kubernetes.io/name", op: "in", values: ["web"] },
    ]);
    expect(ok("replicas>2")).toEqual([{ key: "replicas", op: "gt", value: 2 }]);
    expect(ok("  ")).toEqual([]);
  });

  it("rejects malformed selectors with a message naming the problem", () => {
    for (const bad of ["app=web,", "env in (a,b", "a b", "app=we b", "-x=1", "n>x", "a,,b"]) {
      const parsed = parseSelector(bad);
      expect(parsed.ok, bad).toBe(false);
      if (!parsed.ok) expect(parsed.error).toMatch(/selector/i);
    }
  });

  it("matches with Kubernetes semantics", () => {
    const web = { app: "web", env: "a", replicas: "3" };
    const db = { app: "db", tier: "db" };
    const sel = ok("app=web,tier!=db,env in (a,b),!legacy,replicas");
    expect(matchesSelector(web, sel)).toBe(true);
    expect(matchesSelector(db, sel)).toBe(false);
    expect(matchesSelector({}, ok("tier!=db"))).toBe(true);
    expect(matchesSelector({}, ok("env notin (a)"))).toBe(true);
    expect(matchesSelector({}, ok("env in (a)"))).toBe(false);
    expect(matchesSelector({ legacy: "" }, ok("!legacy"))).toBe(false);
    expect(matchesSelector(web, ok("replicas>2"))).toBe(true);
    expect(matchesSelector(web, ok("replicas<3"))).toBe(false);
    expect(matchesSelector({ replicas: "many" }, ok("replicas>2"))).toBe(false);
    expect(matchesSelector(web, [])).toBe(true);
  });
});

describe("text filter", () => {
  it("matches name, namespace and cells (not the AGE timestamp), case-insensitively, all terms", () => {
    const rows = [
      row("web-1", ["1/1", "Running", 0, "2026-11-28T00:00:00Z", "10.0.0.5", "worker-1"]),
      row("db-0", ["0/1", "CrashLoopBackOff", 7, "2026-11-28T00:00:00Z", null, "worker-2"], {
        namespace: "data",
      }),
    ];
    const f = (q: string) => filterRows(rows, q, [], PODS.columns).map((r) => r.name);
    expect(f("")).toEqual(["web-1", "db-0"]);
    expect(f("WEB")).toEqual(["web-1"]);
    expect(f("data")).toEqual(["db-0"]);
    expect(f("crashloop")).toEqual(["db-0"]);
    expect(f("10.0.0")).toEqual(["web-1"]);
    expect(f("worker running")).toEqual(["web-1"]);
    expect(f("2026")).toEqual([]);
  });

  it("memoises the search text per row object", () => {
    const r = row("web", ["1/1"]);
    const first = searchText(r, PODS.columns);
    expect(searchText(r, PODS.columns)).toBe(first);
    const changed = { ...r, cells: ["0/1"] };
    expect(searchText(changed, PODS.columns)).toContain("0/1");
  });

  it("sorts 10,000 rows by every column type", () => {
    const cols = tableColumns(PODS, true, false);
    const rows: Row[] = [];
    for (let i = 0; i < 10_000; i++) {
      const n = (i * 7919) % 10_000;
      rows.push(row(`pod-${String(n)}`, ["1/1", n % 3 ? "Running" : "Pending", n % 5, new Date(1_700_000_000_000 + n * 1000).toISOString()]));
    }
    const times: string[] = [];
    for (const column of ["NAME", "STATUS", "RESTARTS", "AGE"]) {
      const start = performance.now();
      const sorted = sortRows(rows, cols, { column, direction: "asc" });
      times.push(`${column} ${(performance.now() - start).toFixed(1)} ms`);
      expect(sorted).toHaveLength(10_000);
      if (column === "NAME") expect(sorted.slice(0, 3).map((r) => r.name)).toEqual(["pod-0", "pod-1", "pod-2"]);
      if (column === "AGE") expect(sorted[0]?.name).toBe("pod-9999");
      if (column === "STATUS") expect(sorted[0]?.cells[1]).toBe("Pending");
    }
    console.log(`sorting 10,000 rows: ${times.join(", ")}`);
  });

  it("filters 10,000 rows by text and selector", () => {
    const rows: Row[] = [];
    for (let i = 0; i < 10_000; i++) {
      rows.push(
        row(`pod-${String(i)}`, ["1/1", i % 10 === 0 ? "Pending" : "Running", i % 3, "2026-11-28T00:00:00Z"], {
          namespace: `ns-${String(i % 50)}`,
          labels: { app: i % 2 === 0 ? "web" : "api", shard: String(i % 4) },
        }),
      );
    }
    const selector = parseSelector("app=web,shard in (0,2)");
    if (!selector.ok) throw new Error(selector.error);
    const cold = performance.now();
    const pending = filterRows(rows, "pending", [], PODS.columns);
    const coldMs = performance.now() - cold;
    const warm = performance.now();
    const both = filterRows(rows, "pod-1", selector.selector, PODS.columns);
    const warmMs = performance.now() - warm;
    console.log(
      `filtering 10,000 rows: ${coldMs.toFixed(1)} ms cold (search texts built), ${warmMs.toFixed(1)} ms warm`,
    );
    expect(pending).toHaveLength(1000);
    expect(pending.every((r) => r.cells[1] === "Pending")).toBe(true);
    const expected = rows.filter((r) => r.name.includes("pod-1") && r.labels.app === "web");
    expect(both).toEqual(expected);
    expect(both.length).toBeGreaterThan(0);
  });
});

describe("statusTone", () => {
  it("reads kubectl's status words", () => {
    expect(statusTone("Running")).toBe("ok");
    expect(statusTone("Ready")).toBe("ok");
    expect(statusTone("Ready,SchedulingDisabled")).toBe("ok");
    expect(statusTone("Pending")).toBe("warn");
    expect(statusTone("Init:0/2")).toBe("warn");
    expect(statusTone("CrashLoopBackOff")).toBe("bad");
    expect(statusTone("ImagePullBackOff")).toBe("bad");
    expect(statusTone("Init:Error")).toBe("bad");
    expect(statusTone("NotReady")).toBe("bad");
    expect(statusTone("ClusterIP")).toBeNull();
  });
});
