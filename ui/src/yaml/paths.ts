// Maps the API server's field paths (`spec.template.spec.containers[0].image`) and the YAML
// parser's errors to places in the editor's text, through the `yaml` package's document
// nodes (every node keeps its source range). Pure: the editor and the tests share it.
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node as YamlNode,
} from "yaml";
import type { FieldCause } from "../ipc/resources";

/** One step of a field path: a map key or a list index. */
export type PathSegment = string | number;

/** A problem at a place in the text, as the editor underlines it and the list shows it. */
export interface Problem {
  readonly from: number;
  readonly to: number;
  readonly message: string;
  /** The API's field path, for server causes; `null` for YAML syntax problems. */
  readonly field: string | null;
  readonly severity: "error" | "warning";
  /** False when the field is not in the text (a missing field): the place is its parent. */
  readonly exact: boolean;
}

/** A range of the text. */
export interface Span {
  readonly from: number;
  readonly to: number;
  /** False when the path's end is not in the document and the span is its nearest ancestor. */
  readonly exact: boolean;
}

/**
 * Splits an API field path into keys and indices: `spec.containers[0].image` →
 * `["spec", "containers", 0, "image"]`; `metadata.labels[app.kubernetes.io/name]` keeps the
 * bracketed key whole. A leading `.` (as strict decoding errors write them) is ignored.
 */
export function parseFieldPath(field: string): PathSegment[] {
  const path: PathSegment[] = [];
  let current = "";
  let i = 0;
  const flush = () => {
    if (current !== "") path.push(current);
    current = "";
  };
  while (i < field.length) {
    const c = field.charAt(i);
    if (c === ".") {
      flush();
      i += 1;
    } else if (c === "[") {
      flush();
      const end = field.indexOf("]", i + 1);
      const inside = end === -1 ? field.slice(i + 1) : field.slice(i + 1, end);
      path.push(/^\d+$/.test(inside) ? Number(inside) : inside);
      i = end === -1 ? field.length : end + 1;
    } else {
      current += c;
      i += 1;
    }
  }
  flush();
  return path;
}

function rangeOf(node: unknown): [number, number] | null {
  if (typeof node !== "object" || node === null || !("range" in node)) return null;
  const range = (node as YamlNode).range;
  return range ? [range[0], range[1]] : null;
}

/** The start of a collection (its first key or item), so a whole block is not underlined. */
function headSpan(node: unknown, exact: boolean): Span | null {
  if (isMap(node)) {
    const first = node.items[0];
    const key = first && isPair(first) ? rangeOf(first.key) : null;
    if (key) return { from: key[0], to: key[1], exact };
  }
  if (isSeq(node)) {
    const first = node.items[0];
    if (first !== undefined) return headSpan(first, exact);
  }
  const range = rangeOf(node);
  return range ? { from: range[0], to: Math.max(range[1], range[0]) , exact } : null;
}

function keyMatches(key: unknown, segment: PathSegment): boolean {
  if (isScalar(key)) return String(key.value) === String(segment);
  return String(key) === String(segment);
}

/**
 * Where `path` is in `doc`: a scalar field's `key: value`, a collection's key, a list item's
 * start. When the path leads past what the document has (a required field left out), the
 * nearest ancestor that exists, marked inexact.
 */
export function spanOfPath(doc: Document, path: readonly PathSegment[]): Span | null {
  let node: unknown = doc.contents;
  let span: Span | null = headSpan(node, path.length === 0);
  for (const [i, segment] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyMatches(p.key, segment));
      const key = pair ? rangeOf(pair.key) : null;
      if (!pair || !key) return span && { ...span, exact: false };
      const value = pair.value;
      const valueRange = rangeOf(value);
      span =
        isScalar(value) && valueRange
          ? { from: key[0], to: valueRange[1], exact: last }
          : { from: key[0], to: key[1], exact: last };
      node = value;
    } else if (isSeq(node) && typeof segment === "number") {
      const item: unknown = node.items[segment];
      if (item === undefined) return span && { ...span, exact: false };
      span = isScalar(item) ? headSpan(item, last) : (headSpan(item, last) ?? span);
      node = item;
    } else {
      return span && { ...span, exact: false };
    }
  }
  return span;
}

/** One YAML document of a (possibly multi-document) text. */
export interface ParsedDocument {
  readonly doc: Document.Parsed;
  /** The document as JSON, or `null` when it has syntax errors or is not a mapping. */
  readonly object: Record<string, unknown> | null;
  /** Syntax errors and warnings of this document. */
  readonly problems: readonly Problem[];
  readonly from: number;
  readonly to: number;
  /** Where its content starts (after any `---` and comments): where document-wide problems go. */
  readonly start: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Splits `text` at `---` into documents, leaving out empty ones (a trailing `---`, comments
 * only). Each carries its syntax problems at their positions; a document that is not a
 * mapping is a problem too, as the API takes only objects.
 */
export function splitDocuments(text: string): ParsedDocument[] {
  const out: ParsedDocument[] = [];
  for (const doc of parseAllDocuments(text, { prettyErrors: false })) {
    const problems: Problem[] = [];
    for (const [list, severity] of [
      [doc.errors, "error"],
      [doc.warnings, "warning"],
    ] as const) {
      for (const error of list) {
        const [from, to] = error.pos;
        problems.push({
          from,
          to: Math.max(to, from),
          message: firstLine(error.message),
          field: null,
          severity,
          exact: true,
        });
      }
    }
    const [from, , to] = doc.range;
    const empty = doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null);
    if (empty && problems.length === 0) continue;
    let object: Record<string, unknown> | null = null;
    if (doc.errors.length === 0) {
      const value: unknown = doc.toJS();
      if (isPlainObject(value)) {
        object = value;
      } else {
        const range = rangeOf(doc.contents) ?? [from, from];
        problems.push({
          from: range[0],
          to: range[1],
          message: "This document is not a mapping: give it apiVersion, kind and metadata.",
          field: null,
          severity: "error",
          exact: true,
        });
      }
    }
    out.push({ doc, object, problems, from, to, start: rangeOf(doc.contents)?.[0] ?? from });
  }
  return out;
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

/**
 * The server's field causes placed in `doc`: each at its field, or at the nearest ancestor
 * the document has; a cause naming no field sits at the document's start.
 */
export function placeCauses(doc: Document, causes: readonly FieldCause[]): Problem[] {
  return causes.map((cause) => {
    const span = cause.field === "" ? null : spanOfPath(doc, parseFieldPath(cause.field));
    const start = rangeOf(doc.contents)?.[0] ?? 0;
    const fallback: Span = { from: start, to: start, exact: false };
    const at = span ?? fallback;
    return {
      from: at.from,
      to: at.to,
      message: cause.field === "" ? cause.message : `${cause.field}: ${cause.message}`,
      field: cause.field === "" ? null : cause.field,
      severity: "error",
      exact: at.exact,
    };
  });
}
