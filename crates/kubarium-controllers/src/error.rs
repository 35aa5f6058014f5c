//! Why a control loop could not do its work. Reconcilers return these; the loop logs them
//! and retries with backoff, as kube-controller-manager's work queues do.

/// Errors of the control loops.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("{verb} {what}: {source}")]
    Api {
        /// What was asked, e.g. `create`, `patch status`.
        verb: &'static str,
        /// The object, e.g. `pods default/web-0`.
        what: String,
        /// What the API server or the transport said.
        source: kube::Error,
    },
    /// An object lacks something its controller needs (a name, a namespace, a selector).
    #[error("{what}: {reason}")]
    Invalid {
        /// The object.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// An API failure of `verb` on `what`.
    pub fn api(verb: &'static str, what: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let what = what.into();
        move |source| Error::Api { verb, what, source }
    }

    /// Whether the API server answered 409 Conflict (a stale resourceVersion or an
    /// existing name): the caller re-reads and tries again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api { source: kube::Error::Api(status), .. } if status.code == 409)
    }

    /// Whether the API server answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { source: kube::Error::Api(status), .. } if status.code == 404)
    }
}

/// Result of a control-loop step.
pub type Result<T, E = Error> = std::result::Result<T, E>;
