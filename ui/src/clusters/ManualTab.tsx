// The add-cluster dialog's "By hand" tab: server, CA, and a token, a client certificate and
// key, or an exec plugin. Secrets typed here go straight to the OS keychain.
import { useState } from "react";
import type { AppError } from "../ipc";
import type { ManualCluster } from "../ipc/clusters";
import { ErrorBanner } from "../shell/ErrorBanner";
import { EMPTY_FORM, EXEC_API_VERSIONS, manualCluster, type ManualAuthKind, type ManualForm } from "./forms";

interface Props {
  storeReady: boolean;
  busy: boolean;
  /** Adds the cluster; resolves with the failure, or `null` when it was added. */
  onAdd: (cluster: ManualCluster) => Promise<AppError | null>;
  onCancel: () => void;
  /** The form's starting values (empty by default). */
  initial?: ManualForm;
}

/** The by-hand form. */
export function ManualTab({ storeReady, busy, onAdd, onCancel, initial = EMPTY_FORM }: Props) {
  const [form, setForm] = useState<ManualForm>(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<AppError | null>(null);
  const set = <K extends keyof ManualForm>(key: K, value: ManualForm[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
    setProblem(null);
  };

  const submit = async () => {
    setError(null);
    const parsed = manualCluster(form);
    if (!parsed.ok) {
      setProblem(parsed.error);
      return;
    }
    setError(await onAdd(parsed.value));
  };

  return (
    <form
      className="cluster-tab-body manual-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <label className="cluster-field">
        <span className="field-label">Name</span>
        <input data-testid="manual-name" value={form.name} placeholder="prod" onChange={(e) => { set("name", e.target.value); }} />
      </label>
      <label className="cluster-field">
        <span className="field-label">API server URL</span>
        <input data-testid="manual-server" value={form.server} placeholder="https://10.0.0.1:6443" onChange={(e) => { set("server", e.target.value); }} />
      </label>
      <label className="cluster-field">
        <span className="field-label">CA certificate (PEM; empty trusts the system's roots)</span>
        <textarea data-testid="manual-ca" rows={3} spellCheck={false} value={form.ca} onChange={(e) => { set("ca", e.target.value); }} />
      </label>
      <label className="cluster-check">
        <input type="checkbox" data-testid="manual-insecure" checked={form.insecure} onChange={(e) => { set("insecure", e.target.checked); }} />
        Skip verifying the server's certificate (insecure: anyone on the path can read the credentials)
      </label>
      <label className="cluster-field">
        <span className="field-label">Authenticate with</span>
        <select data-testid="manual-auth" value={form.auth} onChange={(e) => { set("auth", e.target.value as ManualAuthKind); }}>
          <option value="token">A bearer token</option>
          <option value="clientCertificate">A client certificate and key</option>
          <option value="exec">An exec plugin (aws, gke-gcloud-auth-plugin, kubelogin…)</option>
        </select>
      </label>
      {form.auth === "token" && (
        <label className="cluster-field">
          <span className="field-label">Token</span>
          <input data-testid="manual-token" type="password" autoComplete="off" value={form.token} onChange={(e) => { set("token", e.target.value); }} />
        </label>
      )}
      {form.auth === "clientCertificate" && (
        <>
          <label className="cluster-field">
            <span className="field-label">Client certificate (PEM)</span>
            <textarea data-testid="manual-cert" rows={3} spellCheck={false} value={form.cert} onChange={(e) => { set("cert", e.target.value); }} />
          </label>
          <label className="cluster-field">
            <span className="field-label">Client key (PEM; kept in the keychain)</span>
            <textarea data-testid="manual-key" rows={3} spellCheck={false} value={form.key} onChange={(e) => { set("key", e.target.value); }} />
          </label>
        </>
      )}
      {form.auth === "exec" && (
        <>
          <label className="cluster-field">
            <span className="field-label">Command (found on your login PATH)</span>
            <input data-testid="manual-exec-command" value={form.execCommand} placeholder="aws" onChange={(e) => { set("execCommand", e.target.value); }} />
          </label>
          <label className="cluster-field">
            <span className="field-label">Arguments, one per line</span>
            <textarea data-testid="manual-exec-args" rows={3} spellCheck={false} value={form.execArgs} placeholder={"eks\nget-token\n--cluster-name\nprod"} onChange={(e) => { set("execArgs", e.target.value); }} />
          </label>
          <label className="cluster-field">
            <span className="field-label">Environment, NAME=value per line (values kept in the keychain)</span>
            <textarea data-testid="manual-exec-env" rows={2} spellCheck={false} value={form.execEnv} placeholder="AWS_PROFILE=prod" onChange={(e) => { set("execEnv", e.target.value); }} />
          </label>
          <label className="cluster-field">
            <span className="field-label">Credential API version</span>
            <select data-testid="manual-exec-api" value={form.execApi} onChange={(e) => { set("execApi", e.target.value); }}>
              {EXEC_API_VERSIONS.map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </select>
          </label>
        </>
      )}
      {problem && (
        <p className="cluster-problem" role="alert" data-testid="manual-problem">
          {problem}
        </p>
      )}
      {error && <ErrorBanner error={error} title="The cluster was not added" onDismiss={() => { setError(null); }} />}
      <div className="action-buttons">
        <button type="button" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
        <button
          type="submit"
          className="primary"
          data-testid="manual-add"
          disabled={busy || !storeReady}
          title={storeReady ? undefined : "No OS keychain: nothing can be added"}
        >
          {busy ? "Adding…" : "Add the cluster"}
        </button>
      </div>
    </form>
  );
}
