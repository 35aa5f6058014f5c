//! Orphan cleanup: containers labelled with this cluster whose pod no longer exists (it was
//! deleted while the daemon was down) are removed, once the pod watch has listed every pod.

use std::sync::Arc;
use std::time::Duration;

use super::{Shared, lock};

impl Shared {
    /// Removes the containers of every pod the runtime holds that the cluster does not.
    pub(super) async fn remove_orphans(self: Arc<Self>) {
        if self.runtime.ready().is_err() {
            return;
        }
        let uids = match self.runtime.pod_uids().await {
            Ok(uids) => uids,
            Err(error) => {
                tracing::debug!(%error, "could not list the runtime's pods");
                return;
            }
        };
        let orphans: Vec<String> = {
            let state = lock(&self.state);
            uids.into_iter()
                .filter(|uid| !state.pods.contains_key(uid))
                .collect()
        };
        for uid in orphans {
            let found = match self.runtime.pod_containers(&uid).await {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(error) => {
                    tracing::debug!(%uid, %error, "could not look at an orphaned pod's containers");
                    continue;
                }
            };
            // A pod created since the list is not an orphan.
            if lock(&self.state).pods.contains_key(&uid) {
                continue;
            }
            tracing::info!(%uid, containers = found.containers.len(), "removing the containers of a pod that no longer exists");
            for container in &found.containers {
                let _ = self
                    .runtime
                    .stop_container(&container.status.id, Duration::ZERO)
                    .await;
                let _ = self.runtime.remove_container(&container.status.id).await;
            }
            if let Some((sandbox, _)) = found.sandbox {
                let _ = self.runtime.remove_pod_sandbox(&sandbox.id).await;
            }
        }
    }
}
