// The check engine: whether a step's checks hold, from the objects the lesson watches and
// the outputs of the commands and requests it polls. Pure (no IPC, no clock), so every rule
// is unit-tested; the runner feeds it.
import type { Check, ObjectRef, Op, OutputMatch, Where } from "./lesson";
import { scalarText, valueAt } from "./paths";

/** A whole object as the API server returns it. */
export type KubeObject = Readonly<Record<string, unknown>>;

/** The objects the lesson watches, by kind (`Pod`), every namespace mixed. */
export type ObjectsByKind = Readonly<Record<string, readonly KubeObject[]>>;

/** Values captured so far, used as `${name}`. */
export type Vars = Readonly<Record<string, string>>;

/** What a polled command or request gave last. */
export type Output =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly error: string };

/** Everything a check is evaluated against. */
export interface World {
  readonly objects: ObjectsByKind;
  /** The lesson's namespace: the default for references. */
  readonly namespace: string;
  /** Kinds without a namespace (Node, Namespace, …). */
  readonly clusterScoped: ReadonlySet<string>;
  /** For `changed` checks: the value seen when the step became active, by `checkKey`. */
  readonly baseline?: Readonly<Record<string, unknown>>;
  /** For `exec` / `ingress` checks: the last output, by `checkKey`. */
  readonly outputs?: Readonly<Record<string, Output>>;
}

export interface Verdict {
  readonly held: boolean;
  /** Why not (or what was seen), for the check's tooltip. */
  readonly detail: string;
}

/** The key a check's baseline and polled output are stored under. */
export function checkKey(stepId: string, index: number): string {
  return `${stepId}#${String(index)}`;
}

/** `text` with every `${name}` replaced by its value (unknown names are left as they are). */
export function substitute(text: string, vars: Vars): string {
  return text.replace(/\$\{([^}]*)\}/g, (whole, name: string) => vars[name] ?? whole);
}

/** Every string inside `value` substituted (objects and arrays copied). */
export function substituteAll<T>(value: T, vars: Vars): T {
  if (typeof value === "string") return substitute(value, vars) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => substituteAll(v, vars)) as T;
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteAll(v, vars)])) as T;
  }
  return value;
}

function metadata(object: KubeObject): Record<string, unknown> {
  const meta = object["metadata"];
  return typeof meta === "object" && meta !== null ? (meta as Record<string, unknown>) : {};
}

function createdAt(object: KubeObject): string {
  const value = metadata(object)["creationTimestamp"];
  return typeof value === "string" ? value : "";
}

/** The objects `ref` names, oldest first. */
export function matching(ref: ObjectRef, world: World): KubeObject[] {
  const namespace = world.clusterScoped.has(ref.kind) ? undefined : (ref.namespace ?? world.namespace);
  return (world.objects[ref.kind] ?? [])
    .filter((object) => {
      const meta = metadata(object);
      if (namespace !== undefined && meta["namespace"] !== namespace) return false;
      if (ref.name !== undefined && meta["name"] !== ref.name) return false;
      const labels = (typeof meta["labels"] === "object" && meta["labels"] !== null ? meta["labels"] : {}) as Record<string, unknown>;
      return Object.entries(ref.labels ?? {}).every(([k, v]) => labels[k] === v);
    })
    .sort((a, b) => createdAt(a).localeCompare(createdAt(b)));
}

function asNumber(value: unknown): number | null {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return null;
}

/** Whether `actual op expected` holds. Numbers and numeric strings compare as numbers. */
export function compare(actual: unknown, op: Op, expected?: string | number | boolean): boolean {
  switch (op) {
    case "exists":
      return actual !== undefined && actual !== null;
    case "absent":
      return actual === undefined || actual === null;
    case "==":
    case "!=": {
      const a = asNumber(actual);
      const e = asNumber(expected);
      const equal = a !== null && e !== null ? a === e : scalarText(actual) !== undefined && scalarText(actual) === scalarText(expected);
      return op === "==" ? equal : !equal;
    }
    case ">=":
    case "<=":
    case ">":
    case "<": {
      const a = asNumber(actual);
      const e = asNumber(expected);
      if (a === null || e === null) return false;
      if (op === ">=") return a >= e;
      if (op === "<=") return a <= e;
      if (op === ">") return a > e;
      return a < e;
    }
    case "contains": {
      const needle = scalarText(expected);
      if (needle === undefined) return false;
      if (typeof actual === "string") return actual.includes(needle);
      if (Array.isArray(actual)) return (actual as unknown[]).some((item) => scalarText(item) === needle);
      return false;
    }
    case "matches": {
      const text = scalarText(actual);
      const pattern = scalarText(expected);
      if (text === undefined || pattern === undefined) return false;
      return safeTest(pattern, text);
    }
  }
}

/** Whether `pattern` (multi-line: `^`/`$` at line ends) finds `text`; a bad pattern finds nothing. */
function safeTest(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern, "m").test(text);
  } catch {
    return false;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The first `where` clause `object` fails, or null when it meets them all. */
function failedWhere(object: KubeObject, where: readonly Where[]): string | null {
  for (const clause of where) {
    const actual = valueAt(object, clause.path);
    if (!compare(actual, clause.op, clause.value)) {
      const expected = clause.value === undefined ? "" : ` ${JSON.stringify(clause.value)}`;
      return `${clause.path} is ${describe(actual)}, not ${clause.op}${expected}`;
    }
  }
  return null;
}

function refName(ref: ObjectRef): string {
  if (ref.name !== undefined) return `${ref.kind} ${ref.name}`;
  const labels = Object.entries(ref.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return labels.length > 0 ? `${ref.kind}s with ${labels.join(",")}` : `${ref.kind}s`;
}

/** Whether `text` meets `match` (all of its conditions). */
export function matchOutput(text: string, match: OutputMatch): Verdict {
  if (match.equals !== undefined && text.trim() !== match.equals.trim()) return { held: false, detail: `the output is ${describe(text.trim())}, not ${describe(match.equals.trim())}` };
  if (match.contains !== undefined && !text.includes(match.contains)) return { held: false, detail: `the output does not contain ${describe(match.contains)}` };
  if (match.matches !== undefined) {
    if (!safeTest(match.matches, text)) return { held: false, detail: `the output does not match /${match.matches}/` };
  }
  if (match.distinctLines !== undefined) {
    const distinct = new Set(text.split("\n").map((l) => l.trim()).filter((l) => l !== "")).size;
    if (distinct < match.distinctLines) return { held: false, detail: `the output has ${String(distinct)} different lines, fewer than ${String(match.distinctLines)}` };
  }
  return { held: true, detail: "the output is as expected" };
}

/**
 * Whether `check` holds in `world`. `key` identifies the check for baselines and polled
 * outputs (`checkKey(step, index)`); `check` must already have its `${vars}` substituted.
 */
export function evaluate(check: Check, world: World, key = ""): Verdict {
  switch (check.type) {
    case "object": {
      const found = matching(check.ref, world);
      const first = found[0];
      if (check.absent) {
        return first ? { held: false, detail: `${refName(check.ref)} still exists` } : { held: true, detail: `${refName(check.ref)} is gone` };
      }
      if (!first) return { held: false, detail: `${refName(check.ref)} does not exist` };
      const failed = failedWhere(first, check.where);
      return failed ? { held: false, detail: failed } : { held: true, detail: `${refName(check.ref)} is as expected` };
    }
    case "count": {
      const found = matching(check.ref, world).filter((object) => failedWhere(object, check.where) === null);
      const held = compare(found.length, check.op, check.value);
      return { held, detail: `${String(found.length)} ${refName(check.ref)} match (wanted ${check.op} ${String(check.value)})` };
    }
    case "changed": {
      const first = matching(check.ref, world)[0];
      if (!first) return { held: false, detail: `${refName(check.ref)} does not exist` };
      const now = valueAt(first, check.path);
      const before = world.baseline?.[key];
      if (now === undefined) return { held: false, detail: `${check.path} is not set` };
      return JSON.stringify(now) !== JSON.stringify(before)
        ? { held: true, detail: `${check.path} changed to ${describe(now)}` }
        : { held: false, detail: `${check.path} is still ${describe(now)}` };
    }
    case "exec":
    case "ingress": {
      const output = world.outputs?.[key];
      if (!output) return { held: false, detail: "not tried yet" };
      if (!output.ok) return { held: false, detail: output.error };
      return matchOutput(output.text, check.output);
    }
  }
}

/** The value a `changed` check compares with later: its path in the object now (if any). */
export function baselineOf(check: Check, world: World): unknown {
  if (check.type !== "changed") return undefined;
  const first = matching(check.ref, world)[0];
  return first ? valueAt(first, check.path) : undefined;
}

/** A `from` capture's value: the path in the oldest matching object, as text. */
export function captureFrom(ref: ObjectRef, path: string, world: World): string | undefined {
  const first = matching(ref, world)[0];
  if (!first) return undefined;
  const value = valueAt(first, path);
  return scalarText(value) ?? (value === undefined ? undefined : JSON.stringify(value));
}

/** The kinds a check reads objects of. */
export function kindsOf(check: Check): string[] {
  return check.type === "object" || check.type === "count" || check.type === "changed" ? [check.ref.kind] : [];
}
