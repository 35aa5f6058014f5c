//! Assembles a local Kubarium cluster and runs it.
//!
//! [`ClusterBuilder`] turns a data directory into a running [`Cluster`]: it locks the
//! directory, loads or creates the cluster's PKI and admin credential, writes a kubeconfig
//! (0600), starts the API server on a loopback TLS listener, and hands out an in-process
//! `kube::Client` that calls the API server's router directly. The desktop app and the
//! headless daemon `kubariumd` both start clusters only through this crate.

mod args;
mod builder;
mod datadir;
mod delete;
mod error;
pub mod kubeconfig;
mod kubelet;
mod pki;
mod signal;
mod storage;
pub mod telemetry;

pub use args::ClusterArgs;
pub use builder::{
    Cluster, ClusterBuilder, ClusterConfig, DEFAULT_INGRESS_HTTP_PORT, DEFAULT_INGRESS_HTTPS_PORT,
    DEFAULT_LISTEN, DEFAULT_NODES, RuntimeKind, SecretsKey, name_client, user_agent,
};
pub use datadir::default_data_dir;
pub use delete::{Deleted, delete_cluster};
pub use error::{Error, Result};
pub use signal::stop_signal;
