//! Remote clusters next to the local one: connecting to them and telling why a connection
//! fails ([`connect`]), their clients and status ([`remote`]), RBAC checks ([`access`]), and
//! the local cluster's kubeconfig for other tools ([`export`]).

mod access;
pub(crate) mod connect;
pub(crate) mod export;
mod remote;

pub use access::can_i;
pub(crate) use connect::tls_failure;
pub(crate) use remote::Remote;
pub use remote::{ClusterSource, InMemoryClusters};
