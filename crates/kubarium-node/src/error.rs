//! Why a node agent, or a request to add, stop, start or remove a node, failed. The
//! messages reach people as they are (through `kubariumd node …` and the desktop app), so
//! each says what failed and what to do next.

/// Errors of the node agents and the node controls.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("{verb} {what}: {source}")]
    Api {
        /// What was asked, e.g. `create`, `patch status`.
        verb: &'static str,
        /// The object, e.g. `nodes/kubarium-worker`.
        what: String,
        /// What the API server or the transport said.
        source: kube::Error,
    },
    /// No Node has that name.
    #[error("node {name} does not exist; `kubectl get nodes` lists the cluster's nodes")]
    NodeNotFound {
        /// The name asked for.
        name: String,
    },
    /// A Node with that name exists already.
    #[error(
        "node {name} already exists; choose another name, or leave the name out to get the next free one"
    )]
    NodeExists {
        /// The name asked for.
        name: String,
    },
    /// The Node is not one of Kubarium's simulated nodes, so no agent of ours runs it.
    #[error(
        "node {name} is not managed by Kubarium (it has no kubarium.dev/managed-node=true label), so Kubarium cannot stop, start or remove its agent"
    )]
    NotManaged {
        /// The node's name.
        name: String,
    },
    /// An image cannot be had: `reason` is the container's waiting reason
    /// (`ErrImagePull`, `ErrImageNeverPull`, `InvalidImageName`), `message` says what to do.
    #[error("{message}")]
    Image {
        /// The waiting reason.
        reason: &'static str,
        /// What happened and what to do.
        message: String,
    },
    /// A container runtime could not do what was asked.
    #[error("container runtime: {reason}")]
    Runtime {
        /// What the runtime said.
        reason: String,
    },
}

impl Error {
    /// An API failure of `verb` on `what`.
    pub fn api(verb: &'static str, what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Error::Api { verb, what, source }
    }

    /// The HTTP status the API server answered with, if it answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Api {
                source: kube::Error::Api(status),
                ..
            } => Some(status.code),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
