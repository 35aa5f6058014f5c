// Reads lesson files: parses the YAML, checks every field (unknown keys, missing fields,
// unknown ops and actions, `${var}` references to nothing) and builds the typed model. A
// problem names the file, the step and the field, so a broken lesson is fixed at a glance.
import { parse } from "yaml";
import { parsePath } from "./paths";
import {
  OPS,
  WAYS,
  type Action,
  type Capture,
  type Check,
  type ExecSpec,
  type IngressSpec,
  type Lesson,
  type ObjectRef,
  type Op,
  type OutputMatch,
  type Step,
  type Way,
  type Where,
  type Widget,
} from "./lesson";

/** A lesson file that cannot be used; the message lists every problem. */
export class LessonError extends Error {
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super(`${file}: ${problems.join("; ")}`);
    this.name = "LessonError";
  }
}

type Raw = Record<string, unknown>;

/** Variables every lesson has without capturing them. */
export const BUILTIN_VARS = ["namespace"] as const;

/** Collects problems while reading one file. */
class Reader {
  readonly problems: string[] = [];
  /** Variables defined so far (captures and nodeAdd names of this and earlier steps). */
  readonly vars = new Set<string>(BUILTIN_VARS);

  problem(at: string, message: string): void {
    const text = `${at}: ${message}`;
    // A missing field may be noticed both by its mapping and by its reader: say it once.
    if (!this.problems.includes(text)) this.problems.push(text);
  }

  record(value: unknown, at: string, allowed: readonly string[], required: readonly string[] = []): Raw | null {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.problem(at, "must be a mapping");
      return null;
    }
    const raw = value as Raw;
    for (const key of Object.keys(raw)) {
      if (!allowed.includes(key)) this.problem(`${at}.${key}`, `unknown field (expected one of ${allowed.join(", ")})`);
    }
    for (const key of required) {
      if (raw[key] === undefined || raw[key] === null) this.problem(`${at}.${key}`, "is missing");
    }
    return raw;
  }

  /** A string field; checks its `${var}` references. */
  text(raw: Raw, key: string, at: string, required: boolean): string | undefined {
    const value = raw[key];
    if (value === undefined || value === null) {
      if (required) this.problem(`${at}.${key}`, "is missing");
      return undefined;
    }
    if (typeof value !== "string" && typeof value !== "number") {
      this.problem(`${at}.${key}`, "must be text");
      return undefined;
    }
    const text = String(value);
    this.refs(text, `${at}.${key}`);
    return text;
  }

  refs(text: string, at: string): void {
    for (const match of text.matchAll(/\$\{([^}]*)\}/g)) {
      const name = match[1] ?? "";
      if (!this.vars.has(name)) this.problem(at, `\${${name}} is not captured by this or an earlier step`);
    }
  }

  number(raw: Raw, key: string, at: string): number | undefined {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      this.problem(`${at}.${key}`, "must be a number");
      return undefined;
    }
    return value;
  }

  labels(raw: Raw, key: string, at: string): Record<string, string> | undefined {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.problem(`${at}.${key}`, "must be a mapping of label keys to values");
      return undefined;
    }
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(value as Raw)) {
      if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
        this.problem(`${at}.${key}.${k}`, "must be text");
        continue;
      }
      labels[k] = String(v);
      this.refs(String(v), `${at}.${key}.${k}`);
    }
    return labels;
  }

  list(value: unknown, at: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.problem(at, "must be a list");
      return [];
    }
    return value as unknown[];
  }

  path(raw: Raw, key: string, at: string): string | undefined {
    const path = this.text(raw, key, at, true);
    if (path === undefined) return undefined;
    try {
      parsePath(path);
    } catch (e: unknown) {
      this.problem(`${at}.${key}`, e instanceof Error ? e.message : String(e));
    }
    return path;
  }

  ref(value: unknown, at: string, extra: readonly string[] = [], needName = false): { ref: ObjectRef; raw: Raw } | null {
    const raw = this.record(value, at, ["kind", "namespace", "name", "labels", ...extra], needName ? ["kind", "name"] : ["kind"]);
    if (!raw) return null;
    const kind = this.text(raw, "kind", at, true);
    if (kind !== undefined && !/^[A-Z][A-Za-z0-9]*$/.test(kind)) this.problem(`${at}.kind`, `"${kind}" is not a kind (like Pod or Deployment)`);
    const namespace = this.text(raw, "namespace", at, false);
    const name = this.text(raw, "name", at, needName);
    const labels = this.labels(raw, "labels", at);
    const ref: ObjectRef = {
      kind: kind ?? "",
      ...(namespace !== undefined ? { namespace } : {}),
      ...(name !== undefined ? { name } : {}),
      ...(labels !== undefined ? { labels } : {}),
    };
    return { ref, raw };
  }

  op(value: unknown, at: string): Op {
    if (typeof value === "string" && (OPS as readonly string[]).includes(value)) return value as Op;
    this.problem(at, `unknown op ${JSON.stringify(value)} (expected one of ${OPS.join(" ")})`);
    return "==";
  }

  where(value: unknown, at: string): Where[] {
    return this.list(value, at).flatMap((item, i) => {
      const here = `${at}[${String(i)}]`;
      const raw = this.record(item, here, ["path", "op", "value"], ["path", "op"]);
      if (!raw) return [];
      const path = this.path(raw, "path", here) ?? "";
      const op = this.op(raw["op"], `${here}.op`);
      const v = raw["value"];
      if (op !== "exists" && op !== "absent" && v === undefined) this.problem(`${here}.value`, `is missing (op ${op} compares with it)`);
      if (v !== undefined && typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") {
        this.problem(`${here}.value`, "must be text, a number or true/false");
        return [{ path, op }];
      }
      if (typeof v === "string") this.refs(v, `${here}.value`);
      if (op === "matches" && typeof v === "string") this.regex(v, `${here}.value`);
      return [v === undefined ? { path, op } : { path, op, value: v }];
    });
  }

  regex(pattern: string, at: string): void {
    try {
      new RegExp(pattern);
    } catch {
      this.problem(at, `"${pattern}" is not a valid regular expression`);
    }
  }

  command(raw: Raw, at: string): string[] {
    const value = raw["command"];
    if (!Array.isArray(value) || value.length === 0) {
      this.problem(`${at}.command`, "must be a non-empty list of words");
      return [];
    }
    return (value as unknown[]).map((word, i) => {
      if (typeof word !== "string" && typeof word !== "number") {
        this.problem(`${at}.command[${String(i)}]`, "must be text");
        return "";
      }
      this.refs(String(word), `${at}.command[${String(i)}]`);
      return String(word);
    });
  }

  exec(value: unknown, at: string): ExecSpec | null {
    const raw = this.record(value, at, ["pod", "container", "command"], ["pod", "command"]);
    if (!raw) return null;
    const pod = this.text(raw, "pod", at, true) ?? "";
    const container = this.text(raw, "container", at, false);
    const command = this.command(raw, at);
    return { pod, command, ...(container !== undefined ? { container } : {}) };
  }

  ingress(value: unknown, at: string): IngressSpec | null {
    const raw = this.record(value, at, ["host", "path"], ["host"]);
    if (!raw) return null;
    return { host: this.text(raw, "host", at, true) ?? "", path: this.text(raw, "path", at, false) ?? "/" };
  }

  output(value: unknown, at: string): OutputMatch {
    if (value === undefined) return {};
    const raw = this.record(value, at, ["contains", "equals", "matches", "distinctLines"]);
    if (!raw) return {};
    const contains = this.text(raw, "contains", at, false);
    const equals = this.text(raw, "equals", at, false);
    const matches = this.text(raw, "matches", at, false);
    if (matches !== undefined) this.regex(matches, `${at}.matches`);
    const distinctLines = this.number(raw, "distinctLines", at);
    return {
      ...(contains !== undefined ? { contains } : {}),
      ...(equals !== undefined ? { equals } : {}),
      ...(matches !== undefined ? { matches } : {}),
      ...(distinctLines !== undefined ? { distinctLines } : {}),
    };
  }

  check(value: unknown, at: string, labelRequired = true): Check | null {
    const shapes = ["object", "count", "changed", "exec", "ingress"];
    const raw = this.record(value, at, ["label", "where", "absent", "op", "value", "output", ...shapes], labelRequired ? ["label"] : []);
    if (!raw) return null;
    const label = this.text(raw, "label", at, labelRequired) ?? "";
    const present = shapes.filter((s) => raw[s] !== undefined);
    if (present.length !== 1) {
      this.problem(at, `needs exactly one of ${shapes.join(", ")} (has ${present.length === 0 ? "none" : present.join(", ")})`);
      return null;
    }
    const unexpected = (keys: readonly string[]): void => {
      for (const key of keys) if (raw[key] !== undefined) this.problem(`${at}.${key}`, `does not go with ${present[0] ?? ""}`);
    };
    switch (present[0]) {
      case "object": {
        unexpected(["op", "value", "output"]);
        const r = this.ref(raw["object"], `${at}.object`, [], true);
        const absent = raw["absent"];
        if (absent !== undefined && typeof absent !== "boolean") this.problem(`${at}.absent`, "must be true or false");
        const where = this.where(raw["where"], `${at}.where`);
        if (!r) return null;
        return { type: "object", label, ref: r.ref, where, absent: absent === true };
      }
      case "count": {
        unexpected(["absent", "output", "where"]);
        const r = this.ref(raw["count"], `${at}.count`, ["where"]);
        const where = r ? this.where(r.raw["where"], `${at}.count.where`) : [];
        const op = raw["op"] === undefined ? "==" : this.op(raw["op"], `${at}.op`);
        const count = this.number(raw, "value", at);
        if (count === undefined && raw["value"] === undefined) this.problem(`${at}.value`, "is missing (the number to compare the count with)");
        if (!r) return null;
        return { type: "count", label, ref: r.ref, where, op, value: count ?? 0 };
      }
      case "changed": {
        unexpected(["absent", "output", "where", "op", "value"]);
        const r = this.ref(raw["changed"], `${at}.changed`, ["path"], true);
        if (!r) return null;
        const path = this.path(r.raw, "path", `${at}.changed`) ?? "";
        return { type: "changed", label, ref: r.ref, path };
      }
      case "exec": {
        unexpected(["absent", "where", "op", "value"]);
        const exec = this.exec(raw["exec"], `${at}.exec`);
        const output = this.output(raw["output"], `${at}.output`);
        return exec ? { type: "exec", label, exec, output } : null;
      }
      case "ingress": {
        unexpected(["absent", "where", "op", "value"]);
        const ingress = this.ingress(raw["ingress"], `${at}.ingress`);
        const output = this.output(raw["output"], `${at}.output`);
        return ingress ? { type: "ingress", label, ingress, output } : null;
      }
      default:
        return null;
    }
  }

  action(value: unknown, at: string): Action | null {
    const names = ["apply", "delete", "scale", "rolloutUndo", "exec", "nodeStop", "nodeStart", "nodeAdd", "nodeRemove", "wait"];
    const raw = this.record(value, at, names);
    if (!raw) return null;
    const keys = Object.keys(raw);
    if (keys.length !== 1) {
      this.problem(at, `must have exactly one action (${names.join(", ")})`);
      return null;
    }
    const name = keys[0] ?? "";
    const body = raw[name];
    const here = `${at}.${name}`;
    switch (name) {
      case "apply": {
        if (typeof body !== "string") {
          this.problem(here, "must be YAML text");
          return null;
        }
        this.refs(body, here);
        this.yamlDocs(body, here);
        return { type: "apply", yaml: body };
      }
      case "delete":
      case "rolloutUndo": {
        const r = this.ref(body, here, [], true);
        return r ? { type: name, ref: r.ref } : null;
      }
      case "scale": {
        const r = this.ref(body, here, ["replicas"], true);
        if (!r) return null;
        const replicas = this.number(r.raw, "replicas", here);
        if (replicas === undefined) this.problem(`${here}.replicas`, "is missing");
        return { type: "scale", ref: r.ref, replicas: replicas ?? 0 };
      }
      case "exec": {
        const exec = this.exec(body, here);
        return exec ? { type: "exec", exec } : null;
      }
      case "nodeStop":
      case "nodeStart":
      case "nodeRemove": {
        const r = this.record(body, here, ["name"], ["name"]);
        if (!r) return null;
        return { type: name, name: this.text(r, "name", here, true) ?? "" };
      }
      case "nodeAdd": {
        const r = body === null || body === undefined ? {} : this.record(body, here, ["as"]);
        if (!r) return null;
        const as = this.text(r, "as", here, false);
        if (as !== undefined) this.vars.add(as);
        return as !== undefined ? { type: "nodeAdd", as } : { type: "nodeAdd" };
      }
      case "wait": {
        const check = this.check(body, here);
        return check ? { type: "wait", check } : null;
      }
      default:
        return null;
    }
  }

  capture(value: unknown, at: string): Capture | null {
    const raw = this.record(value, at, ["name", "from", "exec"], ["name"]);
    if (!raw) return null;
    const name = this.text(raw, "name", at, true) ?? "";
    if (name !== "" && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) this.problem(`${at}.name`, `"${name}" must be letters, digits and _`);
    let capture: Capture | null = null;
    if ((raw["from"] === undefined) === (raw["exec"] === undefined)) {
      this.problem(at, "needs exactly one of from, exec");
    } else if (raw["from"] !== undefined) {
      const r = this.ref(raw["from"], `${at}.from`, ["path"]);
      if (r) capture = { type: "from", name, ref: r.ref, path: this.path(r.raw, "path", `${at}.from`) ?? "" };
    } else {
      const exec = this.exec(raw["exec"], `${at}.exec`);
      if (exec) capture = { type: "exec", name, exec };
    }
    this.vars.add(name);
    return capture;
  }

  widget(value: unknown, at: string): Widget | null {
    const names = ["pods", "rollout", "secret", "file", "probe"];
    const raw = this.record(value, at, names);
    if (!raw) return null;
    const keys = Object.keys(raw);
    if (keys.length !== 1) {
      this.problem(at, `must have exactly one widget (${names.join(", ")})`);
      return null;
    }
    const name = keys[0] ?? "";
    const here = `${at}.${name}`;
    const body = raw[name];
    switch (name) {
      case "pods": {
        const r = this.record(body ?? {}, here, ["labels", "name"]);
        if (!r) return null;
        const labels = this.labels(r, "labels", here);
        const podName = this.text(r, "name", here, false);
        return { type: "pods", ...(labels ? { labels } : {}), ...(podName !== undefined ? { name: podName } : {}) };
      }
      case "rollout": {
        const r = this.record(body, here, ["deployment"], ["deployment"]);
        return r ? { type: "rollout", deployment: this.text(r, "deployment", here, true) ?? "" } : null;
      }
      case "secret": {
        const r = this.record(body, here, ["name"], ["name"]);
        return r ? { type: "secret", name: this.text(r, "name", here, true) ?? "" } : null;
      }
      case "file": {
        const r = this.record(body, here, ["pod", "container", "path"], ["pod", "path"]);
        if (!r) return null;
        const container = this.text(r, "container", here, false);
        return {
          type: "file",
          pod: this.text(r, "pod", here, true) ?? "",
          path: this.text(r, "path", here, true) ?? "",
          ...(container !== undefined ? { container } : {}),
        };
      }
      case "probe": {
        const r = this.record(body, here, ["label", "exec", "ingress", "browser"], ["label"]);
        if (!r) return null;
        if ((r["exec"] === undefined) === (r["ingress"] === undefined)) this.problem(here, "needs exactly one of exec, ingress");
        const exec = r["exec"] !== undefined ? this.exec(r["exec"], `${here}.exec`) : null;
        const ingress = r["ingress"] !== undefined ? this.ingress(r["ingress"], `${here}.ingress`) : null;
        const browser = r["browser"];
        if (browser !== undefined && typeof browser !== "boolean") this.problem(`${here}.browser`, "must be true or false");
        if (browser === true && !ingress) this.problem(`${here}.browser`, "only goes with ingress");
        return {
          type: "probe",
          label: this.text(r, "label", here, true) ?? "",
          browser: browser === true,
          ...(exec ? { exec } : {}),
          ...(ingress ? { ingress } : {}),
        };
      }
      default:
        return null;
    }
  }

  /** Checks that YAML text parses into objects with a kind. */
  yamlDocs(text: string, at: string): void {
    try {
      for (const doc of parseDocuments(text)) {
        if (typeof doc["kind"] !== "string") this.problem(at, "a document has no kind");
      }
    } catch (e: unknown) {
      this.problem(at, `is not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/** The objects of a multi-document YAML text (empty documents skipped); throws on bad YAML. */
export function parseDocuments(text: string): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  for (const part of text.split(/^---[ \t]*$/m)) {
    if (part.trim() === "") continue;
    const value: unknown = parse(part);
    if (value === null || value === undefined) continue;
    if (typeof value !== "object" || Array.isArray(value)) throw new Error("a document is not a mapping");
    docs.push(value as Record<string, unknown>);
  }
  return docs;
}

/** The id a lesson file's name gives it: `02-pods.yaml` → `pods`. */
export function fileId(file: string): string {
  const base = file.split("/").pop() ?? file;
  return base.replace(/\.ya?ml$/, "").replace(/^\d+-/, "");
}

const LESSON_KEYS = ["id", "title", "summary", "minutes", "namespace", "docs", "explanation", "setup", "steps"];
const STEP_KEYS = ["id", "title", "text", "way", "yaml", "command", "highlight", "hint", "capture", "show", "checks", "showMe"];

function readStep(reader: Reader, value: unknown, index: number, seen: Set<string>): Step | null {
  const given: unknown = typeof value === "object" && value !== null ? (value as Raw)["id"] : undefined;
  const id = typeof given === "string" ? given : "";
  const at = id !== "" ? `step ${id}` : `step ${String(index + 1)}`;
  const raw = reader.record(value, at, STEP_KEYS, ["id", "title", "text", "way", "checks"]);
  if (!raw) return null;
  if (id !== "" && seen.has(id)) reader.problem(`${at}.id`, "is used by an earlier step too");
  seen.add(id);
  // Captures first: they are taken when the step becomes active, so the whole step may use them.
  const capture = reader.list(raw["capture"], `${at}.capture`).flatMap((c, i) => reader.capture(c, `${at}.capture[${String(i)}]`) ?? []);
  const title = reader.text(raw, "title", at, true) ?? "";
  const text = reader.text(raw, "text", at, true) ?? "";
  let way: Way = "watch";
  if (typeof raw["way"] === "string" && (WAYS as readonly string[]).includes(raw["way"])) way = raw["way"] as Way;
  else if (raw["way"] !== undefined) reader.problem(`${at}.way`, `unknown way ${JSON.stringify(raw["way"])} (expected one of ${WAYS.join(", ")})`);
  const yamlText = reader.text(raw, "yaml", at, way === "yaml");
  if (yamlText !== undefined) reader.yamlDocs(yamlText, `${at}.yaml`);
  const command = reader.text(raw, "command", at, way === "terminal");
  const hint = reader.text(raw, "hint", at, false);
  const highlight = reader.list(raw["highlight"], `${at}.highlight`).flatMap((h, i) => reader.ref(h, `${at}.highlight[${String(i)}]`)?.ref ?? []);
  const show = reader.list(raw["show"], `${at}.show`).flatMap((w, i) => reader.widget(w, `${at}.show[${String(i)}]`) ?? []);
  // Actions before checks: a `nodeAdd: {as}` name may be checked in the same step.
  const showMe = reader.list(raw["showMe"], `${at}.showMe`).flatMap((a, i) => reader.action(a, `${at}.showMe[${String(i)}]`) ?? []);
  const checkList = reader.list(raw["checks"], `${at}.checks`);
  if (raw["checks"] !== undefined && checkList.length === 0) reader.problem(`${at}.checks`, "needs at least one check (the step could never be done)");
  const checks = checkList.flatMap((c, i) => reader.check(c, `${at}.checks[${String(i)}]`) ?? []);
  return {
    id,
    title,
    text,
    way,
    highlight,
    capture,
    show,
    checks,
    showMe,
    ...(yamlText !== undefined ? { yaml: yamlText } : {}),
    ...(command !== undefined ? { command } : {}),
    ...(hint !== undefined ? { hint } : {}),
  };
}

/** Reads one lesson file; throws a `LessonError` listing every problem. */
export function parseLesson(file: string, source: string): Lesson {
  const reader = new Reader();
  let value: unknown;
  try {
    value = parse(source);
  } catch (e: unknown) {
    throw new LessonError(file, [`not valid YAML: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const raw = reader.record(value, "lesson", LESSON_KEYS, ["id", "title", "summary", "namespace", "explanation", "steps"]);
  if (!raw) throw new LessonError(file, reader.problems);
  const id = reader.text(raw, "id", "lesson", true) ?? "";
  if (id !== "" && id !== fileId(file)) reader.problem("lesson.id", `"${id}" differs from the file name's id "${fileId(file)}"`);
  const namespace = reader.text(raw, "namespace", "lesson", true) ?? "";
  if (namespace !== "" && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) reader.problem("lesson.namespace", `"${namespace}" is not a valid namespace name`);
  const minutes = reader.number(raw, "minutes", "lesson");
  const docs = reader.text(raw, "docs", "lesson", false);
  if (docs !== undefined && !/^https?:\/\//.test(docs)) reader.problem("lesson.docs", "must be an http(s) address");
  const setup = reader.text(raw, "setup", "lesson", false);
  if (setup !== undefined) reader.yamlDocs(setup, "lesson.setup");
  const title = reader.text(raw, "title", "lesson", true) ?? "";
  const summary = reader.text(raw, "summary", "lesson", true) ?? "";
  const explanation = reader.text(raw, "explanation", "lesson", true) ?? "";
  const stepList = reader.list(raw["steps"], "lesson.steps");
  if (raw["steps"] !== undefined && stepList.length === 0) reader.problem("lesson.steps", "needs at least one step");
  const seen = new Set<string>();
  const steps = stepList.flatMap((s, i) => readStep(reader, s, i, seen) ?? []);
  if (reader.problems.length > 0) throw new LessonError(file, reader.problems);
  return {
    id,
    title,
    summary,
    minutes: minutes ?? 5,
    namespace,
    explanation,
    steps,
    file,
    ...(docs !== undefined ? { docs } : {}),
    ...(setup !== undefined ? { setup } : {}),
  };
}

/** Every lesson of `files` (name → text) in file-name order, and the files that failed. */
export function loadLessons(files: Readonly<Record<string, string>>): { lessons: Lesson[]; errors: LessonError[] } {
  const lessons: Lesson[] = [];
  const errors: LessonError[] = [];
  for (const file of Object.keys(files).sort()) {
    const name = file.split("/").pop() ?? file;
    if (name === "00-tour.yaml") continue;
    try {
      const lesson = parseLesson(name, files[file] ?? "");
      if (lessons.some((l) => l.id === lesson.id)) throw new LessonError(name, [`lesson id "${lesson.id}" is used by another file too`]);
      lessons.push(lesson);
    } catch (e: unknown) {
      errors.push(e instanceof LessonError ? e : new LessonError(name, [String(e)]));
    }
  }
  return { lessons, errors };
}
