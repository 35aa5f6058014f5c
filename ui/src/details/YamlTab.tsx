// The YAML tab: the live object as YAML, editable; Dry run and Apply send it back with
// server-side apply. Problems show at their field as the user types (the server's dry run
// is the schema). An edit keeps the resourceVersion it started from, so applying after
// someone else changed the object is refused instead of overwriting their change.
import { useMemo, useRef, useState } from "react";
import { stringify } from "yaml";
import { ProblemList } from "../yaml/ProblemList";
import { useApply } from "../yaml/useApply";
import { sameApartFromStatus, withVersion } from "./rebase";
import { YamlEditor, type EditorHandle } from "../yaml/YamlEditor";
import { recordAt, textAt, type KubeObject } from "./describe";
import { ApplyResults } from "./ApplyResults";
import { ErrorBanner } from "../shell/ErrorBanner";

/** Top-level fields in the order kubectl prints them; the rest follow, `status` last. */
const FIRST = ["apiVersion", "kind", "metadata"];

/**
 * The object as the editor shows it: apiVersion, kind, metadata first and status last (as
 * `kubectl get -o yaml` reads), managedFields left out (they are the server's bookkeeping).
 */
export function objectYaml(object: KubeObject): string {
  const metadata = { ...recordAt(object, "metadata") };
  delete metadata["managedFields"];
  const keys = Object.keys(object);
  const ordered = [
    ...FIRST.filter((k) => k in object),
    ...keys.filter((k) => !FIRST.includes(k) && k !== "status"),
    ...keys.filter((k) => k === "status"),
  ];
  const sorted = Object.fromEntries(ordered.map((k) => [k, k === "metadata" ? metadata : object[k]]));
  return stringify(sorted, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** The YAML tab of one object. */
export function YamlTab({ cluster, object, deleted }: { cluster: string; object: KubeObject; deleted: boolean }) {
  const live = useMemo(() => objectYaml(object), [object]);
  const liveVersion = textAt(object, "metadata", "resourceVersion");
  const [draft, setDraft] = useState<{ text: string; version: string; base: KubeObject } | null>(null);
  const text = draft?.text ?? live;
  // Only the status changed since the edit began (a controller at work): nothing the user
  // could have edited moved, so the edit is sent against the current resourceVersion.
  const rebase = draft !== null && draft.version !== liveVersion && sameApartFromStatus(draft.base, object);
  const state = useApply(
    cluster,
    text,
    draft !== null,
    rebase ? { key: liveVersion, objects: (objects) => withVersion(objects, draft.version, liveVersion) } : null,
  );
  const [applied, setApplied] = useState<string | null>(null);
  const editor = useRef<EditorHandle>(null);
  const stale = draft !== null && draft.version !== liveVersion && !rebase;

  const apply = async () => {
    const outcomes = await state.apply();
    if (outcomes && outcomes.every((o) => o.error === null)) {
      setApplied(`Applied: ${outcomes.map((o) => o.result ?? "").join(", ")}.`);
      setDraft(null);
    }
  };

  return (
    <div className="details-yaml">
      <div className="yaml-toolbar">
        <button
          type="button"
          data-testid="yaml-dry-run"
          disabled={!state.sendable || state.busy || deleted}
          onClick={() => {
            setApplied(null);
            void state.dryRun();
          }}
        >
          Dry run
        </button>
        <button
          type="button"
          className="primary"
          data-testid="yaml-apply"
          disabled={!state.sendable || state.busy || deleted || draft === null}
          onClick={() => {
            setApplied(null);
            void apply();
          }}
        >
          Apply
        </button>
        <button type="button" disabled={draft === null} onClick={() => { setDraft(null); }} title="Throw the edits away and show the live object">
          Revert
        </button>
        <span className="yaml-note">
          {draft === null ? "Live: follows the cluster until you edit." : "Edited: the live object no longer updates here."}
          {"status" in object ? " The status section is the cluster's; apply ignores it." : ""}
        </span>
      </div>
      {stale && (
        <div className="details-notice" role="status" data-testid="yaml-stale">
          The object changed in the cluster since you began editing, so Apply will be refused.{" "}
          <button type="button" onClick={() => { setDraft(null); }}>
            Reload (drops your edits)
          </button>
        </div>
      )}
      {state.error && <ErrorBanner title="The cluster could not be asked" error={state.error} />}
      <YamlEditor
        ref={editor}
        value={text}
        label={`YAML of ${textAt(object, "kind")} ${textAt(object, "metadata", "name")}`}
        problems={state.problems}
        onChange={(next) => {
          setApplied(null);
          setDraft((prev) => (next === live && prev === null ? null : { text: next, version: prev?.version ?? liveVersion, base: prev?.base ?? object }));
        }}
      />
      <ProblemList problems={state.problems} text={text} onSelect={(p) => editor.current?.select(p.from, p.to)} />
      {applied && (
        <p className="yaml-status ok" role="status">
          {applied}
        </p>
      )}
      {state.result && <ApplyResults dryRun={state.result.dryRun} outcomes={state.result.outcomes} />}
    </div>
  );
}
