// The add-cluster dialog's pure parts: the by-hand form turned into a `ManualCluster` (with
// the exec plugin's args and env parsed from one-per-line text), and which contexts of a
// kubeconfig are offered and pre-checked. Apart from the component so they are tested directly.
import type { AuthKind, ContextChoice, EnvVar, KubeconfigPreview, ManualAuth, ManualCluster } from "../ipc/clusters";

/** The exec credential API versions kubectl's plugins speak. */
export const EXEC_API_VERSIONS = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"] as const;

/** How a by-hand cluster authenticates. */
export type ManualAuthKind = ManualAuth["type"];

/** The by-hand form as typed. */
export interface ManualForm {
  name: string;
  server: string;
  ca: string;
  insecure: boolean;
  auth: ManualAuthKind;
  token: string;
  cert: string;
  key: string;
  execCommand: string;
  execArgs: string;
  execEnv: string;
  execApi: string;
}

export const EMPTY_FORM: ManualForm = {
  name: "",
  server: "",
  ca: "",
  insecure: false,
  auth: "token",
  token: "",
  cert: "",
  key: "",
  execCommand: "",
  execArgs: "",
  execEnv: "",
  execApi: EXEC_API_VERSIONS[0],
};

/** A value, or what is wrong with the input and how to fix it. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** An exec plugin's arguments: one per line, surrounding blanks and empty lines dropped. */
export function parseArgs(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An exec plugin's environment: `NAME=value` per line (the value may hold `=`; empty lines skipped). */
export function parseEnv(text: string): Parsed<EnvVar[]> {
  const vars: EnvVar[] = [];
  const lines = text.split("\n");
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line : line.slice(0, eq).trim();
    if (eq < 0 || !ENV_NAME.test(name)) {
      return {
        ok: false,
        error: `Environment line ${String(i + 1)} ("${name}") is not NAME=value: write one variable per line, a name of letters, digits and _, then = and its value.`,
      };
    }
    vars.push({ name, value: line.slice(eq + 1) });
  }
  return { ok: true, value: vars };
}

function required(value: string, what: string): string | null {
  return value.trim() === "" ? `${what} is empty: fill it in.` : null;
}

/** The form as the backend takes it, or the first thing to fix. */
export function manualCluster(form: ManualForm): Parsed<ManualCluster> {
  const missing = required(form.name, "The name") ?? required(form.server, "The server URL");
  if (missing) return { ok: false, error: missing };
  const server = form.server.trim();
  if (!/^https?:\/\/[^\s/]+/.test(server)) {
    return { ok: false, error: `The server URL "${server}" is not an http(s) URL: write it as https://host:port, as in a kubeconfig.` };
  }
  let auth: ManualAuth;
  switch (form.auth) {
    case "token": {
      const problem = required(form.token, "The token");
      if (problem) return { ok: false, error: problem };
      auth = { type: "token", token: form.token.trim() };
      break;
    }
    case "clientCertificate": {
      const problem = required(form.cert, "The client certificate") ?? required(form.key, "The client key");
      if (problem) return { ok: false, error: problem };
      auth = { type: "clientCertificate", certificate: form.cert.trim(), key: form.key.trim() };
      break;
    }
    case "exec": {
      const problem = required(form.execCommand, "The plugin's command");
      if (problem) return { ok: false, error: problem };
      const env = parseEnv(form.execEnv);
      if (!env.ok) return env;
      auth = {
        type: "exec",
        command: form.execCommand.trim(),
        args: parseArgs(form.execArgs),
        env: env.value,
        api_version: form.execApi,
      };
      break;
    }
  }
  const ca = form.ca.trim();
  return {
    ok: true,
    value: {
      name: form.name.trim(),
      server,
      certificateAuthority: ca === "" ? null : ca,
      insecureSkipTlsVerify: form.insecure,
      auth,
    },
  };
}

/** Whether a context can be imported (the backend names why not in `problem`). */
export function importable(context: ContextChoice): boolean {
  return context.problem === null;
}

/**
 * The contexts checked when a kubeconfig is read: its current context when importable, or
 * the only importable one; otherwise none (the user picks).
 */
export function initialSelection(preview: KubeconfigPreview): string[] {
  const usable = preview.contexts.filter(importable);
  const current = usable.find((c) => c.name === preview.currentContext);
  if (current) return [current.name];
  const only = usable.length === 1 ? usable[0] : undefined;
  return only ? [only.name] : [];
}

/** `selected` with `name` checked or unchecked, in the kubeconfig's order. */
export function toggleContext(preview: KubeconfigPreview, selected: readonly string[], name: string, on: boolean): string[] {
  const next = new Set(selected);
  if (on) next.add(name);
  else next.delete(name);
  return preview.contexts.filter((c) => importable(c) && next.has(c.name)).map((c) => c.name);
}

/** How a context's user authenticates, in words. */
export function authWords(auth: AuthKind): string {
  switch (auth) {
    case "token":
      return "token";
    case "clientCertificate":
      return "client certificate";
    case "basic":
      return "user name and password";
    case "exec":
      return "exec plugin";
    case "none":
      return "no credentials";
  }
}
