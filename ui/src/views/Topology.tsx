// Placeholder until its owner lands it (this session's UI build-out).
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */

/** The topology graph */
export function Topology(_props: Record<string, never>): React.JSX.Element {
  return <p className="placeholder">The topology graph — not built yet.</p>;
}
