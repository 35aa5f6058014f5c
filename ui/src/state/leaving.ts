// Keeps the map's departed tiles on screen for their exit animation. A small store fed each new
// map model (from a layout effect, so a tile never blinks out for a frame before it leaves) and
// read with useSyncExternalStore; expiry runs on a timer. The diffing itself is `trackLeaving`.
import { trackLeaving, type LeavingTile, type MapModel } from "./map";

/** How long a departed tile stays; matches the exit animation in map.css. */
export const LEAVE_MS = 300;

const NONE: readonly LeavingTile[] = [];

export class LeavingTiles {
  private previous: MapModel | null = null;
  private scope = "";
  private leaving: readonly LeavingTile[] = NONE;
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.clearTimer();
    };
  };

  readonly snapshot = (): readonly LeavingTile[] => this.leaving;

  /**
   * Takes the model now on screen. `scope` names what it shows (the namespace filter): when it
   * changes, tiles that vanish were filtered out, not deleted, and leave without animation.
   */
  observe(model: MapModel, scope: string, animate: boolean): void {
    const previous = this.previous;
    if (previous === model) return;
    const sameScope = scope === this.scope;
    this.previous = model;
    this.scope = scope;
    if (!previous || !sameScope || !animate) {
      this.set(NONE);
      return;
    }
    this.set(trackLeaving(previous, model, this.leaving, Date.now(), LEAVE_MS));
  }

  private set(next: readonly LeavingTile[]): void {
    if (next.length === 0 && this.leaving.length === 0) return;
    this.leaving = next.length === 0 ? NONE : next;
    this.schedule();
    for (const listener of this.listeners) listener();
  }

  private schedule(): void {
    this.clearTimer();
    if (this.leaving.length === 0) return;
    const soonest = Math.min(...this.leaving.map((l) => l.until));
    this.timer = setTimeout(() => {
      this.timer = null;
      const now = Date.now();
      this.set(this.leaving.filter((l) => l.until > now));
    }, Math.max(0, soonest - Date.now()) + 10);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
