// Placeholder until its owner lands it (this session's UI build-out).
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */

/** A shell in a container */
export function ExecPane(_props: { cluster: string; namespace: string; pod: string; containers: string[] }): React.JSX.Element {
  return <p className="placeholder">A shell in a container — not built yet.</p>;
}
