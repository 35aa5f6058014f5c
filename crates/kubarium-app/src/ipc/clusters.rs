//! Types of the cluster list as the UI sends and receives them: remote clusters imported
//! from kubeconfigs or added by hand, the keychain that holds their credentials, the
//! RBAC checks that decide which actions are offered, and the local cluster's kubeconfig.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How a cluster's client proves who it is. Only the kind crosses to the UI; the secrets
/// themselves stay in the OS keychain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum AuthKind {
    /// A bearer token.
    Token,
    /// A client certificate and its private key.
    ClientCertificate,
    /// A username and password (HTTP basic).
    Basic,
    /// An exec credential plugin (`client.authentication.k8s.io`).
    Exec,
    /// No credentials (the server allows anonymous requests, or an auth provider Kubarium
    /// does not support).
    None,
}

/// One cluster in the switcher. The local cluster (id [`crate::LOCAL`]) comes first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ClusterEntry {
    /// Stable id, used in every command (`local` for the embedded cluster; a slug of the
    /// name for remote ones).
    pub id: String,
    /// The name the user sees (the kubeconfig context's name for imported clusters).
    pub name: String,
    /// True for the embedded cluster.
    pub local: bool,
    /// The API server URL.
    pub server: String,
    /// How the client authenticates.
    pub auth: AuthKind,
    /// The namespace the context selects, if any.
    pub namespace: Option<String>,
}

/// Where a kubeconfig to import comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum KubeconfigSource {
    /// The files kubectl reads: every path in `KUBECONFIG`, else `~/.kube/config`.
    Default,
    /// Text the user pasted, or the contents of a file they picked (`origin` names it in
    /// messages, e.g. the file's name or "pasted text").
    Text { text: String, origin: String },
}

/// One context of a kubeconfig, as the import dialog lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ContextChoice {
    /// The context's name.
    pub name: String,
    /// Its cluster entry's name.
    pub cluster: String,
    /// Its user entry's name.
    pub user: String,
    /// The cluster's server URL.
    pub server: String,
    /// How its user authenticates.
    pub auth: AuthKind,
    /// The namespace it selects, if any.
    pub namespace: Option<String>,
    /// A cluster with this name is already in the list (importing it again replaces it).
    pub already_imported: bool,
    /// Why it cannot be imported (a referenced file that cannot be read, an auth provider
    /// Kubarium does not support…); `None` when it can.
    pub problem: Option<String>,
}

/// What a kubeconfig holds, before anything is imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigPreview {
    /// Where it was read from (file paths, or the text's origin).
    pub origin: String,
    /// Its contexts, in file order.
    pub contexts: Vec<ContextChoice>,
    /// Its `current-context`, if any.
    pub current_context: Option<String>,
}

/// A cluster added by hand.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ManualCluster {
    /// The name to show (also its context name on export).
    pub name: String,
    /// The API server URL (`https://host:port`).
    pub server: String,
    /// The CA certificate(s) that sign the server's certificate, PEM; `None` trusts the
    /// system's roots.
    pub certificate_authority: Option<String>,
    /// Skips verifying the server's certificate (as kubeconfig's
    /// `insecure-skip-tls-verify`).
    pub insecure_skip_tls_verify: bool,
    /// How to authenticate.
    pub auth: ManualAuth,
}

/// The credentials of a cluster added by hand; they go straight to the keychain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum ManualAuth {
    /// A bearer token.
    Token { token: String },
    /// A client certificate and key, both PEM.
    ClientCertificate { certificate: String, key: String },
    /// An exec credential plugin.
    Exec {
        /// The program (a name looked up on the login PATH, or a path).
        command: String,
        args: Vec<String>,
        /// Extra environment for the plugin; every value is kept in the keychain.
        env: Vec<EnvVar>,
        /// `client.authentication.k8s.io/v1` or `…/v1beta1`.
        api_version: String,
    },
}

/// One environment variable of an exec plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// The OS keychain the app keeps credentials in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct KeychainInfo {
    /// Which store is in use, in words ("Secret Service (D-Bus)", "kernel keyutils",
    /// "macOS Keychain"…); `None` when there is none.
    pub store: Option<String>,
    /// Why there is none, and what to do; `None` when one is in use. Without a keychain
    /// nothing can be imported (no credential is ever written to a file instead).
    pub problem: Option<String>,
}

/// One question for the API server's `SelfSubjectAccessReview`: may I `verb` this?
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AccessCheck {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`…
    pub verb: String,
    /// The API group (`""` for core, `apps`…).
    pub group: String,
    /// The plural resource (`pods`, `deployments`…).
    pub resource: String,
    /// A subresource (`scale`, `exec`, `portforward`, `log`, `eviction`…).
    pub subresource: Option<String>,
    /// The namespace; `None` for cluster-scoped resources or all namespaces.
    pub namespace: Option<String>,
    /// One object's name; `None` for any.
    pub name: Option<String>,
}

/// What merging the local cluster into the user's kubeconfig did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MergeOutcome {
    /// The kubeconfig file that was written.
    pub path: String,
    /// The context added (or replaced) there.
    pub context: String,
    /// Where the file as it was before was saved; `None` when there was no file.
    pub backup: Option<String>,
}
