// The add-cluster dialog's parsing: exec args and env, the by-hand form, the context choice.
import { describe, expect, it } from "vitest";
import type { ContextChoice, KubeconfigPreview } from "../ipc/clusters";
import { EMPTY_FORM, initialSelection, manualCluster, parseArgs, parseEnv, toggleContext } from "./forms";

describe("parseArgs", () => {
  it("takes one argument per line, trimmed, skipping empty lines", () => {
    expect(parseArgs("eks\n  get-token \n\n--cluster-name\nprod\n")).toEqual(["eks", "get-token", "--cluster-name", "prod"]);
    expect(parseArgs("")).toEqual([]);
  });
});

describe("parseEnv", () => {
  it("splits NAME=value lines at the first =", () => {
    expect(parseEnv("AWS_PROFILE=prod\n\nQUERY=a=b\nEMPTY=")).toEqual({
      ok: true,
      value: [
        { name: "AWS_PROFILE", value: "prod" },
        { name: "QUERY", value: "a=b" },
        { name: "EMPTY", value: "" },
      ],
    });
  });

  it("names the line that is not NAME=value", () => {
    const parsed = parseEnv("A=1\njust words");
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(/line 2 \("just words"\)/);
    expect(parseEnv("1BAD=x").ok).toBe(false);
  });
});

describe("manualCluster", () => {
  const base = { ...EMPTY_FORM, name: " prod ", server: "https://10.0.0.1:6443 ", token: " abc " };

  it("builds a token cluster, trimming and dropping an empty CA", () => {
    expect(manualCluster(base)).toEqual({
      ok: true,
      value: {
        name: "prod",
        server: "https://10.0.0.1:6443",
        certificateAuthority: null,
        insecureSkipTlsVerify: false,
        auth: { type: "token", token: "abc" },
      },
    });
  });

  it("keeps the CA and the insecure flag", () => {
    const parsed = manualCluster({ ...base, ca: "-----BEGIN CERTIFICATE-----\n…\n", insecure: true });
    expect(parsed.ok && parsed.value.certificateAuthority).toBe("-----BEGIN CERTIFICATE-----\n…");
    expect(parsed.ok && parsed.value.insecureSkipTlsVerify).toBe(true);
  });

  it("builds a client-certificate cluster and asks for the key", () => {
    const cert = { ...base, auth: "clientCertificate" as const, cert: "CERT", key: "" };
    expect(manualCluster(cert)).toEqual({ ok: false, error: "The client key is empty: fill it in." });
    const parsed = manualCluster({ ...cert, key: "KEY" });
    expect(parsed.ok && parsed.value.auth).toEqual({ type: "clientCertificate", certificate: "CERT", key: "KEY" });
  });

  it("builds an exec cluster with its args, env and API version", () => {
    const parsed = manualCluster({
      ...base,
      auth: "exec",
      execCommand: "aws",
      execArgs: "eks\nget-token",
      execEnv: "AWS_PROFILE=prod",
      execApi: "client.authentication.k8s.io/v1beta1",
    });
    expect(parsed.ok && parsed.value.auth).toEqual({
      type: "exec",
      command: "aws",
      args: ["eks", "get-token"],
      env: [{ name: "AWS_PROFILE", value: "prod" }],
      api_version: "client.authentication.k8s.io/v1beta1",
    });
    const badEnv = manualCluster({ ...base, auth: "exec", execCommand: "aws", execEnv: "oops" });
    expect(badEnv.ok).toBe(false);
  });

  it("says what is missing or malformed", () => {
    expect(manualCluster({ ...base, name: "" })).toEqual({ ok: false, error: "The name is empty: fill it in." });
    expect(manualCluster({ ...base, token: "  " })).toEqual({ ok: false, error: "The token is empty: fill it in." });
    const bad = manualCluster({ ...base, server: "10.0.0.1:6443" });
    expect(!bad.ok && bad.error).toMatch(/not an http\(s\) URL/);
  });
});

function context(name: string, overrides: Partial<ContextChoice> = {}): ContextChoice {
  return {
    name,
    cluster: name,
    user: name,
    server: `https://${name}:6443`,
    auth: "token",
    namespace: null,
    alreadyImported: false,
    problem: null,
    ...overrides,
  };
}

function preview(contexts: ContextChoice[], currentContext: string | null): KubeconfigPreview {
  return { origin: "~/.kube/config", contexts, currentContext };
}

describe("initialSelection and toggleContext", () => {
  it("checks the current context", () => {
    expect(initialSelection(preview([context("a"), context("b")], "b"))).toEqual(["b"]);
  });

  it("never checks a context with a problem; takes the only importable one instead", () => {
    const p = preview([context("gke", { problem: "auth-provider gcp is not supported" }), context("kind")], "gke");
    expect(initialSelection(p)).toEqual(["kind"]);
    expect(initialSelection(preview([context("a"), context("b")], null))).toEqual([]);
  });

  it("keeps the kubeconfig's order and refuses contexts with a problem", () => {
    const p = preview([context("a"), context("bad", { problem: "no" }), context("c")], null);
    let selected = toggleContext(p, [], "c", true);
    selected = toggleContext(p, selected, "a", true);
    expect(selected).toEqual(["a", "c"]);
    expect(toggleContext(p, selected, "bad", true)).toEqual(["a", "c"]);
    expect(toggleContext(p, selected, "a", false)).toEqual(["c"]);
  });
});
