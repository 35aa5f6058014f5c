// The current time for live ages: one timer per component that shows them (the table uses
// one for all its rows), not one per row.
import { useEffect, useState } from "react";

/** `Date.now()`, refreshed every `intervalMs`. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => {
      setNow(Date.now());
    }, intervalMs);
    return () => {
      clearInterval(timer);
    };
  }, [intervalMs]);
  return now;
}
