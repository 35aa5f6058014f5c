// The tour's pure parts and the bundled tour file: validation, targets, when it starts by
// itself, where its card goes, and the store Learn's "Take the tour" button drives.
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadTour } from "./content";
import { autoStartTour, endTour, startTour } from "./state";
import { placeCard, shouldAutoShow, targetSelector, TOUR_KEY, validateTour } from "./tour";

const stop = { target: "nav-create", title: "Create", text: "Make things." };

describe("validateTour", () => {
  it("accepts a tour and trims its text", () => {
    expect(validateTour({ id: "tour", title: " Hi ", stops: [stop] }, "t.yaml")).toEqual({ id: "tour", title: "Hi", stops: [stop] });
  });

  it("names the file, stop and field at fault", () => {
    expect(() => validateTour([], "t.yaml")).toThrow("t.yaml: expected a mapping");
    expect(() => validateTour({ id: "pods", title: "x", stops: [stop] }, "t.yaml")).toThrow('"id" must be "tour"');
    expect(() => validateTour({ id: "tour", title: "x", stops: [] }, "t.yaml")).toThrow('"stops" must be a non-empty list');
    expect(() => validateTour({ id: "tour", title: "x", stops: [stop, { ...stop, text: "" }] }, "t.yaml")).toThrow(
      't.yaml: stop 2: "text" must be a non-empty string',
    );
    expect(() => validateTour({ id: "tour", title: "x", stops: [{ ...stop, target: "a b" }] }, "t.yaml")).toThrow("must be a data-testid");
    expect(() => validateTour({ id: "tour", title: "x", stops: [{ ...stop, colour: "red" }] }, "t.yaml")).toThrow("stop 1: unknown key colour");
    expect(() => validateTour({ id: "tour", title: "x", stops: [stop], extra: 1 }, "t.yaml")).toThrow("t.yaml: unknown key extra");
  });
});

describe("the bundled tour", () => {
  it("loads, with 5 to 7 stops covering the places the issue names", () => {
    const tour = loadTour();
    if (tour instanceof Error) throw tour;
    expect(tour.stops.length).toBeGreaterThanOrEqual(5);
    expect(tour.stops.length).toBeLessThanOrEqual(7);
    expect(tour.stops.map((s) => s.target)).toEqual(
      expect.arrayContaining(["cluster-switcher", "view-map", "map-pod-*", "nav-create", "nav-learn", "open-palette"]),
    );
  });
});

describe("targetSelector", () => {
  it("matches a test id exactly, or by prefix with a trailing *", () => {
    expect(targetSelector("nav-create")).toBe('[data-testid="nav-create"]');
    expect(targetSelector("map-pod-*")).toBe('[data-testid^="map-pod-"]');
  });
});

describe("shouldAutoShow", () => {
  const empty = { getItem: () => null };
  it("shows once, never under WebDriver or without storage", () => {
    expect(shouldAutoShow(empty, false)).toBe(true);
    expect(shouldAutoShow(empty, true)).toBe(false);
    expect(shouldAutoShow({ getItem: (k) => (k === TOUR_KEY ? "{}" : null) }, false)).toBe(false);
    expect(shouldAutoShow(null, false)).toBe(false);
    expect(
      shouldAutoShow(
        {
          getItem: () => {
            throw new Error("denied");
          },
        },
        false,
      ),
    ).toBe(false);
  });
});

describe("placeCard", () => {
  const viewport = { width: 1280, height: 800 };
  const card = { width: 340, height: 180 };
  it("puts the card right of a sidebar item", () => {
    expect(placeCard({ top: 100, left: 10, width: 200, height: 30 }, card, viewport)).toEqual({ top: 100, left: 224 });
  });
  it("goes below when the right side is too narrow, above when the bottom is", () => {
    expect(placeCard({ top: 100, left: 1000, width: 200, height: 30 }, card, viewport)).toEqual({ top: 144, left: 932 });
    expect(placeCard({ top: 700, left: 1000, width: 200, height: 30 }, card, viewport)).toEqual({ top: 506, left: 932 });
  });
  it("sits inside a target that fills the window, and stays on screen", () => {
    expect(placeCard({ top: 0, left: 240, width: 1040, height: 800 }, card, viewport)).toEqual({ top: 606, left: 926 });
    expect(placeCard(null, card, viewport)).toEqual({ top: 310, left: 470 });
  });
});

describe("startTour", () => {
  afterEach(() => {
    endTour();
    vi.unstubAllGlobals();
  });

  it("remembers the tour was shown, so it starts by itself only once", () => {
    const items = new Map<string, string>();
    vi.stubGlobal("localStorage", {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => items.set(k, v),
    });
    vi.stubGlobal("navigator", { webdriver: false });
    expect(autoStartTour()).toBe(true);
    expect(items.has(TOUR_KEY)).toBe(true);
    endTour();
    expect(autoStartTour()).toBe(false);
    // Replaying from Learn works whatever the storage says.
    startTour();
  });

  it("does not start by itself under WebDriver", () => {
    vi.stubGlobal("localStorage", { getItem: () => null, setItem: vi.fn() });
    vi.stubGlobal("navigator", { webdriver: true });
    expect(autoStartTour()).toBe(false);
  });
});
