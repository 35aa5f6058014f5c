// Field paths into Kubernetes objects as lessons write them: `status.phase`,
// `spec.containers[0].image`, `status.conditions[type=Ready].status`,
// `metadata.annotations["kubarium.dev/x"]`, and a final `length`.

/** One step of a path. */
export type Segment =
  | { readonly type: "key"; readonly key: string }
  | { readonly type: "index"; readonly index: number }
  | { readonly type: "select"; readonly key: string; readonly value: string }
  | { readonly type: "length" };

/** Parses a path; throws an `Error` saying what is wrong with it. */
export function parsePath(path: string): Segment[] {
  const segments: Segment[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`path "${path}" ${why} at character ${String(i + 1)}`);
  };
  if (path.trim() === "") fail("is empty");
  while (i < path.length) {
    const c = path.charAt(i);
    if (c === ".") {
      if (i === 0 || i === path.length - 1 || path.charAt(i + 1) === "." || path.charAt(i + 1) === "[") fail("has an empty key");
      i += 1;
      continue;
    }
    if (c === "[") {
      const close = path.indexOf("]", i);
      if (close < 0) fail("has an unclosed [");
      const inner = path.slice(i + 1, close).trim();
      if (/^\d+$/.test(inner)) {
        segments.push({ type: "index", index: Number(inner) });
      } else if (/^"[^"]*"$/.test(inner) || /^'[^']*'$/.test(inner)) {
        segments.push({ type: "key", key: inner.slice(1, -1) });
      } else {
        const eq = inner.indexOf("=");
        if (eq <= 0) fail(`has [${inner}], which is neither an index, a "quoted key" nor key=value`);
        segments.push({ type: "select", key: inner.slice(0, eq).trim(), value: unquote(inner.slice(eq + 1).trim()) });
      }
      i = close + 1;
      continue;
    }
    let end = i;
    while (end < path.length && path.charAt(end) !== "." && path.charAt(end) !== "[") end += 1;
    const key = path.slice(i, end);
    segments.push(key === "length" && end === path.length && segments.length > 0 ? { type: "length" } : { type: "key", key });
    i = end;
  }
  return segments;
}

function unquote(text: string): string {
  return /^"[^"]*"$/.test(text) || /^'[^']*'$/.test(text) ? text.slice(1, -1) : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at `path` in `object`, or `undefined` when any step of it is missing. */
export function valueAt(object: unknown, path: string | readonly Segment[]): unknown {
  const segments = typeof path === "string" ? parsePath(path) : path;
  let current: unknown = object;
  for (const segment of segments) {
    if (current === undefined || current === null) return undefined;
    switch (segment.type) {
      case "key":
        current = isRecord(current) ? current[segment.key] : undefined;
        break;
      case "index":
        current = Array.isArray(current) ? (current as unknown[])[segment.index] : undefined;
        break;
      case "select":
        current = Array.isArray(current)
          ? (current as unknown[]).find((item) => isRecord(item) && scalarText(item[segment.key]) === segment.value)
          : undefined;
        break;
      case "length":
        if (Array.isArray(current)) current = current.length;
        else if (typeof current === "string") current = current.length;
        else if (isRecord(current)) current = Object.keys(current).length;
        else current = undefined;
        break;
    }
  }
  return current;
}

/** A scalar as text (`true`, `3`, `Running`); objects and arrays have none. */
export function scalarText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}
