// The status bar's way back after the local cluster was stopped: one button that starts it
// again, saying so while it starts and why if it cannot.
import { useState } from "react";
import { startCluster } from "../ipc/actions";
import { LOCAL } from "../ipc/resources";
import { ErrorBanner } from "../shell/ErrorBanner";

/** Starts the stopped local cluster. */
export function StartCluster() {
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <>
      <button
        type="button"
        data-testid="action-start-cluster"
        disabled={starting}
        onClick={() => {
          setStarting(true);
          setError(null);
          startCluster(LOCAL)
            .catch((e: unknown) => {
              setError(e);
            })
            .finally(() => {
              setStarting(false);
            });
        }}
      >
        {starting ? "Starting…" : "Start the cluster"}
      </button>
      {error !== null && (
        <ErrorBanner
          error={error}
          title="The local cluster did not start"
          onDismiss={() => {
            setError(null);
          }}
        />
      )}
    </>
  );
}
