//! A sandbox that stopped under a running pod (its pause container killed or removed by
//! hand, Docker restarted): as the kubelet's `computePodActions` on a changed sandbox, the
//! pod's containers are killed (they sit in the dead sandbox's network namespace), a
//! `SandboxChanged` event says so, and the worker makes the sandbox again, then runs the
//! init containers and the containers anew, each counted as a restart. A pod with
//! `restartPolicy: Never` whose containers have run gets no new sandbox: it ends there.
//!
//! What the pod keeps across it: its emptyDirs (on disk under the pod's directory; a memory
//! one is held by the runtime apart from the sandbox) and, on Docker, its IP (the stopped
//! sandbox is started again on its address).

use std::time::Duration;

use futures_util::future;
use kubarium_controllers::events::EventType;
use kube::Resource;

use super::Worker;

impl Worker {
    /// The grace period for killing the pod's containers, as the kubelet's `killContainer`:
    /// `first` when given (the deletion's, a probe's), else the pod's
    /// `terminationGracePeriodSeconds`, else 30 s.
    pub(super) fn grace_period(&self, first: Option<i64>) -> Duration {
        let seconds = first
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
    }

    /// Stops every running container of the pod at once, one grace period in all, with the
    /// kubelet's `Killing` events, then re-reads their states.
    pub(super) async fn kill_containers(&mut self, grace: Duration) {
        let runtime = self.shared.runtime.clone();
        let mut running = Vec::new();
        for slot in self.init.iter().chain(&self.main) {
            if let Some(id) = slot.running() {
                self.event(
                    slot,
                    EventType::Normal,
                    "Killing",
                    format!("Stopping container {}", slot.name),
                );
                running.push(id.clone());
            }
        }
        future::join_all(running.iter().map(|id| runtime.stop_container(id, grace))).await;
        self.refresh().await;
    }

    /// The sandbox stopped: kills the containers and leaves the pod to be started anew by
    /// [`Worker::advance`] (see the module's header).
    pub(super) async fn replace_sandbox(&mut self) {
        if self.sandbox.is_none() || self.finished {
            return;
        }
        tracing::info!(
            pod = self.name(),
            "the pod's sandbox stopped; making it again"
        );
        self.events().record(
            self.pod.object_ref(&()),
            EventType::Normal,
            "SandboxChanged",
            "Pod sandbox changed, it will be killed and re-created.".to_owned(),
        );
        self.kill_containers(self.grace_period(None)).await;
        let has_run = self
            .init
            .iter()
            .chain(&self.main)
            .any(|slot| slot.current.is_some() || slot.last.is_some());
        if self.policy() == "Never" && has_run {
            self.finish().await;
            return;
        }
        self.sandbox = None;
        // Init containers run again in the new sandbox; app containers, now exited, are
        // restarted by the usual path (with its back-off) once they have.
        let runtime = self.shared.runtime.clone();
        for slot in &mut self.init {
            if let Some(done) = slot.current.take() {
                if let Some(older) = slot.last.replace(done) {
                    let _ = runtime.remove_container(&older.id).await;
                }
                slot.restarts += 1;
            }
            slot.adopted = None;
        }
    }
}
