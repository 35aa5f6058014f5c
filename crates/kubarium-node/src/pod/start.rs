//! Starting the pod's sandbox and containers, as the kubelet's `SyncPod`: the sandbox, then
//! each container with its volumes set up, its image made available and its config resolved
//! (env, mounts, security), created (`Created`) and started (`Started`); each failure leaves
//! the container waiting with the kubelet's reason and events.
//!
//! A new sandbox's first containers (the first init container, else every container) are
//! created while the sandbox starts, because a container can be created in a sandbox that
//! has not started yet and the two are the slowest steps of a pod's start on Docker. A
//! container whose environment needs the pod's IP (`status.podIP`) is created after the
//! sandbox has its address.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Container;
use kubarium_controllers::events::EventType;

use super::{CONFIG_RETRY, MOUNT_RETRY, RETRY, Worker, downward, spec, volumes};
use crate::runtime::{ContainerConfig, ContainerId, SandboxConfig, SandboxId};

/// A container whose creation failed while the sandbox started: it is not tried again in
/// the same pass, but when its failure said to look again.
#[derive(Debug)]
pub(super) struct Deferred {
    init: bool,
    index: usize,
    wake: Option<Duration>,
}

/// What `deferred` says of container `index` (an init container when `init`): when to look
/// again, if its creation failed in this pass.
pub(super) fn deferred(
    deferred: &[Deferred],
    init: bool,
    index: usize,
) -> Option<Option<Duration>> {
    deferred
        .iter()
        .find(|d| d.init == init && d.index == index)
        .map(|d| d.wake)
}

impl Worker {
    /// Makes the pod's sandbox and, while it starts, creates the containers that will start
    /// first in it. `Err(when to try again)` when the sandbox could not be made; else the
    /// containers whose creation failed.
    pub(super) async fn run_sandbox(
        &mut self,
        config: SandboxConfig,
    ) -> Result<Vec<Deferred>, Duration> {
        let runtime = self.shared.runtime.clone();
        let id = match runtime.create_pod_sandbox(config).await {
            Ok(id) => id,
            Err(error) => {
                tracing::warn!(pod = self.name(), %error, "could not make the pod sandbox");
                return Err(RETRY);
            }
        };
        let first = self.first_containers();
        let (started, failed) = tokio::join!(runtime.start_pod_sandbox(&id), async {
            let mut failed = Vec::new();
            for (init, index) in first {
                match self.create(&id, init, index).await {
                    Ok(created) => self.slot(init, index).created = Some(created),
                    Err(wake) => failed.push(Deferred { init, index, wake }),
                }
            }
            failed
        });
        match started {
            Ok(sandbox) => {
                self.ip = sandbox.ip.or(self.ip);
                self.sandbox = Some(sandbox.id);
                Ok(failed)
            }
            Err(error) => {
                tracing::warn!(pod = self.name(), %error, "could not start the pod sandbox");
                // What was made for it cannot join another.
                for slot in self.init.iter_mut().chain(self.main.iter_mut()) {
                    if let Some(created) = slot.created.take() {
                        let _ = runtime.remove_container(&created).await;
                    }
                }
                Err(RETRY)
            }
        }
    }

    /// The containers a new sandbox starts first — its first init container, else every
    /// container — that have never run and do not need the pod's IP to be made.
    fn first_containers(&self) -> Vec<(bool, usize)> {
        let first: Vec<(bool, usize)> = match self.init.first() {
            Some(slot) if slot.never_started() => vec![(true, 0)],
            Some(_) => Vec::new(),
            None => (0..self.main.len())
                .filter(|&index| self.main[index].never_started())
                .map(|index| (false, index))
                .collect(),
        };
        first
            .into_iter()
            .filter(|&(init, index)| {
                self.container_spec(init, index)
                    .is_some_and(|container| !downward::needs_pod_ip(&container))
            })
            .collect()
    }

    /// The spec of container `index` (an init container when `init`), as the pod asks now.
    fn container_spec(&self, init: bool, index: usize) -> Option<Container> {
        let name = if init {
            &self.init[index].name
        } else {
            &self.main[index].name
        };
        let spec = self.pod.spec.as_ref()?;
        let mut list = if init {
            spec.init_containers.as_deref().unwrap_or_default().iter()
        } else {
            spec.containers.iter()
        };
        list.find(|c| &c.name == name).cloned()
    }

    /// Starts a container, creating it first unless it was made while the sandbox started;
    /// returns when to look again after a failure.
    pub(super) async fn start(&mut self, init: bool, index: usize) -> Option<Duration> {
        let Some(sandbox) = self.sandbox.clone() else {
            return Some(RETRY);
        };
        let id = match self.slot(init, index).created.take() {
            Some(id) => id,
            None => match self.create(&sandbox, init, index).await {
                Ok(id) => id,
                Err(wake) => return wake,
            },
        };
        let slot = self.slot_at(init, index);
        self.event(
            slot,
            EventType::Normal,
            "Created",
            format!("Created container: {}", slot.name),
        );
        let runtime = self.shared.runtime.clone();
        let started = match runtime.start_created_container(&id).await {
            Ok(()) => runtime.container_status(&id).await,
            Err(error) => Err(error),
        };
        match started {
            Ok(status) => {
                // A container that is done already (`echo`, a crash at once) is acted on by
                // another pass now: nothing else wakes the worker for an exit it has seen.
                let ended = status.state.is_exited();
                let slot = self.slot(init, index);
                slot.current = Some(status);
                slot.crash_loop = None;
                slot.waiting = None;
                slot.last_start = Some(Instant::now());
                let slot = self.slot_at(init, index);
                self.event(
                    slot,
                    EventType::Normal,
                    "Started",
                    format!("Started container {}", slot.name),
                );
                ended.then_some(Duration::ZERO)
            }
            Err(error) => {
                tracing::warn!(pod = self.name(), %error, "could not start a container");
                Some(RETRY)
            }
        }
    }

    /// Creates container `index` (an init container when `init`) in `sandbox`: its volumes,
    /// its image, its config. `Err(when to look again)` with the container waiting and the
    /// kubelet's events when it cannot be made (`None`: it is no longer in the pod).
    async fn create(
        &mut self,
        sandbox: &SandboxId,
        init: bool,
        index: usize,
    ) -> Result<ContainerId, Option<Duration>> {
        let container = self.container_spec(init, index).ok_or(None)?;
        // The image may have been changed (`kubectl set image`) while the container waited
        // to be made: start what the pod asks for now.
        if let Some(image) = container.image.clone() {
            self.slot(init, index).image = image;
        }
        let slot = self.slot_at(init, index);
        let sources = self.shared.sources.clone();
        sources.synced().await;
        let pod = self.pod.clone();
        let context = downward::PodContext {
            pod: &pod,
            pod_ip: self.ip.map(|ip| ip.to_string()),
            host_ip: self.node.internal_ip.to_string(),
            allocatable: &sources.allocatable,
        };
        let prepared = if self.shared.runtime.name() == "hollow" {
            volumes::plan(&sources, &pod)
        } else {
            match volumes::prepare(&sources, &context).await {
                Ok(prepared) => prepared,
                Err(failure) => {
                    self.event(slot, EventType::Warning, "FailedMount", failure.event());
                    self.slot(init, index).waiting = None;
                    return Err(Some(MOUNT_RETRY));
                }
            }
        };
        let policy = spec::pull_policy(&container);
        self.ensure_image(init, index, policy).await.map_err(Some)?;
        let slot = self.slot_at(init, index);
        let config = match spec::container_config(
            &context,
            &container,
            sources.as_ref(),
            &prepared,
            sources.allow_privileged,
        ) {
            Ok(config) => ContainerConfig {
                init,
                attempt: slot.restarts,
                ..config
            },
            Err(message) => {
                self.event(
                    slot,
                    EventType::Warning,
                    "Failed",
                    format!("Error: {message}"),
                );
                self.slot(init, index).waiting = Some(("CreateContainerConfigError", message));
                return Err(Some(CONFIG_RETRY));
            }
        };
        match self.shared.runtime.create_container(sandbox, config).await {
            Ok(id) => Ok(id),
            Err(error) => {
                tracing::warn!(pod = self.name(), %error, "could not create a container");
                Err(Some(RETRY))
            }
        }
    }
}
