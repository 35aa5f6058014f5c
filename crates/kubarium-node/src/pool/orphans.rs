//! Orphan cleanup: containers labelled with this cluster whose pod no longer exists (it was
//! deleted while the daemon was down) are removed, once the pod watch has listed every pod
//! and then every [`SWEEP`] (one list of the runtime's containers each time).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::AbortHandle;

use super::{Shared, lock};

/// How often the containers of gone pods are looked for after the first time.
const SWEEP: Duration = Duration::from_secs(60);

/// The periodic sweep; it ends when this is dropped (with the pod watch that started it).
pub(super) struct Sweeper(AbortHandle);

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Shared {
    /// Sweeps for orphans every [`SWEEP`]; to be started once every pod has been listed.
    pub(super) fn start_sweeping(self: &Arc<Self>) -> Sweeper {
        let shared = self.clone();
        Sweeper(
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(SWEEP);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    shared.clone().remove_orphans().await;
                }
            })
            .abort_handle(),
        )
    }

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
