// The first-launch tour's pure parts: the tour file's shape and its validation, whether to
// show it by itself, which element a stop points at, and where its card goes beside it.
// The file is assets/lessons/00-tour.yaml (content.ts bundles it); Tour.tsx draws it.

/** One stop: an element (by `data-testid`) and what to say about it. */
export interface TourStop {
  /** A `data-testid`; a trailing `*` matches the first element whose test id starts with the rest. */
  readonly target: string;
  readonly title: string;
  readonly text: string;
}

export interface TourFile {
  readonly id: string;
  readonly title: string;
  readonly stops: readonly TourStop[];
}

/** The localStorage key saying the tour was shown (so it starts by itself only once). */
export const TOUR_KEY = "kubarium.tour.v1";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(record: Record<string, unknown>, key: string, where: string): string {
  const value = record[key];
  if (typeof value !== "string" || value.trim() === "") throw new Error(`${where}: "${key}" must be a non-empty string.`);
  return value.trim();
}

function onlyKeys(record: Record<string, unknown>, allowed: readonly string[], where: string): void {
  const unknown = Object.keys(record).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new Error(`${where}: unknown ${unknown.length === 1 ? "key" : "keys"} ${unknown.join(", ")}; allowed are ${allowed.join(", ")}.`);
}

/** Checks a parsed tour file; throws an error naming the file, stop and field at fault. */
export function validateTour(value: unknown, file: string): TourFile {
  if (!isRecord(value)) throw new Error(`${file}: expected a mapping with id, title and stops.`);
  onlyKeys(value, ["id", "title", "stops"], file);
  const id = text(value, "id", file);
  if (id !== "tour") throw new Error(`${file}: "id" must be "tour", not "${id}".`);
  const title = text(value, "title", file);
  const stops = value["stops"];
  if (!Array.isArray(stops) || stops.length === 0) throw new Error(`${file}: "stops" must be a non-empty list.`);
  return {
    id,
    title,
    stops: stops.map((stop: unknown, i) => {
      const where = `${file}: stop ${String(i + 1)}`;
      if (!isRecord(stop)) throw new Error(`${where}: expected a mapping with target, title and text.`);
      onlyKeys(stop, ["target", "title", "text"], where);
      const target = text(stop, "target", where);
      if (!/^[A-Za-z0-9_-]+\*?$/.test(target)) throw new Error(`${where}: "target" must be a data-testid (letters, digits, - and _, optionally ending in *), not "${target}".`);
      return { target, title: text(stop, "title", where), text: text(stop, "text", where) };
    }),
  };
}

/** The CSS selector for a stop's target. */
export function targetSelector(target: string): string {
  return target.endsWith("*") ? `[data-testid^="${target.slice(0, -1)}"]` : `[data-testid="${target}"]`;
}

/**
 * Whether the tour starts by itself: never seen on this profile, and not a window driven by
 * WebDriver (the end-to-end tests start with fresh profiles and must not meet it).
 */
export function shouldAutoShow(storage: Pick<Storage, "getItem"> | null, webdriver: boolean): boolean {
  if (webdriver || storage === null) return false;
  try {
    return storage.getItem(TOUR_KEY) === null;
  } catch {
    // Storage that refuses to be read would show the tour on every launch: better never.
    return false;
  }
}

export interface Box {
  readonly top: number;
  readonly left: number;
  readonly width: number;
  readonly height: number;
}

/** Where the card goes: beside the target (right, below, above, left, whichever fits first), kept on screen. */
export function placeCard(
  target: Box | null,
  card: { width: number; height: number },
  viewport: { width: number; height: number },
  gap = 14,
): { top: number; left: number } {
  const clamp = (value: number, max: number) => Math.max(8, Math.min(value, max - 8));
  if (target === null) {
    return { top: clamp((viewport.height - card.height) / 2, viewport.height - card.height), left: clamp((viewport.width - card.width) / 2, viewport.width - card.width) };
  }
  const right = target.left + target.width + gap;
  const below = target.top + target.height + gap;
  const above = target.top - gap - card.height;
  const left = target.left - gap - card.width;
  const spots = [
    { fits: right + card.width <= viewport.width - 8, top: target.top, left: right },
    { fits: below + card.height <= viewport.height - 8, top: below, left: target.left },
    { fits: above >= 8, top: above, left: target.left },
    { fits: left >= 8, top: target.top, left },
  ];
  // A target filling the window (the map) has no side free: the card sits inside its bottom right.
  const spot = spots.find((s) => s.fits) ?? {
    top: target.top + target.height - card.height - gap,
    left: target.left + target.width - card.width - gap,
  };
  return { top: clamp(spot.top, viewport.height - card.height), left: clamp(spot.left, viewport.width - card.width) };
}
