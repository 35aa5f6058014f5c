//! Errors of the app layer. They reach the UI as `{code, message}` ([`crate::ipc::AppError`]).

/// Errors of the app layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The embedded cluster is not running; says why (still starting, failed, or stopped).
    #[error("the local cluster is not running: {0}")]
    NotRunning(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
