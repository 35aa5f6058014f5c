//! Deleting a cluster, as an explicit action (`kubariumd delete`, kind's `delete cluster`):
//! what it left in Docker (its containers and network), its key in the OS keychain, then its
//! data dir with the state, PKI and volumes.

use std::path::Path;

use crate::datadir::DataDir;
use crate::{Error, Result};

/// What deleting a cluster removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// How many of its containers were removed from Docker.
    pub containers: usize,
}

/// Deletes the cluster whose data dir is `data_dir`. Refuses while the cluster runs (its
/// data dir is locked). Docker is cleaned first: when it cannot be reached nothing is
/// deleted, so a later try still knows which containers are the cluster's.
pub async fn delete_cluster(data_dir: &Path) -> Result<Deleted> {
    let dir = DataDir::open(data_dir)?;
    let containers = kubarium_node::delete_cluster(dir.path())
        .await
        .map_err(Error::Nodes)?;
    crate::storage::forget_key(&dir.path().join("pki"))?;
    std::fs::remove_dir_all(dir.path()).map_err(Error::io(dir.path()))?;
    Ok(Deleted { containers })
}
