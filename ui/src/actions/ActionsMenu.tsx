// Placeholder until its owner lands it (this session's UI build-out).
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */
import type { Row } from "../ipc/resources";
/** Actions on an object */
export function ActionsMenu(_props: { cluster: string; resource: string; row: Row }): React.JSX.Element {
  return <p className="placeholder">Actions on an object — not built yet.</p>;
}
