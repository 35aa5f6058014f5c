// The Overview's kubeconfig card for the local cluster: copy its kubeconfig, write it to a
// file, or merge it into the user's own kubeconfig as context `kubarium` — each only when
// asked, the merge only after a confirmation naming the exact file it writes.
import { useRef, useState } from "react";
import { ConfirmDialog } from "../actions/Dialogs";
import { exportLocalKubeconfig, kubeconfigMergeTarget, localKubeconfig, mergeLocalKubeconfig, type MergeOutcome } from "../ipc/clusters";
import { ErrorBanner } from "../shell/ErrorBanner";
import "../actions/actions.css";
import "../clusters/clusters.css";

/** The default export path; the backend expands the leading `~/`. */
export const DEFAULT_EXPORT_PATH = "~/kubarium.kubeconfig";

/** What the card says after an action. */
type Result = { kind: "notice"; text: string } | { kind: "error"; title: string; error: unknown } | null;

/** The words for a merge's outcome. */
export function mergeNotice(outcome: MergeOutcome): string {
  const backup = outcome.backup === null ? "There was no file before, so no backup was needed." : `The file as it was is saved as ${outcome.backup}.`;
  return `Added context ${outcome.context} to ${outcome.path}; your current context is unchanged (kubectl --context ${outcome.context} …). ${backup}`;
}

/** The merge's question, naming the exact file it writes. */
export function mergeQuestion(path: string): string {
  return `Add the local cluster to your kubeconfig ${path} as cluster, user and context kubarium, replacing any entries of that name and keeping everything else? The file as it is now is saved first as ${path}.kubarium-backup, and your current context stays as it is.`;
}

/** Asks before merging into `path`, then merges into exactly that file. */
export function MergeDialog({ path, onMerged, onClose }: { path: string; onMerged: (outcome: MergeOutcome) => void; onClose: () => void }) {
  return (
    <ConfirmDialog
      title="Merge into your kubeconfig"
      question={mergeQuestion(path)}
      run={async () => {
        onMerged(await mergeLocalKubeconfig(path));
      }}
      done=""
      onDone={onClose}
    />
  );
}

/** Copy, export and merge the local cluster's kubeconfig. */
export function LocalKubeconfig() {
  const [path, setPath] = useState(DEFAULT_EXPORT_PATH);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<Result>(null);
  const [shownText, setShownText] = useState<string | null>(null);
  // The file the merge writes, once resolved: the confirmation names it.
  const [merging, setMerging] = useState<string | null>(null);
  const textArea = useRef<HTMLTextAreaElement>(null);

  const copy = async () => {
    setResult(null);
    let text: string;
    try {
      text = await localKubeconfig();
    } catch (e: unknown) {
      setResult({ kind: "error", title: "Could not read the local kubeconfig", error: e });
      return;
    }
    try {
      await navigator.clipboard.writeText(text);
      setShownText(null);
      setResult({ kind: "notice", text: "Copied the kubeconfig (with its token) to the clipboard." });
    } catch {
      // No clipboard access here: show the text selected, so Ctrl/Cmd+C copies it.
      setShownText(text);
      setResult({ kind: "notice", text: "The clipboard is not available here: the kubeconfig is shown below, selected; copy it with Ctrl/Cmd+C." });
      requestAnimationFrame(() => {
        textArea.current?.focus();
        textArea.current?.select();
      });
    }
  };

  const askMerge = async () => {
    setResult(null);
    try {
      setMerging(await kubeconfigMergeTarget());
    } catch (e: unknown) {
      setResult({ kind: "error", title: "Could not find your kubeconfig", error: e });
    }
  };

  const doExport = async () => {
    setResult(null);
    setBusy(true);
    try {
      const written = await exportLocalKubeconfig(path.trim());
      setResult({ kind: "notice", text: `Wrote ${written} (readable only by you). Use it with: kubectl --kubeconfig ${written} get pods` });
    } catch (e: unknown) {
      setResult({ kind: "error", title: "The kubeconfig was not written", error: e });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="kubeconfig-heading">
      <h2 id="kubeconfig-heading">Kubeconfig</h2>
      <p className="muted">
        Copy it, write it to a file, or add it to your own kubeconfig as context <code>kubarium</code>. Nothing is written
        until you ask.
      </p>
      <div className="kubeconfig-actions">
        <button type="button" data-testid="kubeconfig-copy" onClick={() => void copy()}>
          Copy
        </button>
        <button
          type="button"
          data-testid="kubeconfig-merge"
          onClick={() => void askMerge()}
        >
          Merge into my kubeconfig…
        </button>
      </div>
      <form
        className="kubeconfig-actions"
        onSubmit={(e) => {
          e.preventDefault();
          void doExport();
        }}
      >
        <label className="kubeconfig-export">
          <span className="field-label">Export to</span>
          <input
            data-testid="kubeconfig-export-path"
            value={path}
            spellCheck={false}
            aria-label="File to write the kubeconfig to"
            onChange={(e) => {
              setPath(e.target.value);
            }}
          />
        </label>
        <button type="submit" data-testid="kubeconfig-export" disabled={busy || path.trim() === ""}>
          {busy ? "Writing…" : "Export"}
        </button>
      </form>
      {result?.kind === "notice" && (
        <p className="muted small" role="status" data-testid="kubeconfig-notice">
          {result.text}
        </p>
      )}
      {result?.kind === "error" && (
        <ErrorBanner
          error={result.error}
          title={result.title}
          onDismiss={() => {
            setResult(null);
          }}
        />
      )}
      {shownText !== null && (
        <textarea ref={textArea} className="kubeconfig-text" data-testid="kubeconfig-text" readOnly value={shownText} aria-label="The local cluster's kubeconfig" />
      )}
      {merging !== null && (
        <MergeDialog
          path={merging}
          onMerged={(outcome) => {
            setResult({ kind: "notice", text: mergeNotice(outcome) });
          }}
          onClose={() => {
            setMerging(null);
          }}
        />
      )}
    </section>
  );
}
