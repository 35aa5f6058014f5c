// The tour overlay: a ring around the current stop's element and a card beside it with
// Back / Next / Skip. Stops whose element is not on screen are passed over; the ring follows
// its element as the window scrolls or resizes.
import { useCallback, useEffect, useRef, useState } from "react";
import { loadTour } from "./content";
import { placeCard, targetSelector, type Box, type TourFile } from "./tour";
import "./tour.css";

const CARD_WIDTH = 340;

/** The stops whose element is on the page now, by index into the tour's stops. */
function presentStops(tour: TourFile): { index: number; element: Element }[] {
  return tour.stops.flatMap((stop, index) => {
    const element = document.querySelector(targetSelector(stop.target));
    return element ? [{ index, element }] : [];
  });
}

function boxOf(element: Element): Box {
  const rect = element.getBoundingClientRect();
  return { top: rect.top, left: rect.left, width: rect.width, height: rect.height };
}

interface Shown {
  /** Index into the tour's stops. */
  readonly stop: number;
  readonly box: Box;
  /** Where the card goes. */
  readonly place: { top: number; left: number };
  /** Position among the stops present, and how many there are. */
  readonly position: number;
  readonly count: number;
  readonly previous: number | null;
}

/** The tour, from its first stop; `onEnd` when finished, skipped, or nothing is left to show. */
export function Tour({ onEnd }: { onEnd: () => void }) {
  const [tour] = useState(loadTour);
  // Where the learner is: the stop at or after `index` whose element is present is shown.
  const [index, setIndex] = useState(0);
  const [shown, setShown] = useState<Shown | null>(null);
  const card = useRef<HTMLDivElement>(null);
  const next = useRef<HTMLButtonElement>(null);
  const scrolledTo = useRef<number | null>(null);
  // Once the card is drawn the effect runs again, to watch the card's size too.
  const drawn = shown !== null;

  // The page is the external system here: measure it now, and again whenever elements may
  // have moved (scrolling, resizing, the map filling in, the card's own size).
  useEffect(() => {
    if (tour instanceof Error) {
      console.error(tour.message);
      onEnd();
      return;
    }
    const measure = () => {
      const present = presentStops(tour);
      const position = present.findIndex((p) => p.index >= index);
      const current = present[position];
      if (!current) {
        onEnd();
        return;
      }
      if (scrolledTo.current !== current.index) {
        scrolledTo.current = current.index;
        current.element.scrollIntoView({ block: "nearest" });
      }
      const box = boxOf(current.element);
      const height = card.current?.offsetHeight ?? 180;
      setShown({
        stop: current.index,
        box,
        place: placeCard(box, { width: CARD_WIDTH, height }, { width: window.innerWidth, height: window.innerHeight }),
        position,
        count: present.length,
        previous: present[position - 1]?.index ?? null,
      });
    };
    const frame = window.requestAnimationFrame(measure);
    window.addEventListener("resize", measure);
    window.addEventListener("scroll", measure, true);
    const timer = window.setInterval(measure, 1000);
    const resized = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(measure);
    if (card.current) resized?.observe(card.current);
    return () => {
      window.cancelAnimationFrame(frame);
      window.removeEventListener("resize", measure);
      window.removeEventListener("scroll", measure, true);
      window.clearInterval(timer);
      resized?.disconnect();
    };
  }, [tour, index, onEnd, drawn]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        onEnd();
      }
    };
    window.addEventListener("keydown", onKey, true);
    return () => { window.removeEventListener("keydown", onKey, true); };
  }, [onEnd]);

  const stopIndex = shown?.stop;
  useEffect(() => {
    next.current?.focus();
  }, [stopIndex]);

  const goNext = useCallback(() => {
    if (shown) setIndex(shown.stop + 1);
  }, [shown]);

  if (tour instanceof Error || shown === null) return null;
  const stop = tour.stops[shown.stop];
  if (!stop) return null;
  const last = shown.position === shown.count - 1;
  const { place } = shown;
  const pad = 4;
  return (
    <div className="tour" data-testid="tour" data-stop={stop.target}>
      <div
        className="tour-ring"
        aria-hidden="true"
        style={{ top: shown.box.top - pad, left: shown.box.left - pad, width: shown.box.width + 2 * pad, height: shown.box.height + 2 * pad }}
      />
      <div
        ref={card}
        className="tour-card"
        role="dialog"
        aria-labelledby="tour-title"
        aria-describedby="tour-text"
        style={{ top: place.top, left: place.left, width: CARD_WIDTH }}
      >
        <p className="tour-heading muted small">
          {tour.title} · {shown.position + 1} of {shown.count}
        </p>
        <h2 id="tour-title">{stop.title}</h2>
        <p id="tour-text">{stop.text}</p>
        <div className="tour-buttons">
          <button type="button" data-testid="tour-skip" onClick={onEnd}>
            Skip the tour
          </button>
          <span className="spacer" />
          {shown.previous !== null && (
            <button
              type="button"
              data-testid="tour-back"
              onClick={() => {
                if (shown.previous !== null) setIndex(shown.previous);
              }}
            >
              Back
            </button>
          )}
          <button ref={next} type="button" className="primary" data-testid="tour-next" onClick={last ? onEnd : goNext}>
            {last ? "Done" : "Next"}
          </button>
        </div>
      </div>
    </div>
  );
}
