// Placeholder until its owner lands it (this session's UI build-out).
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */

/** The cluster's events timeline */
export function EventsTimeline(_props: Record<string, never>): React.JSX.Element {
  return <p className="placeholder">The cluster's events timeline — not built yet.</p>;
}
