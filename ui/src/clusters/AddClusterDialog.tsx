// The add-cluster dialog: import contexts from a kubeconfig (the default one, a file, or
// pasted text) or type a cluster in by hand. It always says which OS keychain keeps the
// credentials, and refuses to import anything when there is none.
import { useEffect, useState } from "react";
import type { AppError } from "../ipc";
import {
  addCluster,
  importKubeconfig,
  keychainInfo,
  previewKubeconfig,
  type ClusterEntry,
  type KeychainInfo,
  type KubeconfigPreview,
  type KubeconfigSource,
} from "../ipc/clusters";
import { ErrorBanner } from "../shell/ErrorBanner";
import { asAppError } from "../state/resources";
import { authWords, initialSelection, toggleContext } from "./forms";
import { ManualTab } from "./ManualTab";
import "./clusters.css";

type Tab = "kubeconfig" | "manual";

/** The keychain as the dialog knows it. */
type Keychain = { kind: "asking" } | { kind: "known"; info: KeychainInfo } | { kind: "failed"; error: AppError };

interface Props {
  /** Closes the dialog; `added` are the clusters now in the list (empty when cancelled). */
  onClose: (added: ClusterEntry[]) => void;
}

/** Adds remote clusters. */
export function AddClusterDialog({ onClose }: Props) {
  const [tab, setTab] = useState<Tab>("kubeconfig");
  const [keychain, setKeychain] = useState<Keychain>({ kind: "asking" });
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    keychainInfo().then(
      (info) => {
        if (live) setKeychain({ kind: "known", info });
      },
      (e: unknown) => {
        if (live) setKeychain({ kind: "failed", error: asAppError(e) });
      },
    );
    return () => {
      live = false;
    };
  }, []);

  const storeReady = keychain.kind === "known" && keychain.info.store !== null && keychain.info.problem === null;
  return (
    <div
      className="action-backdrop"
      onKeyDown={(e) => {
        if (e.key === "Escape" && !busy) onClose([]);
      }}
    >
      <div className="action-dialog cluster-dialog" role="dialog" aria-modal="true" aria-label="Add a cluster" data-testid="cluster-dialog">
        <h2>Add a cluster</h2>
        <div className="cluster-tabs" role="tablist" aria-label="How to add it">
          <button type="button" role="tab" aria-selected={tab === "kubeconfig"} className={tab === "kubeconfig" ? "active" : ""} data-testid="cluster-tab-kubeconfig" onClick={() => { setTab("kubeconfig"); }}>
            From kubeconfig
          </button>
          <button type="button" role="tab" aria-selected={tab === "manual"} className={tab === "manual" ? "active" : ""} data-testid="cluster-tab-manual" onClick={() => { setTab("manual"); }}>
            By hand
          </button>
        </div>
        <KeychainNote keychain={keychain} />
        {tab === "kubeconfig" ? (
          <KubeconfigTab storeReady={storeReady} busy={busy} setBusy={setBusy} onImported={onClose} />
        ) : (
          <ManualTab
            storeReady={storeReady}
            busy={busy}
            onCancel={() => {
              onClose([]);
            }}
            onAdd={async (cluster) => {
              setBusy(true);
              try {
                const entry = await addCluster(cluster);
                onClose([entry]);
                return null;
              } catch (e: unknown) {
                return asAppError(e);
              } finally {
                setBusy(false);
              }
            }}
          />
        )}
      </div>
    </div>
  );
}

/** Where the credentials will be kept, or why nothing can be added. */
function KeychainNote({ keychain }: { keychain: Keychain }) {
  switch (keychain.kind) {
    case "asking":
      return <p className="keychain-store muted" data-testid="keychain-store">Looking for the OS keychain…</p>;
    case "failed":
      return (
        <div className="keychain-store keychain-missing" data-testid="keychain-store">
          <ErrorBanner error={keychain.error} title="Could not ask for the OS keychain, so nothing can be added" />
        </div>
      );
    case "known": {
      const { store, problem } = keychain.info;
      if (store !== null && problem === null) {
        return (
          <p className="keychain-store" data-testid="keychain-store">
            Credentials are kept in <strong>{store}</strong>; Kubarium's own files hold only references to them.
          </p>
        );
      }
      return (
        <p className="keychain-store keychain-missing" role="alert" data-testid="keychain-store">
          No OS keychain is available, so nothing can be added (Kubarium never writes credentials to a file instead):{" "}
          {problem ?? "no keychain store answered. Start your desktop's keyring (Secret Service) and open this dialog again."}
        </p>
      );
    }
  }
}

interface KubeconfigTabProps {
  storeReady: boolean;
  busy: boolean;
  setBusy: (busy: boolean) => void;
  /** Called with the clusters imported; with none when cancelled. */
  onImported: (added: ClusterEntry[]) => void;
}

/** Read a kubeconfig, pick its contexts, import them. */
function KubeconfigTab({ storeReady, busy, setBusy, onImported }: KubeconfigTabProps) {
  const [pasted, setPasted] = useState("");
  const [read, setRead] = useState<{ source: KubeconfigSource; preview: KubeconfigPreview } | null>(null);
  const [selected, setSelected] = useState<string[]>([]);
  const [error, setError] = useState<{ title: string; error: AppError } | null>(null);

  const readFrom = async (source: KubeconfigSource) => {
    setBusy(true);
    setError(null);
    try {
      const preview = await previewKubeconfig(source);
      setRead({ source, preview });
      setSelected(initialSelection(preview));
    } catch (e: unknown) {
      setRead(null);
      setError({ title: "Could not read the kubeconfig", error: asAppError(e) });
    } finally {
      setBusy(false);
    }
  };

  const readFile = async (files: FileList | null) => {
    const file = files?.[0];
    if (!file) return;
    try {
      // Read in the window: the file's text goes to the backend, never a path it must open.
      const text = await file.text();
      await readFrom({ type: "text", text, origin: file.name });
    } catch (e: unknown) {
      setError({ title: `Could not read ${file.name}`, error: asAppError(e) });
    }
  };

  const doImport = async () => {
    if (!read) return;
    setBusy(true);
    setError(null);
    try {
      const added = await importKubeconfig(read.source, selected);
      onImported(added);
    } catch (e: unknown) {
      setError({ title: "The import failed", error: asAppError(e) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="cluster-tab-body">
      <div className="kubeconfig-sources">
        <button type="button" data-testid="kubeconfig-default" disabled={busy} onClick={() => void readFrom({ type: "default" })}>
          Read my kubeconfig
        </button>
        <span className="muted small">($KUBECONFIG, or ~/.kube/config)</span>
        <label className="kubeconfig-file">
          <span className="muted small">or a file:</span>
          <input type="file" data-testid="kubeconfig-file" disabled={busy} onChange={(e) => void readFile(e.target.files)} />
        </label>
      </div>
      <label className="cluster-field">
        <span className="field-label">Or paste a kubeconfig</span>
        <textarea
          data-testid="kubeconfig-paste"
          rows={5}
          spellCheck={false}
          value={pasted}
          placeholder="apiVersion: v1&#10;kind: Config&#10;clusters: …"
          onChange={(e) => { setPasted(e.target.value); }}
        />
      </label>
      <div>
        <button
          type="button"
          data-testid="kubeconfig-read"
          disabled={busy || pasted.trim() === ""}
          onClick={() => void readFrom({ type: "text", text: pasted, origin: "pasted text" })}
        >
          Read the pasted text
        </button>
      </div>
      {error && <ErrorBanner error={error.error} title={error.title} onDismiss={() => { setError(null); }} />}
      {read && (
        <fieldset className="context-list">
          <legend>
            Contexts in <code>{read.preview.origin}</code>
          </legend>
          {read.preview.contexts.length === 0 && <p className="muted">This kubeconfig has no contexts: nothing to import.</p>}
          {read.preview.contexts.map((c) => (
            <label key={c.name} className={c.problem ? "context-choice context-problem" : "context-choice"}>
              <input
                type="checkbox"
                data-testid={`context-${c.name}`}
                checked={selected.includes(c.name)}
                disabled={c.problem !== null || busy}
                onChange={(e) => { setSelected(toggleContext(read.preview, selected, c.name, e.target.checked)); }}
              />
              <span className="context-text">
                <span className="context-name">
                  {c.name}
                  {c.name === read.preview.currentContext && <span className="muted"> (current)</span>}
                </span>
                <span className="muted small">
                  {c.server} · {authWords(c.auth)}
                  {c.namespace ? ` · namespace ${c.namespace}` : ""}
                </span>
                {c.problem && <span className="context-note bad small">{c.problem}</span>}
                {c.alreadyImported && c.problem === null && (
                  <span className="context-note small">Already in the list: importing it again replaces it and its credentials.</span>
                )}
              </span>
            </label>
          ))}
        </fieldset>
      )}
      <div className="action-buttons">
        <button type="button" disabled={busy} onClick={() => { onImported([]); }}>
          Cancel
        </button>
        {read && (
          <button
            type="button"
            className="primary"
            data-testid="kubeconfig-import"
            disabled={busy || !storeReady || selected.length === 0}
            title={storeReady ? undefined : "No OS keychain: nothing can be imported"}
            onClick={() => void doImport()}
          >
            {busy ? "Working…" : selected.length > 1 ? `Import ${String(selected.length)} contexts` : "Import"}
          </button>
        )}
      </div>
    </div>
  );
}
