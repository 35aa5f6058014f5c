// Mounts the tour: starts it by itself once (see state.ts) and loads its overlay only while
// it shows, so the window's first load carries neither the tour text nor the yaml parser.
import { lazy, Suspense, useEffect } from "react";
import { autoStartTour, endTour, useTourActive } from "./state";

const Tour = lazy(() => import("./Tour").then((m) => ({ default: m.Tour })));

/** Give the window a moment to draw its sidebar and map before pointing at them. */
const AUTO_START_DELAY_MS = 1500;

/** The tour when it is showing; nothing otherwise. */
export function TourHost() {
  const active = useTourActive();
  useEffect(() => {
    const timer = window.setTimeout(autoStartTour, AUTO_START_DELAY_MS);
    return () => { window.clearTimeout(timer); };
  }, []);
  if (!active) return null;
  return (
    <Suspense fallback={null}>
      <Tour onEnd={endTour} />
    </Suspense>
  );
}
