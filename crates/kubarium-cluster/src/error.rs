//! Why a cluster could not start. Every variant names what failed and what to do next,
//! because the desktop app and kubariumd show these messages to people as they are.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors starting or running a local cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory (or a file in it) could not be created, read or written.
    #[error("could not use {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Another process holds the data directory's lock.
    #[error(
        "{path} is in use by another Kubarium cluster{}; stop that one first, or give this one its own --data-dir",
        .pid.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    DataDirInUse {
        /// The data directory.
        path: PathBuf,
        /// The process that holds the lock, when it wrote its pid.
        pid: Option<u32>,
    },
    /// The address to listen on is taken or not ours to bind.
    #[error(
        "cannot listen on {addr}: {source}; stop whatever uses that port, or choose another with --listen 127.0.0.1:<port>"
    )]
    Bind {
        /// The requested listen address.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file given for the kubeconfig holds other clusters' contexts.
    #[error(
        "{path} already holds other contexts ({contexts}); Kubarium will not overwrite it. Pass --kubeconfig with a file of its own"
    )]
    ForeignKubeconfig {
        /// The kubeconfig path.
        path: PathBuf,
        /// The contexts found in it.
        contexts: String,
    },
    /// A certificate or key could not be generated or read back.
    #[error(
        "the cluster's certificates in {path} could not be used ({reason}); delete that folder to generate new ones"
    )]
    Pki {
        /// The PKI folder.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The store could not be opened.
    #[error("the cluster's database {path} could not be opened: {source}")]
    Store {
        /// The database file.
        path: PathBuf,
        /// What the store said.
        source: kubarium_store::Error,
    },
    /// The key that seals Secrets is meant to be in the OS keychain, which cannot be used.
    #[error(
        "the key that seals this cluster's Secrets is kept in the OS keychain, which cannot be used here ({reason}); start the cluster from a desktop session with its keychain unlocked"
    )]
    Keychain {
        /// What the keychain said.
        reason: String,
    },
    /// The objects every cluster starts with could not be created.
    #[error("the cluster could not create its system namespaces: {0}")]
    Bootstrap(kubarium_apiserver::StatusError),
    /// The node agents could not start.
    #[error("the cluster's nodes could not start: {0}")]
    Nodes(kubarium_node::Error),
    /// The services controller (Service proxies, cluster DNS, ingress) could not start.
    #[error("the cluster's services controller could not start: {0}")]
    Services(kubarium_node::Error),
    /// The serving TLS configuration was rejected.
    #[error(transparent)]
    Tls(#[from] kubarium_apiserver::ServeError),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
