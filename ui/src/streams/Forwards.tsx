// Every port-forward running in the app, wherever it was started; for the shell to show
// (sidebar or status bar).
import { useState } from "react";
import type { AppError } from "../ipc";
import { ForwardList } from "./PortForwardPane";
import { useForwards } from "./forwards";
import "./streams.css";

export function Forwards(): React.JSX.Element {
  const forwards = useForwards();
  const [error, setError] = useState<AppError | null>(null);
  return (
    <section className="forwards" aria-label="Port-forwards">
      {error && <div className="error-banner stream-error" data-testid="error-banner" role="alert">{error.message}</div>}
      {forwards.length === 0 ? (
        <p className="stream-muted">No port-forwards run. Start one from a pod's or Service's Port-forward tab.</p>
      ) : (
        <ForwardList forwards={forwards} onError={setError} showTarget />
      )}
    </section>
  );
}
