// The Create page's forms: each edits a few fields and hands the object it makes back, so
// the page can put its YAML into the editor.
import { useState } from "react";
import {
  configMapObject,
  deploymentObject,
  secretObject,
  serviceObject,
  type DataForm,
  type DeploymentForm,
  type Pair,
  type SecretForm,
  type ServiceForm,
} from "./forms";

/** Receives the object a form makes, on every change. */
type OnObject = (object: Record<string, unknown>) => void;

/** The kinds with a form. */
export const FORM_KINDS = ["deployment", "service", "configmap", "secret"] as const;
export type FormKind = (typeof FORM_KINDS)[number];

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <label className="form-field">
      <span className="field-label">{label}</span>
      {children}
    </label>
  );
}

/** Editable key/value rows, with one spare row to type into. */
function Pairs({ label, pairs, onChange, keyName, valueName }: { label: string; pairs: readonly Pair[]; onChange: (next: Pair[]) => void; keyName: string; valueName: string }) {
  const rows = [...pairs, { key: "", value: "" }];
  const set = (i: number, next: Pair) => {
    // A row cleared of both key and value goes away; the spare row is always last.
    onChange(rows.map((p, j) => (j === i ? next : p)).filter((p) => p.key !== "" || p.value !== ""));
  };
  return (
    <fieldset className="form-pairs">
      <legend className="field-label">{label}</legend>
      {rows.map((pair, i) => (
        <div key={i} className="form-pair">
          <input aria-label={`${label} ${keyName} ${String(i + 1)}`} placeholder={keyName} value={pair.key} onChange={(e) => { set(i, { ...pair, key: e.target.value }); }} />
          <input aria-label={`${label} ${valueName} ${String(i + 1)}`} placeholder={valueName} value={pair.value} onChange={(e) => { set(i, { ...pair, value: e.target.value }); }} />
        </div>
      ))}
    </fieldset>
  );
}

function numberOr(text: string, fallback: number): number {
  const n = Number(text);
  return text.trim() !== "" && Number.isFinite(n) ? n : fallback;
}

export function DeploymentFormPanel({ onObject }: { onObject: OnObject }) {
  const [form, setForm] = useState<DeploymentForm>({ name: "web", image: "kubarium.dev/demo:v1", replicas: 2, port: 8080, env: [] });
  const update = (next: DeploymentForm) => {
    setForm(next);
    onObject(deploymentObject(next));
  };
  return (
    <div className="form-grid" data-testid="form-deployment">
      <Field label="Name">
        <input data-testid="form-name" value={form.name} onChange={(e) => { update({ ...form, name: e.target.value }); }} />
      </Field>
      <Field label="Image">
        <input data-testid="form-image" value={form.image} onChange={(e) => { update({ ...form, image: e.target.value }); }} />
      </Field>
      <Field label="Replicas">
        <input type="number" min={0} data-testid="form-replicas" value={form.replicas} onChange={(e) => { update({ ...form, replicas: numberOr(e.target.value, 0) }); }} />
      </Field>
      <Field label="Container port (empty: none)">
        <input
          type="number"
          min={1}
          max={65535}
          data-testid="form-port"
          value={form.port ?? ""}
          onChange={(e) => { update({ ...form, port: e.target.value === "" ? null : numberOr(e.target.value, 0) }); }}
        />
      </Field>
      <Pairs label="Environment" keyName="name" valueName="value" pairs={form.env} onChange={(env) => { update({ ...form, env }); }} />
    </div>
  );
}

export function ServiceFormPanel({ onObject }: { onObject: OnObject }) {
  const [form, setForm] = useState<ServiceForm>({ name: "web", selector: [{ key: "app", value: "web" }], port: 80, targetPort: "8080", type: "ClusterIP" });
  const update = (next: ServiceForm) => {
    setForm(next);
    onObject(serviceObject(next));
  };
  return (
    <div className="form-grid" data-testid="form-service">
      <Field label="Name">
        <input data-testid="form-name" value={form.name} onChange={(e) => { update({ ...form, name: e.target.value }); }} />
      </Field>
      <Field label="Type">
        <select data-testid="form-type" value={form.type} onChange={(e) => { update({ ...form, type: e.target.value as ServiceForm["type"] }); }}>
          <option>ClusterIP</option>
          <option>NodePort</option>
          <option>LoadBalancer</option>
        </select>
      </Field>
      <Field label="Port">
        <input type="number" min={1} max={65535} data-testid="form-port" value={form.port} onChange={(e) => { update({ ...form, port: numberOr(e.target.value, 0) }); }} />
      </Field>
      <Field label="Target port (number or name)">
        <input data-testid="form-target-port" value={form.targetPort} onChange={(e) => { update({ ...form, targetPort: e.target.value }); }} />
      </Field>
      <Pairs label="Selector" keyName="label" valueName="value" pairs={form.selector} onChange={(selector) => { update({ ...form, selector }); }} />
    </div>
  );
}

export function ConfigMapFormPanel({ onObject }: { onObject: OnObject }) {
  const [form, setForm] = useState<DataForm>({ name: "settings", entries: [{ key: "GREETING", value: "hello" }] });
  const update = (next: DataForm) => {
    setForm(next);
    onObject(configMapObject(next));
  };
  return (
    <div className="form-grid" data-testid="form-configmap">
      <Field label="Name">
        <input data-testid="form-name" value={form.name} onChange={(e) => { update({ ...form, name: e.target.value }); }} />
      </Field>
      <Pairs label="Data" keyName="key" valueName="value" pairs={form.entries} onChange={(entries) => { update({ ...form, entries }); }} />
    </div>
  );
}

export function SecretFormPanel({ onObject }: { onObject: OnObject }) {
  const [form, setForm] = useState<SecretForm>({ name: "credentials", type: "Opaque", entries: [{ key: "password", value: "" }] });
  const update = (next: SecretForm) => {
    setForm(next);
    onObject(secretObject(next));
  };
  return (
    <div className="form-grid" data-testid="form-secret">
      <Field label="Name">
        <input data-testid="form-name" value={form.name} onChange={(e) => { update({ ...form, name: e.target.value }); }} />
      </Field>
      <Field label="Type">
        <select data-testid="form-type" value={form.type} onChange={(e) => { update({ ...form, type: e.target.value }); }}>
          <option>Opaque</option>
          <option>kubernetes.io/basic-auth</option>
          <option>kubernetes.io/ssh-auth</option>
        </select>
      </Field>
      <Pairs label="Data (plain text; stored base64-encoded)" keyName="key" valueName="value" pairs={form.entries} onChange={(entries) => { update({ ...form, entries }); }} />
    </div>
  );
}

/** The form of `kind`. */
export function FormPanel({ kind, onObject }: { kind: FormKind; onObject: OnObject }) {
  switch (kind) {
    case "deployment":
      return <DeploymentFormPanel onObject={onObject} />;
    case "service":
      return <ServiceFormPanel onObject={onObject} />;
    case "configmap":
      return <ConfigMapFormPanel onObject={onObject} />;
    case "secret":
      return <SecretFormPanel onObject={onObject} />;
  }
}
