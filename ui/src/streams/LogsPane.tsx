// Placeholder until its owner lands it (this session's UI build-out).
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */

/** Logs of one pod or of every pod of a workload */
export function LogsPane(_props: { cluster: string; namespace: string; pods: string[]; containers: string[] }): React.JSX.Element {
  return <p className="placeholder">Logs of one pod or of every pod of a workload — not built yet.</p>;
}
