// The Create page: start from a template per core kind or a simple form, or paste/drop a
// multi-document YAML file; the server checks it as you type (dry run), then Apply creates
// or updates every document, each with its own result.
import { useRef, useState } from "react";
import { navigate, useNamespace } from "../shell/route";
import { useCurrentCluster } from "../state/clusters";
import { ErrorBanner } from "../shell/ErrorBanner";
import { createChecks, refusal, useAccess } from "../state/access";
import { isClusterScoped, resourceForKind } from "../state/kindNames";
import { ApplyResults } from "../details/ApplyResults";
import { ProblemList } from "../yaml/ProblemList";
import { useApply, withNamespace } from "../yaml/useApply";
import { YamlEditor, type EditorHandle } from "../yaml/YamlEditor";
import { objectToYaml } from "./forms";
import { FORM_KINDS, FormPanel, type FormKind } from "./FormPanels";
import { TEMPLATES, templateFor } from "./templates";
import "./create.css";

/** Create objects from YAML or a form */
export function Create({ template }: { template?: string }): React.JSX.Element {
  const cluster = useCurrentCluster();
  const selectedNamespace = useNamespace();
  const [text, setText] = useState(() => templateFor(template ?? "deployment"));
  const [form, setForm] = useState<FormKind | null>(null);
  const [namespace, setNamespace] = useState(selectedNamespace ?? "default");
  const editor = useRef<EditorHandle>(null);
  const target = namespace.trim() === "" ? "default" : namespace.trim();
  const state = useApply(cluster, text, true, {
    key: target,
    objects: (objects) => withNamespace(objects, target),
  });

  // The cluster's RBAC: Apply is disabled, saying why, when it refuses to create any of them.
  const checks = createChecks(
    state.documents.flatMap((d) => (d.object ? [d.object] : [])),
    target,
    resourceForKind,
    isClusterScoped,
  );
  const refused = refusal(checks, useAccess(cluster, checks));

  const chooseTemplate = (kind: string) => {
    setForm(null);
    setText(templateFor(kind));
  };
  const openFile = async (files: FileList | null) => {
    if (!files || files.length === 0) return;
    const texts = await Promise.all([...files].map((file) => file.text()));
    setForm(null);
    setText(texts.map((t) => t.replace(/\n*$/, "\n")).join("---\n"));
  };

  return (
    <div className="create" data-testid="create">
      <header className="view-header">
        <h1>Create</h1>
        <span className="muted">Start from a template or a form, or paste or drop YAML files onto the editor.</span>
      </header>
      <div className="create-templates" role="group" aria-label="Templates">
        {TEMPLATES.map((t) => (
          <button key={t.id} type="button" data-testid={`create-template-${t.id}`} onClick={() => { chooseTemplate(t.id); }}>
            {t.kind}
          </button>
        ))}
      </div>
      <div className="create-forms" role="group" aria-label="Forms">
        <span className="field-label">Form</span>
        {FORM_KINDS.map((kind) => (
          <button
            key={kind}
            type="button"
            className={form === kind ? "active" : ""}
            data-testid={`create-form-${kind}`}
            onClick={() => { setForm(form === kind ? null : kind); }}
          >
            {TEMPLATES.find((t) => t.id === kind)?.kind ?? kind}
          </button>
        ))}
        <label className="create-file">
          <span className="link-button">Open files…</span>
          <input type="file" accept=".yaml,.yml,.json" multiple onChange={(e) => void openFile(e.target.files)} />
        </label>
      </div>
      {form && (
        <div className="card create-form">
          <p className="muted small">The form writes the YAML below; edit it there for anything the form lacks.</p>
          <FormPanel key={form} kind={form} onObject={(object) => { setText(objectToYaml(object)); }} />
        </div>
      )}
      <div className="yaml-toolbar">
        <label className="create-namespace">
          <span className="field-label">Namespace for documents that name none</span>
          <input data-testid="create-namespace" value={namespace} onChange={(e) => { setNamespace(e.target.value); }} />
        </label>
        <button type="button" data-testid="yaml-dry-run" disabled={!state.sendable || state.busy} onClick={() => void state.dryRun()}>
          Dry run
        </button>
        <button
          type="button"
          className="primary"
          data-testid="yaml-apply"
          disabled={!state.sendable || state.busy || refused !== null}
          title={refused ?? undefined}
          onClick={() => void state.apply()}
        >
          Apply {state.documents.length > 1 ? `${String(state.documents.length)} documents` : ""}
        </button>
        <span className="yaml-note">
          {refused !== null ? refused : state.sendable ? "Checked by the server as you type; nothing changes until Apply." : state.documents.length === 0 ? "Nothing to apply yet." : "Fix the YAML errors first."}
        </span>
      </div>
      {state.error && (
        <ErrorBanner title="The cluster could not be asked" error={state.error} />
      )}
      <YamlEditor ref={editor} value={text} onChange={setText} problems={state.problems} label="YAML to create" />
      <ProblemList problems={state.problems} text={text} onSelect={(p) => editor.current?.select(p.from, p.to)} />
      {state.result && (
        <>
          <ApplyResults dryRun={state.result.dryRun} outcomes={state.result.outcomes} />
          {!state.result.dryRun && (
            <ul className="create-links">
              {state.result.outcomes
                .filter((o) => o.error === null)
                .map((o) => {
                  const resource = resourceForKind(o.kind);
                  if (!resource) return null;
                  return (
                    <li key={`${o.kind}/${o.namespace ?? ""}/${o.name}`}>
                      <button
                        type="button"
                        className="link-button"
                        onClick={() => { navigate({ view: "details", resource, namespace: o.namespace, name: o.name }); }}
                      >
                        Open {o.kind} {o.name}
                      </button>
                    </li>
                  );
                })}
            </ul>
          )}
        </>
      )}
    </div>
  );
}
