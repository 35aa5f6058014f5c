// The cluster switcher at the top of the sidebar: the cluster the window shows, and a list
// of every cluster (state, server, version, latency, what its credential plugin asks,
// error) to switch to, add to, or remove from. Switching goes to the map of the chosen cluster.
import { useRef, useState, type CSSProperties } from "react";
import type { AppError, ClusterStatus } from "../ipc";
import { removeCluster, retryCluster, type ClusterEntry } from "../ipc/clusters";
import { LOCAL } from "../ipc/resources";
import { ConfirmDialog } from "../actions/Dialogs";
import { AddClusterDialog } from "../clusters/AddClusterDialog";
import { formatLatency, phaseLabel, type StatusSnapshot } from "../state/clusterStatus";
import {
  reloadClusterEntries,
  setCurrentCluster,
  statusOf,
  useClusters,
  useCurrentCluster,
  withLocal,
} from "../state/clusters";
import { ErrorBanner } from "./ErrorBanner";
import { PluginPromptNote } from "./PluginPrompt";
import { navigate, setNamespace } from "./route";
import { StatusDot } from "./StatusDot";
import "../actions/actions.css";
import "../clusters/clusters.css";

/** Which dialog the switcher has open. */
type Dialog = { kind: "add" } | { kind: "remove"; status: ClusterStatus } | null;

/** `https://10.0.0.1:6443/path` → `10.0.0.1:6443`: which server, in a few characters. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Shows `id` from now on: its context's namespace, on the map; a remote one failing is tried again at once. */
export function switchCluster(id: string, entries: readonly ClusterEntry[]): void {
  if (id !== LOCAL) {
    // Its status says whether the try worked; a cluster removed meanwhile has nothing to retry.
    retryCluster(id).catch(() => undefined);
  }
  setCurrentCluster(id);
  setNamespace(entries.find((e) => e.id === id)?.namespace ?? null);
  navigate({ view: "map" });
}

/** The current cluster and the list to switch from. */
export function ClusterSwitcher({ local }: { local: StatusSnapshot }) {
  const clusters = useClusters();
  const current = useCurrentCluster();
  // Where the open list sits, in viewport coordinates: fixed, so the sidebar's overflow never
  // clips it, and wider than the sidebar so servers and errors fit.
  const [open, setOpen] = useState<CSSProperties | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const list = withLocal(clusters.statuses, local.kind === "status" ? local.status : null);
  const shown = statusOf(list, current);

  const close = () => {
    setOpen(null);
  };
  const toggle = () => {
    const rect = button.current?.getBoundingClientRect();
    setOpen(open !== null || rect === undefined ? null : { top: rect.bottom + 4, left: rect.left, width: Math.max(rect.width, 380) });
  };

  const choose = (id: string) => {
    close();
    setNotice(null);
    if (id !== current) switchCluster(id, clusters.entries);
  };

  return (
    <section
      className="cluster-switcher"
      aria-label="Cluster"
      onKeyDown={(e) => {
        if (e.key === "Escape") close();
      }}
    >
      <button
        type="button"
        className="cluster-switcher-button"
        data-testid="cluster-switcher"
        aria-haspopup="menu"
        aria-expanded={open !== null}
        title="Switch cluster, or add one"
        ref={button}
        onClick={toggle}
      >
        <StatusDot status={shown ? { kind: "status", status: shown } : current === LOCAL ? local : { kind: "waiting" }} />
        <span className="cluster-switcher-text">
          <span className="cluster-name" data-testid="cluster-current">
            {shown?.name ?? (current === LOCAL ? "kubarium" : current)} {current === LOCAL && <span className="muted">(local)</span>}
          </span>
          <span className="muted small cluster-switcher-detail">
            {shown ? phaseLabel(shown.phase, shown.error) : local.kind === "ipcFailed" && current === LOCAL ? "No backend" : "Connecting…"}
            {shown && !shown.local && shown.serverUrl ? ` · ${hostOf(shown.serverUrl)}` : ""}
          </span>
        </span>
        <span className="cluster-switcher-caret" aria-hidden="true">
          ▾
        </span>
      </button>
      {open && <div className="actions-dismiss" aria-hidden="true" onClick={close} />}
      {open && (
        <ClusterMenu
          style={open}
          list={list}
          current={current}
          error={clusters.error}
          onChoose={choose}
          onRemove={(status) => {
            close();
            setDialog({ kind: "remove", status });
          }}
          onAdd={() => {
            close();
            setNotice(null);
            setDialog({ kind: "add" });
          }}
        />
      )}
      {!open && <PromptElsewhere list={list} current={current} />}
      {notice && (
        <p className="muted small" role="status" data-testid="cluster-notice">
          {notice}
        </p>
      )}
      {dialog?.kind === "add" && (
        <AddClusterDialog
          onClose={(added) => {
            setDialog(null);
            if (added.length === 0) return;
            void reloadClusterEntries();
            setNotice(`Added ${added.map((e) => e.name).join(", ")}: choose it above to switch to it.`);
          }}
        />
      )}
      {dialog?.kind === "remove" && (
        <ConfirmDialog
          title={`Remove ${dialog.status.name}`}
          question={`Remove ${dialog.status.name} (${dialog.status.serverUrl ?? "no server"}) from Kubarium? This removes its credentials from the keychain; the cluster itself is not touched. Import its kubeconfig again to come back to it.`}
          run={async () => {
            const id = dialog.status.id;
            await removeCluster(id);
            if (id === current) switchCluster(LOCAL, clusters.entries);
            await reloadClusterEntries();
          }}
          done={`Removed ${dialog.status.name} and its credentials.`}
          onDone={(done) => {
            setDialog(null);
            setNotice(done);
          }}
        />
      )}
    </section>
  );
}

/** Under the switcher: which other clusters' credential plugins wait for the user (the current one's has the banner). */
export function PromptElsewhere({ list, current }: { list: readonly ClusterStatus[]; current: string }) {
  const asking = list.filter((s) => s.id !== current && s.prompt !== null && s.prompt !== "").map((s) => s.name);
  if (asking.length === 0) return null;
  return (
    <p className="small cluster-prompt-elsewhere" role="status" data-testid="cluster-prompt-elsewhere">
      The credential plugin for {asking.join(", ")} asks you something: open the cluster list above to see it.
    </p>
  );
}

interface MenuProps {
  list: readonly ClusterStatus[];
  current: string;
  error: AppError | null;
  onChoose: (id: string) => void;
  onRemove: (status: ClusterStatus) => void;
  onAdd: () => void;
  /** Its place on screen. */
  style?: CSSProperties;
}

/** The open list: every cluster (remote ones removable), then "Add a cluster". */
export function ClusterMenu({ list, current, error, onChoose, onRemove, onAdd, style }: MenuProps) {
  return (
    <div className="cluster-menu" role="menu" aria-label="Clusters" style={style}>
      {error && <ErrorBanner error={error} />}
      {list.map((s) => (
        <div key={s.id} className="cluster-option-row">
          <ClusterOption
            status={s}
            checked={s.id === current}
            onChoose={() => {
              onChoose(s.id);
            }}
          />
          {!s.local && (
            <button
              type="button"
              className="cluster-remove"
              data-testid={`cluster-remove-${s.id}`}
              aria-label={`Remove ${s.name}`}
              title={`Remove ${s.name} (and its credentials in the keychain)`}
              onClick={() => {
                onRemove(s);
              }}
            >
              ×
            </button>
          )}
        </div>
      ))}
      <button type="button" className="cluster-menu-add" role="menuitem" data-testid="cluster-add" onClick={onAdd}>
        + Add a cluster…
      </button>
    </div>
  );
}

/** One cluster in the list: state, name, server, version, latency, its plugin's prompt, and why it fails. */
function ClusterOption({ status: s, checked, onChoose }: { status: ClusterStatus; checked: boolean; onChoose: () => void }) {
  const details = [s.serverUrl, s.version?.gitVersion, s.latencyMs === null ? null : formatLatency(s.latencyMs)].filter(
    (d): d is string => d !== null && d !== undefined && d !== "",
  );
  return (
    <button
      type="button"
      role="menuitemradio"
      aria-checked={checked}
      className="cluster-option"
      data-testid={`cluster-option-${s.id}`}
      data-phase={s.phase}
      onClick={onChoose}
    >
      <StatusDot status={{ kind: "status", status: s }} />
      <span className="cluster-option-text">
        <span className="cluster-option-name">
          {s.name} {s.local && <span className="muted">(local)</span>}
        </span>
        <span className="muted small cluster-option-detail">
          {phaseLabel(s.phase, s.error)}
          {details.length > 0 ? ` · ${details.join(" · ")}` : ""}
        </span>
        <PluginPromptNote status={s} />
        {s.error && <span className="small cluster-option-error">{s.error.message}</span>}
      </span>
    </button>
  );
}
