// Placeholder until its owner lands it (this session's UI build-out).
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */

/** Port-forwards to a pod or Service */
export function PortForwardPane(_props: { cluster: string; namespace: string; target: { kind: "pod" | "service"; name: string }; ports: number[] }): React.JSX.Element {
  return <p className="placeholder">Port-forwards to a pod or Service — not built yet.</p>;
}
