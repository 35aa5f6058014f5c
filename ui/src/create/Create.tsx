// Placeholder until its owner lands it (this session's UI build-out).
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */

/** Create objects from YAML or a form */
export function Create(_props: { template?: string }): React.JSX.Element {
  return <p className="placeholder">Create objects from YAML or a form — not built yet.</p>;
}
