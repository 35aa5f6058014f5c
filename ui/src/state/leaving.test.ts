// Tests for the leaving-tile store: a deleted pod's tile stays for its exit animation, then goes.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Row } from "../ipc/resources";
import { LEAVE_MS, LeavingTiles } from "./leaving";
import { buildMap } from "./map";
import { podRow } from "../test/fixtures";

function pod(name: string, node: string): Row {
  return podRow(name, { node, containers: [] });
}

const none = new Map<string, Row>();

describe("LeavingTiles", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps a departed tile until its animation ends and tells subscribers both times", () => {
    const store = new LeavingTiles();
    const changes = vi.fn();
    const unsubscribe = store.subscribe(changes);
    const a = pod("a", "w1");
    store.observe(buildMap([], [a, pod("b", "w1")], none, null), "", true);
    expect(store.snapshot()).toEqual([]);
    store.observe(buildMap([], [a], none, null), "", true);
    expect(store.snapshot().map((l) => l.tile.name)).toEqual(["b"]);
    expect(changes).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(LEAVE_MS + 50);
    expect(store.snapshot()).toEqual([]);
    expect(changes).toHaveBeenCalledTimes(2);
    unsubscribe();
  });

  it("does not animate tiles hidden by a namespace switch, nor when motion is reduced", () => {
    const store = new LeavingTiles();
    store.observe(buildMap([], [pod("a", "w1")], none, null), "", true);
    store.observe(buildMap([], [], none, "other"), "other", true);
    expect(store.snapshot()).toEqual([]);
    store.observe(buildMap([], [pod("a", "w1")], none, null), "", false);
    store.observe(buildMap([], [], none, null), "", false);
    expect(store.snapshot()).toEqual([]);
  });
});
