// The dialogs behind the actions menu: confirm, delete with its cascade choice, scale,
// the revision picker of an undo, and drain (what it will evict, then what became of each pod).
import { useCallback, useEffect, useState, type ReactNode } from "react";
import {
  deleteObject,
  drain,
  rolloutHistory,
  rolloutUndo,
  scale,
  type DrainOutcome,
  type Propagation,
  type Revision,
} from "../ipc/actions";
import type { AppError } from "../ipc";
import type { Row } from "../ipc/resources";
import { ErrorBanner } from "../shell/ErrorBanner";
import { asAppError, useResources } from "../state/resources";
import { kindWord } from "./catalogue";
import {
  CASCADES,
  DRAIN_RETRY_MS,
  describeRevision,
  drainBlocked,
  drainPlan,
  drainSummary,
  mergeDrain,
  parseReplicas,
  previousRevision,
} from "./dialogs";

/** Runs one action at a time, keeping whether it runs and how it failed. */
function useRunner() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<AppError | null>(null);
  // Stable, so an effect that runs work (the drain's retries) is not reset by every render.
  const run = useCallback(async <T,>(work: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await work();
    } catch (e: unknown) {
      setError(asAppError(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run };
}

interface FrameProps {
  title: string;
  children: ReactNode;
  error: AppError | null;
  busy: boolean;
  busyText?: string;
  confirmLabel: string | null;
  confirmDisabled?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}

function Frame(props: FrameProps) {
  return (
    <div
      className="action-backdrop"
      onKeyDown={(e) => {
        if (e.key === "Escape" && !props.busy) props.onClose();
      }}
    >
      <div className="action-dialog" role="dialog" aria-modal="true" aria-label={props.title}>
        <h2>{props.title}</h2>
        {props.children}
        {props.busy && <p className="action-progress" role="status">{props.busyText ?? "Working…"}</p>}
        {props.error && <ErrorBanner error={props.error} title={`${props.title} failed`} />}
        <div className="action-buttons">
          <button type="button" onClick={props.onClose} disabled={props.busy}>
            {props.confirmLabel === null ? "Close" : "Cancel"}
          </button>
          {props.confirmLabel !== null && (
            <button
              type="button"
              className="primary"
              data-testid="dialog-confirm"
              autoFocus
              disabled={props.busy || props.confirmDisabled === true}
              onClick={props.onConfirm}
            >
              {props.confirmLabel}
            </button>
          )}
        </div>
      </div>
    </div>
  );
}

export interface TargetProps {
  cluster: string;
  resource: string;
  row: Row;
  /** Closes the dialog; `notice` (what was done) is shown beside the menu. */
  onDone: (notice: string | null) => void;
}

/** A yes/no question before an action without options. */
export function ConfirmDialog(props: { title: string; question: string; run: () => Promise<void>; done: string; onDone: (notice: string | null) => void }) {
  const { busy, error, run } = useRunner();
  return (
    <Frame
      title={props.title}
      error={error}
      busy={busy}
      confirmLabel="Yes, go ahead"
      onClose={() => { props.onDone(null); }}
      onConfirm={() => {
        void run(async () => {
          await props.run();
          props.onDone(props.done);
        });
      }}
    >
      <p>{props.question}</p>
    </Frame>
  );
}

export function DeleteDialog({ cluster, resource, row, onDone }: TargetProps) {
  const { busy, error, run } = useRunner();
  const [propagation, setPropagation] = useState<Propagation>("background");
  const what = `${kindWord(resource)} ${row.name}`;
  return (
    <Frame
      title={`Delete ${what}`}
      error={error}
      busy={busy}
      confirmLabel="Delete"
      onClose={() => { onDone(null); }}
      onConfirm={() => {
        void run(async () => {
          await deleteObject(cluster, resource, row.namespace, row.name, propagation);
          onDone(`${what} is being deleted (${propagation} cascade).`);
        });
      }}
    >
      <p>
        Delete {what}
        {row.namespace ? ` in namespace ${row.namespace}` : ""}? This cannot be undone.
      </p>
      <fieldset className="action-choices">
        <legend>Objects it owns</legend>
        {CASCADES.map((c) => (
          <label key={c.value} data-testid={`cascade-${c.value}`}>
            <input
              type="radio"
              name="cascade"
              checked={propagation === c.value}
              onChange={() => { setPropagation(c.value); }}
            />
            <strong>{c.label}</strong> — {c.explanation}
          </label>
        ))}
      </fieldset>
    </Frame>
  );
}

export function ScaleDialog({ cluster, resource, row, onDone }: TargetProps) {
  const { busy, error, run } = useRunner();
  const desired = row.summary.kind === "workload" ? row.summary.desired : null;
  const [text, setText] = useState(desired === null ? "1" : String(desired));
  const parsed = parseReplicas(text);
  const what = `${kindWord(resource)} ${row.name}`;
  const submit = () => {
    if (!parsed.ok) return;
    void run(async () => {
      await scale(cluster, resource, row.namespace ?? "", row.name, parsed.replicas);
      onDone(`${what} scaled to ${String(parsed.replicas)}.`);
    });
  };
  return (
    <Frame
      title={`Scale ${what}`}
      error={error}
      busy={busy}
      confirmLabel="Scale"
      confirmDisabled={!parsed.ok}
      onClose={() => { onDone(null); }}
      onConfirm={submit}
    >
      <label className="action-field">
        Replicas{desired === null ? "" : ` (now ${String(desired)})`}
        <input
          data-testid="scale-input"
          inputMode="numeric"
          value={text}
          onChange={(e) => { setText(e.target.value); }}
          onKeyDown={(e) => {
            if (e.key === "Enter") submit();
          }}
        />
      </label>
      {!parsed.ok && <p className="action-hint">{parsed.message}</p>}
    </Frame>
  );
}

export function UndoDialog({ cluster, resource, row, onDone }: TargetProps) {
  const { busy, error, run } = useRunner();
  const [revisions, setRevisions] = useState<Revision[] | null>(null);
  const [chosen, setChosen] = useState<number | null>(null);
  const [loadError, setLoadError] = useState<AppError | null>(null);
  const ns = row.namespace ?? "";
  useEffect(() => {
    let live = true;
    rolloutHistory(cluster, resource, ns, row.name).then(
      (list) => {
        if (!live) return;
        setRevisions(list);
        setChosen(previousRevision(list));
      },
      (e: unknown) => {
        if (live) setLoadError(asAppError(e));
      },
    );
    return () => {
      live = false;
    };
  }, [cluster, resource, ns, row.name]);
  const what = `${kindWord(resource)} ${row.name}`;
  return (
    <Frame
      title={`Undo a rollout of ${what}`}
      error={error ?? loadError}
      busy={busy}
      busyText="Rolling back…"
      confirmLabel={chosen === null ? "Roll back" : `Roll back to #${String(chosen)}`}
      confirmDisabled={chosen === null}
      onClose={() => { onDone(null); }}
      onConfirm={() => {
        void run(async () => {
          const outcome = await rolloutUndo(cluster, resource, ns, row.name, chosen);
          onDone(
            outcome.skipped
              ? `${what} already runs revision ${String(outcome.revision)}'s template; nothing changed.`
              : `${what} is rolling back to revision ${String(outcome.revision)}.`,
          );
        });
      }}
    >
      {revisions === null && loadError === null && <p className="action-progress">Reading the rollout history…</p>}
      {revisions !== null && revisions.length < 2 && (
        <p>{what} has only one revision so far: there is nothing earlier to roll back to.</p>
      )}
      {revisions !== null && revisions.length > 0 && (
        <fieldset className="action-choices">
          <legend>Revisions, newest first</legend>
          {[...revisions].reverse().map((r) => (
            <label key={r.revision} data-testid={`revision-${String(r.revision)}`}>
              <input
                type="radio"
                name="revision"
                disabled={r.current}
                checked={chosen === r.revision}
                onChange={() => { setChosen(r.revision); }}
              />
              {describeRevision(r)}
            </label>
          ))}
        </fieldset>
      )}
    </Frame>
  );
}

export function DrainDialog({ cluster, row, onDone }: TargetProps) {
  const { busy, error, run } = useRunner();
  const pods = useResources("pods", null, cluster);
  const [outcome, setOutcome] = useState<DrainOutcome | null>(null);
  // As kubectl drain: pods a PodDisruptionBudget blocks are tried again until it allows them,
  // or until the user stops (or closes the dialog).
  const [retrying, setRetrying] = useState(true);
  const plan = drainPlan(pods.rows, row.name);
  const again = outcome !== null && retrying && drainBlocked(outcome) && error === null;
  useEffect(() => {
    if (!again) return;
    const timer = setTimeout(() => {
      void run(async () => {
        const next = await drain(cluster, row.name);
        setOutcome((previous) => (previous === null ? next : mergeDrain(previous, next)));
      });
    }, DRAIN_RETRY_MS);
    return () => { clearTimeout(timer); };
  }, [again, outcome, cluster, row.name, run]);
  return (
    <Frame
      title={`Drain node ${row.name}`}
      error={error}
      busy={busy}
      busyText={`Cordoning ${row.name} and evicting ${String(plan.evict.length)} pods…`}
      confirmLabel={outcome === null ? "Drain" : null}
      onClose={() => { onDone(outcome === null ? null : drainSummary(outcome)); }}
      onConfirm={() => {
        void run(async () => {
          setOutcome(await drain(cluster, row.name));
        });
      }}
    >
      {outcome === null ? (
        <>
          <p>
            {row.name} is cordoned first, so no new pods land on it; then these pods are evicted (their
            controllers recreate them elsewhere):
          </p>
          {pods.error && <ErrorBanner error={pods.error} title="The pod list is not live" tone="warning" />}
          {pods.state !== "live" && plan.evict.length === 0 ? (
            <p className="action-hint">Reading the pods on {row.name}…</p>
          ) : (
            <ul className="action-list" data-testid="drain-plan">
              {plan.evict.map((p) => (
                <li key={p.uid}>{`${p.namespace ?? ""}/${p.name}`}</li>
              ))}
              {plan.evict.length === 0 && <li>No pods to evict.</li>}
              {plan.skip.map(({ row: p, reason }) => (
                <li key={p.uid} className="muted">
                  {`${p.namespace ?? ""}/${p.name}`} — left: {reason}
                </li>
              ))}
            </ul>
          )}
        </>
      ) : (
        <>
          <p role="status">{drainSummary(outcome, again)}</p>
          {again && (
            <button type="button" data-testid="drain-stop" onClick={() => { setRetrying(false); }}>
              Stop retrying
            </button>
          )}
          <ul className="action-list" data-testid="drain-outcome">
            {outcome.pods.map((p) => (
              <li key={`${p.namespace}/${p.name}`} data-result={p.result}>
                {`${p.namespace}/${p.name}`}: {p.result}
                {p.reason === null ? "" : ` — ${p.reason}`}
              </li>
            ))}
          </ul>
        </>
      )}
    </Frame>
  );
}
