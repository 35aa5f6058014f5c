// A YAML template per core kind, from ./templates/*.yaml (kept as files so they read as
// plain Kubernetes YAML). Images are Kubarium's built-in ones, so every template runs offline.
import configmap from "./templates/configmap.yaml?raw";
import cronjob from "./templates/cronjob.yaml?raw";
import daemonset from "./templates/daemonset.yaml?raw";
import deployment from "./templates/deployment.yaml?raw";
import ingress from "./templates/ingress.yaml?raw";
import job from "./templates/job.yaml?raw";
import namespace from "./templates/namespace.yaml?raw";
import persistentvolumeclaim from "./templates/persistentvolumeclaim.yaml?raw";
import pod from "./templates/pod.yaml?raw";
import secret from "./templates/secret.yaml?raw";
import service from "./templates/service.yaml?raw";
import statefulset from "./templates/statefulset.yaml?raw";

/** One template: `id` is the kind lowercased (the `create-template-<id>` test id). */
export interface Template {
  readonly id: string;
  readonly kind: string;
  readonly text: string;
}

export const TEMPLATES: readonly Template[] = [
  { id: "deployment", kind: "Deployment", text: deployment },
  { id: "service", kind: "Service", text: service },
  { id: "configmap", kind: "ConfigMap", text: configmap },
  { id: "secret", kind: "Secret", text: secret },
  { id: "pod", kind: "Pod", text: pod },
  { id: "statefulset", kind: "StatefulSet", text: statefulset },
  { id: "daemonset", kind: "DaemonSet", text: daemonset },
  { id: "ingress", kind: "Ingress", text: ingress },
  { id: "job", kind: "Job", text: job },
  { id: "cronjob", kind: "CronJob", text: cronjob },
  { id: "persistentvolumeclaim", kind: "PersistentVolumeClaim", text: persistentvolumeclaim },
  { id: "namespace", kind: "Namespace", text: namespace },
];

/** The template for a kind (any case: `Deployment`, `deployment`), or the Deployment's. */
export function templateFor(kind: string): string {
  const id = kind.toLowerCase();
  return (TEMPLATES.find((t) => t.id === id) ?? TEMPLATES[0])?.text ?? "";
}
