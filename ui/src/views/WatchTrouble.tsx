// Says when one of a view's watches is reconnecting, through the shared error banner, so the
// map, topology and events views word it the same way.
import { ErrorBanner } from "../shell/ErrorBanner";
import type { ResourceSnapshot } from "../state/resources";

/** The first reconnecting watch among `watches` ([what it watches, its snapshot]), or nothing. */
export function WatchTrouble({ watches }: { watches: readonly (readonly [string, ResourceSnapshot])[] }) {
  const broken = watches.find(([, snapshot]) => snapshot.state === "reconnecting");
  if (!broken) return null;
  const [what, snapshot] = broken;
  return (
    <ErrorBanner
      tone="warning"
      title={`Lost the watch on ${what}; reconnecting (showing the last known state until then)`}
      error={snapshot.error ?? "The connection to the API server dropped."}
    />
  );
}
