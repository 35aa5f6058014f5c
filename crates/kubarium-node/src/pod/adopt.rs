//! Adoption: a worker whose agent restarted (the daemon was restarted) starts from what the
//! runtime already runs for its pod, found by the containers' labels — the same sandbox and
//! container ids, no restart counted — instead of starting the pod again, as the kubelet
//! does with the containers it finds at start.

use super::Worker;
use crate::runtime::{ContainerState, PodContainer};

impl Worker {
    /// Once per worker, before its first sandbox: adopts the pod's running sandbox and its
    /// containers, or clears what a stopped sandbox left behind.
    pub(super) async fn adopt(&mut self) {
        if !self.adopt_pending || self.sandbox.is_some() {
            return;
        }
        let runtime = self.shared.runtime.clone();
        let found = match runtime.pod_containers(&self.uid()).await {
            Ok(found) => found,
            Err(error) => {
                // Tried again on the next pass (the sandbox cannot be made either).
                tracing::debug!(pod = self.name(), %error, "could not look for the pod's containers");
                return;
            }
        };
        self.adopt_pending = false;
        let Some(found) = found else { return };
        match found.sandbox {
            Some((sandbox, true)) => {
                tracing::info!(pod = self.name(), sandbox = %sandbox.id.0, "adopting the pod's running containers");
                self.ip = sandbox.ip.or(self.ip);
                self.sandbox = Some(sandbox.id);
                for slot in self.init.iter_mut().chain(self.main.iter_mut()) {
                    let mut mine: Vec<&PodContainer> = found
                        .containers
                        .iter()
                        .filter(|c| c.name == slot.name)
                        .collect();
                    mine.sort_by_key(|c| std::cmp::Reverse(c.attempt));
                    if let Some(latest) = mine.first() {
                        slot.current = Some(latest.status.clone());
                        slot.restarts = slot.restarts.max(latest.attempt);
                        slot.adopted = None;
                    }
                    if let Some(previous) = mine.get(1) {
                        slot.last = Some(previous.status.clone());
                    }
                    for older in mine.iter().skip(2) {
                        let _ = runtime.remove_container(&older.status.id).await;
                    }
                }
            }
            sandbox => {
                // Its sandbox is gone or stopped: nothing of it can be kept.
                for container in &found.containers {
                    if matches!(container.status.state, ContainerState::Running { .. }) {
                        let _ = runtime
                            .stop_container(&container.status.id, std::time::Duration::ZERO)
                            .await;
                    }
                    let _ = runtime.remove_container(&container.status.id).await;
                }
                if let Some((sandbox, _)) = sandbox {
                    let _ = runtime.remove_pod_sandbox(&sandbox.id).await;
                }
            }
        }
    }
}
