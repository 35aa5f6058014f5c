// The Create page's simple forms (Deployment, Service, ConfigMap, Secret) turned into
// objects and YAML. Pure, for tests; the server validates what they make.
import { stringify } from "yaml";

/** One key/value row of a form (env vars, data, selector labels). */
export interface Pair {
  readonly key: string;
  readonly value: string;
}

export interface DeploymentForm {
  readonly name: string;
  readonly image: string;
  readonly replicas: number;
  /** The container port; `null` for none. */
  readonly port: number | null;
  readonly env: readonly Pair[];
}

export interface ServiceForm {
  readonly name: string;
  readonly selector: readonly Pair[];
  readonly port: number;
  /** A number or a container port's name; empty = the same as `port`. */
  readonly targetPort: string;
  readonly type: "ClusterIP" | "NodePort" | "LoadBalancer";
}

export interface DataForm {
  readonly name: string;
  readonly entries: readonly Pair[];
}

export interface SecretForm extends DataForm {
  /** `Opaque`, `kubernetes.io/basic-auth`, … */
  readonly type: string;
}

/** Rows with a key (blank rows are the form's spare lines, not data). */
function filled(pairs: readonly Pair[]): Pair[] {
  return pairs.filter((p) => p.key.trim() !== "");
}

function toMap(pairs: readonly Pair[]): Record<string, string> {
  return Object.fromEntries(filled(pairs).map((p) => [p.key.trim(), p.value]));
}

/** A Deployment whose pods carry `app: <name>`, which its selector matches. */
export function deploymentObject(form: DeploymentForm): Record<string, unknown> {
  const labels = { app: form.name };
  const env = filled(form.env).map((p) => ({ name: p.key.trim(), value: p.value }));
  const container: Record<string, unknown> = { name: form.name || "app", image: form.image };
  if (form.port !== null) container["ports"] = [{ containerPort: form.port }];
  if (env.length > 0) container["env"] = env;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: form.name, labels },
    spec: {
      replicas: form.replicas,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [container] } },
    },
  };
}

/** A Service; a numeric target port is sent as a number, a name as a string. */
export function serviceObject(form: ServiceForm): Record<string, unknown> {
  const target = form.targetPort.trim();
  const targetPort = target === "" ? form.port : /^\d+$/.test(target) ? Number(target) : target;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: form.name },
    spec: {
      type: form.type,
      selector: toMap(form.selector),
      ports: [{ port: form.port, targetPort }],
    },
  };
}

export function configMapObject(form: DataForm): Record<string, unknown> {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name: form.name }, data: toMap(form.entries) };
}

/** A Secret from plain values (`stringData`: the server encodes them). */
export function secretObject(form: SecretForm): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: form.name },
    type: form.type || "Opaque",
    stringData: toMap(form.entries),
  };
}

/** An object as YAML for the editor. */
export function objectToYaml(object: Record<string, unknown>): string {
  return stringify(object, { lineWidth: 0, aliasDuplicateObjects: false });
}
