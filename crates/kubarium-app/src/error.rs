//! Errors of the app layer. They reach the UI as `{code, message, causes}`
//! ([`crate::ipc::AppError`]) through the one conversion below, so every command words its
//! failures the same way.

use crate::ipc::{AppError, ErrorCode, FieldCause};

/// Errors of the app layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded cluster is not running; says why (still starting, failed, or stopped).
    #[error("the local cluster is not running: {0}")]
    NotRunning(String),
    /// No cluster by that id.
    #[error("there is no cluster named {0:?}")]
    UnknownCluster(String),
    /// A resource name the app does not know (`pods`, `deployments`, … are known).
    #[error("Kubarium does not know the resource {0:?}")]
    UnknownResource(String),
    /// No running watch, stream or forward with that id (it ended or was stopped).
    #[error("nothing runs with id {0}; it has ended")]
    UnknownStream(u64),
    /// The embedded cluster could not start again; the message says why.
    #[error("{0}")]
    ClusterStart(String),
    /// A node the local cluster does not have; names those it has.
    #[error("there is no node {name:?} in the local cluster; its nodes are {}", nodes.join(", "))]
    NodeNotFound { name: String, nodes: Vec<String> },
    /// Something only the embedded cluster can do (its nodes, stopping it, resetting it).
    #[error("{what} only works on the local cluster, and {cluster:?} is not it")]
    NotLocal { what: String, cluster: String },
    /// Something asked for that does not exist, said in full (an unknown revision, …).
    #[error("{0}")]
    NotFound(String),
    /// A document's apiVersion/kind the cluster does not serve.
    #[error(
        "the cluster has no kind {kind:?} in apiVersion {api_version:?}; check both for typos, or install the CustomResourceDefinition that adds it"
    )]
    UnknownKind { api_version: String, kind: String },
    /// The object changed (or went) after the edit was opened: its resourceVersion moved on.
    #[error(
        "{kind} {name:?} {}; reload it and make your edit again", if *deleted { "was deleted since you opened it" } else { "changed since you opened it" }
    )]
    Changed {
        kind: String,
        name: String,
        deleted: bool,
    },
    /// Input the app itself refuses, with what to do instead.
    #[error("{0}")]
    Local(String),
    /// Nothing answers at a remote cluster's server (refused, timed out, no such host).
    #[error(
        "nothing answers at {server} ({reason}); is the cluster running, and is this machine on its network (VPN)?"
    )]
    Unreachable { server: String, reason: String },
    /// The server's certificate failed verification; `fingerprint` is its SHA-256, when it
    /// could be fetched.
    #[error(
        "the server at {server} presented a certificate that does not verify ({reason}){}; if you trust it, import the kubeconfig again with the CA that signs it, otherwise something may be intercepting the connection",
        fingerprint.as_deref().map(|f| format!("; its SHA-256 fingerprint is {f}")).unwrap_or_default()
    )]
    Tls {
        server: String,
        reason: String,
        fingerprint: Option<String>,
    },
    /// The server refused the credentials (401).
    #[error(
        "the credentials for {cluster} were refused: the token is wrong or expired; import its kubeconfig again (or add it again) with current credentials"
    )]
    Unauthorized { cluster: String },
    /// The exec credential plugin is missing or failed; says which and what to do.
    #[error("{0}")]
    ExecPlugin(String),
    /// No OS keychain to keep a remote cluster's credentials in (they are never written to
    /// a file instead); says why.
    #[error(
        "there is no OS keychain to keep the cluster's credentials in ({0}); start a Secret Service (GNOME Keyring or KWallet) in your session, then restart Kubarium"
    )]
    NoKeychain(String),
    /// The OS keychain failed to keep, return or delete a credential.
    #[error("the OS keychain failed: {0}; unlock it (or check that it runs) and try again")]
    Keychain(#[from] kubarium_keychain::Error),
    /// A kubeconfig that cannot be read or parsed; `origin` names it.
    #[error("could not read the kubeconfig {origin}: {reason}")]
    Kubeconfig { origin: String, reason: String },
    /// Input for a remote cluster the app refuses (a context that cannot be imported, a
    /// field of a cluster added by hand); says which and what to do.
    #[error("{0}")]
    BadInput(String),
    /// The list of remote clusters (`clusters.json`) could not be read or written.
    #[error("the cluster list {} could not be {action}: {reason}", path.display())]
    ClusterList {
        path: std::path::PathBuf,
        action: &'static str,
        reason: String,
    },
    /// What the cluster answered, or why it could not be asked.
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        match error {
            Error::NotRunning(_) => AppError::new(ErrorCode::Unreachable, sentence(&error)),
            Error::UnknownCluster(_)
            | Error::UnknownResource(_)
            | Error::UnknownStream(_)
            | Error::NodeNotFound { .. }
            | Error::UnknownKind { .. } => AppError::new(ErrorCode::NotFound, sentence(&error)),
            Error::NotFound(message) => AppError::new(ErrorCode::NotFound, message),
            Error::ClusterStart(message) => AppError::new(ErrorCode::ClusterStart, message),
            Error::NotLocal { .. } => AppError::new(ErrorCode::Local, sentence(&error)),
            Error::Changed { .. } => AppError::new(ErrorCode::Conflict, sentence(&error)),
            Error::Local(message) => AppError::new(ErrorCode::Local, message),
            Error::Unreachable { .. } => AppError::new(ErrorCode::Unreachable, sentence(&error)),
            Error::Tls { .. } => AppError::new(ErrorCode::Tls, sentence(&error)),
            Error::Unauthorized { .. } => AppError::new(ErrorCode::Unauthorized, sentence(&error)),
            Error::ExecPlugin(_) => AppError::new(ErrorCode::Unauthorized, sentence(&error)),
            Error::NoKeychain(_) | Error::Keychain(_) | Error::ClusterList { .. } => {
                AppError::new(ErrorCode::Local, sentence(&error))
            }
            Error::Kubeconfig { .. } => AppError::new(ErrorCode::BadRequest, sentence(&error)),
            Error::BadInput(message) => AppError::new(ErrorCode::BadRequest, message),
            Error::Kube(kube::Error::Api(status)) => {
                let code = match status.code {
                    400 => ErrorCode::BadRequest,
                    401 => ErrorCode::Unauthorized,
                    403 => ErrorCode::Forbidden,
                    404 => ErrorCode::NotFound,
                    409 => ErrorCode::Conflict,
                    422 => ErrorCode::Invalid,
                    _ => ErrorCode::Server,
                };
                let causes = status
                    .details
                    .iter()
                    .flat_map(|details| details.causes.iter())
                    .map(|cause| FieldCause {
                        field: cause.field.clone(),
                        message: cause.message.clone(),
                    })
                    .collect();
                let message = match status.code {
                    401 => "The credentials were refused (401): the token is wrong or expired; import the cluster's kubeconfig again with current credentials.".to_owned(),
                    403 => forbidden(&status.message),
                    _ if status.message.is_empty() => {
                        format!("The API server refused the request ({}).", status.code)
                    }
                    _ => status.message.clone(),
                };
                AppError {
                    code,
                    message,
                    causes,
                }
            }
            Error::Kube(other) => transport(&other),
        }
    }
}

/// A request that got no answer, said as well as can be without knowing the cluster (the
/// status probe of a remote cluster says it with its server and the certificate's
/// fingerprint: `clusters::connect::explain`).
fn transport(error: &kube::Error) -> AppError {
    if let Some(reason) = crate::clusters::tls_failure(error) {
        return AppError::new(
            ErrorCode::Tls,
            format!(
                "The API server's certificate does not verify ({reason}); import the kubeconfig again with the CA that signs it."
            ),
        );
    }
    if let Some(reason) = crate::clusters::connect_failure(error) {
        return AppError::new(
            ErrorCode::Unreachable,
            format!(
                "Nothing answers at the API server ({reason}); is the cluster running, and is this machine on its network (VPN)?"
            ),
        );
    }
    if let Some(auth) = crate::clusters::auth_failure(error) {
        return AppError::new(
            ErrorCode::Unauthorized,
            format!(
                "The credentials could not be obtained ({auth}); see the cluster's status for what its exec plugin said, then try again."
            ),
        );
    }
    AppError::new(
        ErrorCode::Unreachable,
        format!("The API server could not be reached: {error}."),
    )
}

/// A 403's message in the words of the contract with the user: who they are, what they may
/// not do. Kubernetes says `pods is forbidden: User "jane" cannot list resource "pods" in API
/// group "" in the namespace "default"`; anything else is passed on as it came.
fn forbidden(message: &str) -> String {
    let parsed = (|| {
        let (_, rest) = message.split_once("User \"")?;
        let (user, rest) = rest.split_once('"')?;
        let rest = rest.trim_start().strip_prefix("cannot ")?;
        let (verb, rest) = rest.split_once(" resource \"")?;
        let (resource, rest) = rest.split_once('"')?;
        let namespace = rest
            .split_once("in the namespace \"")
            .and_then(|(_, ns)| ns.split_once('"'))
            .map(|(ns, _)| format!(" in namespace {ns}"))
            .unwrap_or_default();
        Some(format!(
            "Authenticated as {user}, but not allowed to {verb} {resource}{namespace}; ask the cluster's administrator for an RBAC role that allows it."
        ))
    })();
    parsed.unwrap_or_else(|| {
        if message.is_empty() {
            "Authenticated, but not allowed to do this (403); ask the cluster's administrator for an RBAC role that allows it.".to_owned()
        } else {
            format!("Not allowed: {message}.")
        }
    })
}

/// An error's text as a sentence for people: capitalised, with a full stop.
fn sentence(error: &Error) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_the_user_and_what_they_may_not_do() {
        assert_eq!(
            forbidden(
                r#"pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default""#
            ),
            "Authenticated as jane, but not allowed to list pods in namespace default; ask the cluster's administrator for an RBAC role that allows it."
        );
        assert_eq!(
            forbidden(
                r#"nodes is forbidden: User "bob" cannot delete resource "nodes" in API group "" at the cluster scope"#
            ),
            "Authenticated as bob, but not allowed to delete nodes; ask the cluster's administrator for an RBAC role that allows it."
        );
        assert_eq!(forbidden("no"), "Not allowed: no.");
    }

    #[test]
    fn tls_errors_carry_the_fingerprint() {
        let error = Error::Tls {
            server: "https://10.0.0.1:6443".to_owned(),
            reason: "invalid peer certificate: UnknownIssuer".to_owned(),
            fingerprint: Some("AB:CD".to_owned()),
        };
        let app = AppError::from(error);
        assert_eq!(app.code, ErrorCode::Tls);
        assert!(
            app.message.contains("its SHA-256 fingerprint is AB:CD;"),
            "{}",
            app.message
        );
    }

    #[tokio::test]
    async fn a_refused_connection_says_nothing_answers() {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(
            "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
        )
        .unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let error = client.apiserver_version().await.unwrap_err();
        let app = AppError::from(Error::Kube(error));
        assert_eq!(app.code, ErrorCode::Unreachable);
        assert!(
            app.message
                .starts_with("Nothing answers at the API server ("),
            "{}",
            app.message
        );
    }
}
