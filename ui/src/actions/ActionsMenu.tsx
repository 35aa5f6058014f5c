// The actions menu of one object: a button opening the actions that apply to it, each
// running at once or through its dialog; what happened, or what failed, shows beside it.
import { useRef, useState } from "react";
import type { AppError } from "../ipc";
import type { Row } from "../ipc/resources";
import { useActionRefusals } from "../state/access";
import { kindOf, useKinds } from "../state/kinds";
import { asAppError } from "../state/resources";
import { actionLabel, actionsFor, applicable, type ActionId } from "./catalogue";
import { ErrorBanner } from "../shell/ErrorBanner";
import { ConfirmDialog, DeleteDialog, DrainDialog, ScaleDialog, UndoDialog } from "./Dialogs";
import { opening } from "./dialogs";
import "./actions.css";

/** What the menu shows after an action: its outcome, or its failure. */
type Outcome = { kind: "notice"; text: string } | { kind: "error"; error: AppError } | null;

/** Actions on an object */
export function ActionsMenu({ cluster, resource, row }: { cluster: string; resource: string; row: Row }) {
  // Where the open menu sits, in viewport coordinates: fixed, so a table row's or panel's
  // overflow never clips it.
  const [open, setOpen] = useState<{ top: number; right: number } | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  const [dialog, setDialog] = useState<ActionId | null>(null);
  const [running, setRunning] = useState<ActionId | null>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const ids = applicable(cluster, resource, row);
  // The cluster's RBAC decides which are offered; a refused one stays listed, disabled, saying why.
  const kinds = useKinds();
  const group = kinds.state === "loaded" ? kindOf(kinds.kinds, resource)?.group : undefined;
  const refusals = useActionRefusals(cluster, ids, resource, row.namespace, group);
  const direct = new Map(actionsFor(cluster, resource, row).map((a) => [a.id, a]));

  const done = (notice: string | null) => {
    setDialog(null);
    setOutcome(notice === null ? null : { kind: "notice", text: notice });
  };

  const toggle = () => {
    const rect = button.current?.getBoundingClientRect();
    setOpen(open !== null || rect === undefined ? null : { top: rect.bottom + 2, right: window.innerWidth - rect.right });
  };

  const choose = (id: ActionId) => {
    setOpen(null);
    setOutcome(null);
    const action = direct.get(id);
    if (action === undefined || opening(id, action) !== "run") {
      setDialog(id);
      return;
    }
    setRunning(id);
    action.run().then(
      () => {
        setOutcome({ kind: "notice", text: `${actionLabel(id)}: done for ${row.name}.` });
      },
      (e: unknown) => {
        setOutcome({ kind: "error", error: asAppError(e) });
      },
    ).finally(() => {
      setRunning(null);
    });
  };

  const target = { cluster, resource, row, onDone: done };
  const confirmed = dialog === null ? undefined : direct.get(dialog);
  return (
    <div
      className="actions"
      onKeyDown={(e) => {
        if (e.key === "Escape") setOpen(null);
      }}
    >
      <button
        type="button"
        data-testid="actions-menu"
        aria-haspopup="menu"
        ref={button}
        aria-expanded={open !== null}
        disabled={running !== null}
        onClick={toggle}
      >
        {running === null ? "Actions ▾" : `${actionLabel(running)}…`}
      </button>
      {open && (
        <div
          className="actions-dismiss"
          aria-hidden="true"
          onClick={() => {
            setOpen(null);
          }}
        />
      )}
      {open && (
        <ul className="actions-list" role="menu" style={{ top: open.top, right: open.right }}>
          {ids.map((id) => (
            <li key={id} role="none" title={refusals.get(id) ?? undefined}>
              <button
                type="button"
                role="menuitem"
                data-testid={`action-${id}`}
                className={id === "delete" || id === "remove-node" ? "danger" : undefined}
                disabled={(refusals.get(id) ?? null) !== null}
                aria-disabled={(refusals.get(id) ?? null) !== null}
                title={refusals.get(id) ?? undefined}
                onClick={() => { choose(id); }}
              >
                {actionLabel(id)}
              </button>
            </li>
          ))}
        </ul>
      )}
      {outcome?.kind === "notice" && (
        <p className="actions-notice" role="status">
          {outcome.text}
        </p>
      )}
      {outcome?.kind === "error" && (
        <ErrorBanner
          error={outcome.error}
          title={`Could not finish on ${row.name}`}
          onDismiss={() => {
            setOutcome(null);
          }}
        />
      )}
      {dialog === "delete" && <DeleteDialog {...target} />}
      {dialog === "scale" && <ScaleDialog {...target} />}
      {dialog === "undo" && <UndoDialog {...target} />}
      {dialog === "drain" && <DrainDialog {...target} />}
      {dialog !== null && opening(dialog, confirmed) === "confirm" && confirmed?.confirm !== undefined && (
        <ConfirmDialog
          title={actionLabel(dialog)}
          question={confirmed.confirm}
          run={confirmed.run}
          done={`${actionLabel(dialog)}: done for ${row.name}.`}
          onDone={done}
        />
      )}
    </div>
  );
}
