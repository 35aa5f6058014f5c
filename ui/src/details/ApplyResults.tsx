// The per-document outcome of a Dry run or Apply, as a short list.
import type { ApplyOutcome } from "../ipc/apply";
import { documentLabel } from "../yaml/useApply";

const WOULD: Record<string, string> = { created: "would be created", configured: "would be configured", unchanged: "unchanged" };

/** One line per document: what happened (or would), or why it failed. */
export function ApplyResults({ dryRun, outcomes }: { dryRun: boolean; outcomes: readonly ApplyOutcome[] }) {
  return (
    <div className="apply-results" role="status">
      <p className="muted small">{dryRun ? "Dry run: nothing was changed." : "Applied."}</p>
      <ul>
        {outcomes.map((outcome, i) => (
          <li
            key={`${String(i)}-${outcome.kind}-${outcome.name}`}
            className={outcome.error ? "yaml-status bad" : "yaml-status ok"}
            data-testid="apply-result"
            data-result={outcome.result ?? "failed"}
          >
            <strong>{documentLabel(outcome, i)}</strong>
            {outcome.namespace ? <span className="muted"> in {outcome.namespace}</span> : null}:{" "}
            {outcome.error
              ? outcome.error.message
              : dryRun
                ? (WOULD[outcome.result ?? ""] ?? outcome.result)
                : outcome.result}
          </li>
        ))}
      </ul>
    </div>
  );
}
