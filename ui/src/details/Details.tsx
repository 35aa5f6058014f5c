// Placeholder until its owner lands it (this session's UI build-out).
/* eslint-disable @typescript-eslint/no-unused-vars -- a placeholder ignores its props */
import type { Route } from "../shell/route";
/** An object's details */
export function Details(_props: { route: Extract<Route, { view: "details" }> }): React.JSX.Element {
  return <p className="placeholder">An object's details — not built yet.</p>;
}
