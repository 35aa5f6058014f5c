// The resource table's pure logic: which columns a kind shows, kubectl's AGE format, sorting
// (type-aware, natural for names), the text filter and kubectl label selectors. The component
// (views/ResourceTable.tsx) only wires these to state, so everything here is tested directly.
import type { Cell, ColumnType, KindInfo, Row } from "../ipc/resources";

/** A column as the table shows it: NAME and NAMESPACE are row fields, the rest are cells. */
export interface TableColumn {
  /** Stable id for sorting state and test ids (`NAME`, `NAMESPACE`, the kubectl header). */
  id: string;
  header: string;
  columnType: ColumnType;
  /** Index into `Row.cells`; `null` for NAME and NAMESPACE. */
  cell: number | null;
  /** Only shown in wide mode (`kubectl get -o wide`). */
  wide: boolean;
}

/**
 * The columns of `kind`: NAME, NAMESPACE when listing every namespace of a namespaced kind,
 * then kubectl's columns (priority 0, plus priority 1 ones when `wide`).
 */
export function tableColumns(kind: KindInfo, allNamespaces: boolean, wide: boolean): TableColumn[] {
  const columns: TableColumn[] = [];
  if (allNamespaces && kind.namespaced) {
    columns.push({ id: "NAMESPACE", header: "NAMESPACE", columnType: "string", cell: null, wide: false });
  }
  columns.push({ id: "NAME", header: "NAME", columnType: "string", cell: null, wide: false });
  kind.columns.forEach((column, index) => {
    if (column.priority > 0 && !wide) return;
    columns.push({
      id: column.name,
      header: column.name,
      columnType: column.columnType,
      cell: index,
      wide: column.priority > 0,
    });
  });
  return columns;
}

// ---------------------------------------------------------------------------------------------
// AGE

/**
 * kubectl's age format: apimachinery's `duration.HumanDuration`, ~2–3 significant figures
 * (`45s`, `2m30s`, `10m`, `3h5m`, `9h`, `3d4h`, `12d`, `2y40d`, `9y`). Negative durations
 * down to -1 s count as clock skew (`0s`); beyond that kubectl prints `<invalid>`.
 */
export function humanDuration(ms: number): string {
  // Go truncates toward zero: int(d.Seconds()).
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return `${String(seconds)}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${String(minutes)}m` : `${String(minutes)}m${String(s)}s`;
  }
  if (minutes < 60 * 3) return `${String(minutes)}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${String(hours)}h` : `${String(hours)}h${String(m)}m`;
  }
  if (hours < 48) return `${String(hours)}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${String(days)}d` : `${String(days)}d${String(h)}h`;
  }
  if (hours < 24 * 365 * 2) return `${String(days)}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) {
    const d = days % 365;
    return d === 0 ? `${String(years)}y` : `${String(years)}y${String(d)}d`;
  }
  return `${String(years)}y`;
}

/** The AGE text for an RFC 3339 timestamp at `nowMs`; `<unknown>` as kubectl prints for none. */
export function formatAge(timestamp: Cell, nowMs: number): string {
  if (typeof timestamp !== "string" || timestamp === "") return "<unknown>";
  const at = Date.parse(timestamp);
  if (Number.isNaN(at)) return "<unknown>";
  return humanDuration(nowMs - at);
}

/** Time columns kubectl prints as `<none>` when unset (a CronJob that never ran), not `<unknown>`. */
const NONE_WHEN_UNSET = new Set(["LAST SCHEDULE"]);

/**
 * A cell as text: ages formatted for `nowMs`, empty cells as kubectl prints them (`<none>`,
 * or `<unknown>` for a missing timestamp).
 */
export function cellText(cell: Cell, columnType: ColumnType, nowMs: number, header = ""): string {
  if (columnType === "age") {
    return cell === null && NONE_WHEN_UNSET.has(header) ? "<none>" : formatAge(cell, nowMs);
  }
  if (cell === null) return "<none>";
  return typeof cell === "number" ? String(cell) : cell;
}

// ---------------------------------------------------------------------------------------------
// Sorting

export type SortDirection = "asc" | "desc";

export interface SortSpec {
  column: string;
  direction: SortDirection;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/**
 * Natural order of two strings already folded to one case: runs of digits compare as numbers
 * (`web-2` before `web-10`), everything else by code unit. Hand-written because
 * `Intl.Collator` costs ~15 µs a comparison, too slow to sort 10,000 rows on every batch.
 */
function naturalCore(a: string, b: string): number {
  // Skip the common prefix (names of one kind share most of theirs), backing up to the start
  // of a digit run the first difference falls in.
  const shorter = Math.min(a.length, b.length);
  let p = 0;
  while (p < shorter && a.charCodeAt(p) === b.charCodeAt(p)) p++;
  if (p === shorter) return a.length - b.length;
  if (isDigit(a.charCodeAt(p)) || isDigit(b.charCodeAt(p))) {
    while (p > 0 && isDigit(a.charCodeAt(p - 1))) p--;
  }
  let i = p;
  let j = p;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    if (isDigit(ca) && isDigit(cb)) {
      let si = i;
      while (si < a.length && a.charCodeAt(si) === 48) si++;
      let sj = j;
      while (sj < b.length && b.charCodeAt(sj) === 48) sj++;
      let ei = si;
      while (ei < a.length && isDigit(a.charCodeAt(ei))) ei++;
      let ej = sj;
      while (ej < b.length && isDigit(b.charCodeAt(ej))) ej++;
      // Without leading zeros, a longer run is a bigger number.
      if (ei - si !== ej - sj) return ei - si - (ej - sj);
      for (let k = 0; k < ei - si; k++) {
        const d = a.charCodeAt(si + k) - b.charCodeAt(sj + k);
        if (d !== 0) return d;
      }
      // Equal values: fewer leading zeros first (`1` before `01`).
      if (si - i !== sj - j) return si - i - (sj - j);
      i = ei;
      j = ej;
    } else {
      if (ca !== cb) return ca - cb;
      i++;
      j++;
    }
  }
  return a.length - i - (b.length - j);
}

/** Compares two strings naturally and case-insensitively; case only breaks ties, so the order is total. */
export function compareNatural(a: string, b: string): number {
  const folded = naturalCore(a.toLowerCase(), b.toLowerCase());
  if (folded !== 0) return folded;
  return a < b ? -1 : a > b ? 1 : 0;
}

type SortKey = string | number | null;

/** A row's key for `column`: numbers for Integer and AGE, case-folded text otherwise. */
function sortKey(row: Row, column: TableColumn): SortKey {
  if (column.cell === null) {
    return (column.id === "NAMESPACE" ? (row.namespace ?? "") : row.name).toLowerCase();
  }
  const cell = row.cells[column.cell] ?? null;
  switch (column.columnType) {
    case "integer":
      if (typeof cell === "number") return cell;
      if (typeof cell === "string" && cell.trim() !== "" && Number.isFinite(Number(cell))) {
        return Number(cell);
      }
      return null;
    case "age": {
      // Ascending age = youngest first, so the key is the negated creation time.
      if (typeof cell !== "string") return null;
      const at = Date.parse(cell);
      return Number.isNaN(at) ? null : -at;
    }
    case "string":
      return cell === null ? null : String(cell).toLowerCase();
  }
}

function compareKeys(a: string | number, b: string | number): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return naturalCore(String(a), String(b));
}

interface Keyed {
  row: Row;
  key: SortKey;
  /** Namespace and name, case-folded: ties are broken by them. */
  identity: string;
}

function compareIdentity(a: Keyed, b: Keyed): number {
  return (
    naturalCore(a.identity, b.identity) ||
    compareNatural(a.row.namespace ?? "", b.row.namespace ?? "") ||
    compareNatural(a.row.name, b.row.name)
  );
}

/**
 * `rows` sorted by `spec` (a new array). Empty cells sort last in both directions; Integer
 * columns numerically, AGE by creation time (ascending = youngest first), text naturally;
 * ties (and an unknown column) by namespace, then name. Keys are computed once per row.
 */
export function sortRows(rows: readonly Row[], columns: readonly TableColumn[], spec: SortSpec): Row[] {
  const column = columns.find((c) => c.id === spec.column);
  const sign = spec.direction === "asc" ? 1 : -1;
  const keyed: Keyed[] = rows.map((row) => ({
    row,
    key: column ? sortKey(row, column) : null,
    identity: `${row.namespace ?? ""}\u0000${row.name}`.toLowerCase(),
  }));
  keyed.sort((a, b) => {
    if (a.key === null || b.key === null) {
      if (a.key === b.key) return compareIdentity(a, b);
      return a.key === null ? 1 : -1;
    }
    return sign * compareKeys(a.key, b.key) || compareIdentity(a, b);
  });
  return keyed.map((k) => k.row);
}

/** The sort after clicking `column`'s header: the same column flips, a new one starts ascending. */
export function nextSort(current: SortSpec, column: string): SortSpec {
  if (current.column === column) {
    return { column, direction: current.direction === "asc" ? "desc" : "asc" };
  }
  return { column, direction: "asc" };
}

// ---------------------------------------------------------------------------------------------
// Text filter

const searchTexts = new WeakMap<Row, string>();

/**
 * The lowercase text the filter searches in a row: name, namespace and every non-AGE cell.
 * Memoised by row identity: the watch store replaces a row object whenever it changes, so a
 * cached text is never stale, and 10,000 rows cost one string each per version.
 */
export function searchText(row: Row, columns: readonly { columnType: ColumnType }[]): string {
  let text = searchTexts.get(row);
  if (text === undefined) {
    const parts = [row.name, row.namespace ?? ""];
    row.cells.forEach((cell, i) => {
      if (cell === null || columns[i]?.columnType === "age") return;
      parts.push(typeof cell === "number" ? String(cell) : cell);
    });
    text = parts.join("\u0000").toLowerCase();
    searchTexts.set(row, text);
  }
  return text;
}

/** The filter's terms: whitespace-separated, lowercase; a row must contain every one. */
export function filterTerms(query: string): string[] {
  return query.toLowerCase().split(/\s+/).filter((t) => t !== "");
}

/** Whether a row matches every term (`kindColumns` = `KindInfo.columns`, for its cell types). */
export function matchesText(
  row: Row,
  terms: readonly string[],
  kindColumns: readonly { columnType: ColumnType }[],
): boolean {
  if (terms.length === 0) return true;
  const text = searchText(row, kindColumns);
  return terms.every((term) => text.includes(term));
}

// ---------------------------------------------------------------------------------------------
// Label selectors (kubectl's `-l` syntax)

export type Requirement =
  | { key: string; op: "exists" | "notExists" }
  | { key: string; op: "in" | "notIn"; values: string[] }
  | { key: string; op: "gt" | "lt"; value: number };

export type SelectorParse = { ok: true; selector: Requirement[] } | { ok: false; error: string };

// Label keys: an optional DNS-subdomain prefix and a name; values: the same characters, may be empty.
const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Splits on commas outside parentheses (`env in (a,b),tier=web`). */
function splitRequirements(text: string): string[] | null {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "(") depth++;
    else if (ch === ")") {
      depth--;
      if (depth < 0) return null;
    } else if (ch === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return null;
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function checkKey(key: string): string | null {
  return KEY.test(key) ? null : `"${key}" is not a valid label key`;
}

function checkValue(value: string): string | null {
  return VALUE.test(value) ? null : `"${value}" is not a valid label value`;
}

function parseRequirement(text: string): Requirement | string {
  if (text === "") return "an empty requirement (two commas in a row, or a trailing comma)";
  if (text.startsWith("!")) {
    const key = text.slice(1).trim();
    return checkKey(key) ?? { key, op: "notExists" };
  }
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(text);
  if (set) {
    const key = set[1] ?? "";
    const values = (set[3] ?? "").split(",").map((v) => v.trim());
    const bad = checkKey(key) ?? values.map(checkValue).find((e) => e !== null) ?? null;
    if (bad) return bad;
    return { key, op: set[2] === "in" ? "in" : "notIn", values };
  }
  const cmp = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$/.exec(text);
  if (cmp) {
    const key = cmp[1] ?? "";
    const op = cmp[2] ?? "=";
    const value = cmp[3] ?? "";
    const badKey = checkKey(key);
    if (badKey) return badKey;
    if (op === ">" || op === "<") {
      if (!/^-?\d+$/.test(value)) return `"${key}${op}${value}" needs a whole number after ${op}`;
      return { key, op: op === ">" ? "gt" : "lt", value: Number(value) };
    }
    const badValue = checkValue(value);
    if (badValue) return badValue;
    return { key, op: op === "!=" ? "notIn" : "in", values: [value] };
  }
  return checkKey(text) ?? { key: text, op: "exists" };
}

/**
 * Parses a kubectl label selector: `app=web`, `app==web`, `tier!=db`, `env in (a,b)`,
 * `env notin (a,b)`, `key`, `!key`, `replicas>2`, comma-separated (all must hold). An empty
 * selector selects everything. Errors say which part is wrong.
 */
export function parseSelector(text: string): SelectorParse {
  if (text.trim() === "") return { ok: true, selector: [] };
  const parts = splitRequirements(text.trim());
  if (!parts) return { ok: false, error: "Unbalanced parentheses in the label selector." };
  const selector: Requirement[] = [];
  for (const part of parts) {
    const requirement = parseRequirement(part);
    if (typeof requirement === "string") {
      return { ok: false, error: `Label selector: ${requirement}. Example: app=web,tier!=db,env in (a,b)` };
    }
    selector.push(requirement);
  }
  return { ok: true, selector };
}

/** Whether `labels` satisfy every requirement, with Kubernetes' semantics (`!=` and `notin` match a missing key). */
export function matchesSelector(labels: Readonly<Record<string, string>>, selector: readonly Requirement[]): boolean {
  return selector.every((req) => {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    switch (req.op) {
      case "exists":
        return has;
      case "notExists":
        return !has;
      case "in":
        return value !== undefined && req.values.includes(value);
      case "notIn":
        return value === undefined || !req.values.includes(value);
      case "gt":
      case "lt": {
        if (value === undefined || !/^-?\d+$/.test(value)) return false;
        const n = Number(value);
        return req.op === "gt" ? n > req.value : n < req.value;
      }
    }
  });
}

/** The rows a text query and a parsed selector leave, in their order. */
export function filterRows(
  rows: readonly Row[],
  query: string,
  selector: readonly Requirement[],
  kindColumns: readonly { columnType: ColumnType }[],
): readonly Row[] {
  const terms = filterTerms(query);
  if (terms.length === 0 && selector.length === 0) return rows;
  return rows.filter(
    (row) => matchesText(row, terms, kindColumns) && matchesSelector(row.labels, selector),
  );
}

// ---------------------------------------------------------------------------------------------
// Status colours

export type Tone = "ok" | "warn" | "bad" | null;

const OK = new Set(["Running", "Completed", "Succeeded", "Ready", "Active", "Bound", "Available", "Complete"]);
const WARN = new Set(["Pending", "ContainerCreating", "PodInitializing", "Terminating", "Unknown", "Released", "Suspended"]);
const BAD_PATTERN = /BackOff|Err|Error|Failed|OOMKilled|Evicted|NotReady|Lost|Invalid|DeadlineExceeded/;

/**
 * How a STATUS cell reads at a glance (`Running` ok, `Pending` warn, `CrashLoopBackOff` bad),
 * for kubectl's status words; `Init:0/1` and other progress counts are warn; others none.
 */
export function statusTone(text: string): Tone {
  if (BAD_PATTERN.test(text)) return "bad";
  const first = text.split(",")[0]?.trim() ?? "";
  if (OK.has(first)) return "ok";
  if (WARN.has(first) || first.startsWith("Init:")) return "warn";
  return null;
}
