//! One pod's worker, as the kubelet's pod workers: it runs the pod's sandbox, init
//! containers in order, then its containers; restarts them per `restartPolicy` with the
//! crash-loop back-off; reports the pod's status through the `status` subresource; and, when
//! the pod is being deleted, stops its containers and finishes the deletion.
//!
//! A worker waits on its pod's updates, its containers' exits, a back-off timer, and its
//! node's agent being stopped (a stopped agent's workers do nothing until it starts again,
//! like a crashed kubelet's; their containers keep running). It never polls.

use std::net::Ipv4Addr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::{self, Either};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStatus as ApiStatus, ObjectReference, Pod, PodStatus};
use kubarium_controllers::events::{EventType, Recorder};
use kubarium_controllers::objects::Objects;
use kube::Resource;
use kube::api::{DeleteParams, Preconditions};
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use crate::node::NodeIdentity;
use crate::pool::Shared;
use crate::runtime::{ContainerId, ContainerState, ContainerStatus, SandboxConfig, SandboxId};
use crate::status;

mod adopt;
pub(crate) mod dns;
pub(crate) mod downward;
mod env;
mod image;
mod probes;
mod report;
mod sandbox;
pub(crate) mod sources;
mod spec;
mod start;
pub(crate) mod volumes;
mod wake;

/// How long to wait before retrying a failed API request.
const RETRY: Duration = Duration::from_secs(1);
/// How often a quiet worker checks the API's copy of its pod's status against what it
/// posted (upstream's status manager `syncPeriod`).
const STATUS_SYNC: Duration = Duration::from_secs(10);
/// How long a container whose config cannot be made waits before trying again, unless a
/// ConfigMap or Secret it uses changes first.
const CONFIG_RETRY: Duration = Duration::from_secs(10);
/// How long a pod whose volumes cannot be set up waits before trying again.
const MOUNT_RETRY: Duration = Duration::from_secs(3);

/// One container of the pod, as the worker tracks it.
#[derive(Debug, Default)]
struct Slot {
    name: String,
    image: String,
    init: bool,
    /// The container now in the runtime (running, or exited and not yet replaced).
    current: Option<ContainerStatus>,
    /// The one before it, for `lastState`.
    last: Option<ContainerStatus>,
    /// A container made for the slot and not started yet (see [`start`]).
    created: Option<ContainerId>,
    /// What an earlier agent reported, for a pod adopted after a restart.
    adopted: Option<ApiStatus>,
    restarts: i32,
    backoff: Option<Duration>,
    last_start: Option<Instant>,
    /// Waiting in CrashLoopBackOff with this message.
    crash_loop: Option<String>,
    /// Waiting for another reason (`ErrImagePull`, `CreateContainerConfigError`, …) with
    /// this message.
    waiting: Option<(&'static str, String)>,
    /// The back-off after a failed image pull.
    pull_backoff: Option<image::PullBackoff>,
}

impl Slot {
    fn exit_code(&self) -> Option<i32> {
        match &self.current {
            Some(ContainerStatus {
                state: ContainerState::Exited { exit_code, .. },
                ..
            }) => Some(*exit_code),
            Some(_) => None,
            None => self
                .adopted
                .as_ref()
                .and_then(|status| status.state.as_ref())
                .and_then(|state| state.terminated.as_ref())
                .map(|terminated| terminated.exit_code),
        }
    }

    fn running(&self) -> Option<&ContainerId> {
        match &self.current {
            Some(
                status @ ContainerStatus {
                    state: ContainerState::Running { .. },
                    ..
                },
            ) => Some(&status.id),
            _ => None,
        }
    }

    fn never_started(&self) -> bool {
        self.current.is_none() && self.exit_code().is_none()
    }
}

/// What the pool holds of a pod's worker. Dropping it ends the worker (its containers are
/// cleaned up).
pub(crate) struct Handle {
    /// Each new copy of the pod, from the cache: the worker keeps it as its own, and runs a
    /// pass for it when it is something to act on (see `wake`).
    pub(crate) updates: watch::Sender<Arc<Pod>>,
    nudge: Arc<Notify>,
    pub(crate) abort: AbortHandle,
}

impl Handle {
    /// Asks for a pass on the copy the worker has: something it waits on (a ConfigMap, a
    /// Secret) changed.
    pub(crate) fn nudge(&self) {
        self.nudge.notify_one();
    }
}

/// Starts the worker of `pod` on `node`. It runs until the pod is deleted or its [`Handle`]
/// is dropped.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    node: Arc<NodeIdentity>,
    running: watch::Receiver<bool>,
    pod: Arc<Pod>,
) -> Handle {
    let (sender, updates) = watch::channel(pod.clone());
    let nudge = Arc::new(Notify::new());
    let slots = |init: bool| {
        let spec = pod.spec.as_ref();
        let containers = if init {
            spec.and_then(|s| s.init_containers.clone())
                .unwrap_or_default()
        } else {
            spec.map(|s| s.containers.clone()).unwrap_or_default()
        };
        let previous = pod.status.as_ref().and_then(|s| {
            if init {
                s.init_container_statuses.clone()
            } else {
                s.container_statuses.clone()
            }
        });
        containers
            .into_iter()
            .map(|container| {
                let adopted = previous
                    .iter()
                    .flatten()
                    .find(|status| status.name == container.name)
                    .cloned();
                Slot {
                    restarts: adopted.as_ref().map_or(0, |s| s.restart_count),
                    adopted: adopted.filter(|s| {
                        s.state
                            .as_ref()
                            .is_some_and(|state| state.terminated.is_some())
                    }),
                    name: container.name,
                    image: container.image.unwrap_or_default(),
                    init,
                    ..Slot::default()
                }
            })
            .collect::<Vec<_>>()
    };
    let finished = status::terminal_phase(&pod).is_some();
    let worker = Worker {
        probes: probes::Probes::new(&pod, shared.runtime.name()),
        adopt_pending: true,
        init: slots(true),
        main: slots(false),
        finished,
        shared,
        node,
        running,
        updates,
        nudge: nudge.clone(),
        pod,
        sandbox: None,
        sandbox_stopped: false,
        terminated: false,
        ip: None,
        posted: None,
    };
    Handle {
        updates: sender,
        nudge,
        abort: tokio::spawn(worker.run()).abort_handle(),
    }
}

struct Worker {
    shared: Arc<Shared>,
    node: Arc<NodeIdentity>,
    running: watch::Receiver<bool>,
    updates: watch::Receiver<Arc<Pod>>,
    nudge: Arc<Notify>,
    /// The copy of the pod the worker acts on: the newest with something to act on as of
    /// its last pass, or a newer one that had nothing.
    pod: Arc<Pod>,
    sandbox: Option<SandboxId>,
    /// The runtime said the sandbox stopped: it is to be made again.
    sandbox_stopped: bool,
    /// The pod is being deleted and its containers were stopped: the status is the final
    /// one (see [`Worker::terminate`]).
    terminated: bool,
    init: Vec<Slot>,
    main: Vec<Slot>,
    ip: Option<Ipv4Addr>,
    /// The status last posted, to post only changes (boxed: most workers wait with one).
    posted: Option<Box<PodStatus>>,
    /// The pod has run to completion: nothing more is started.
    finished: bool,
    /// Liveness, readiness and startup probes.
    probes: probes::Probes,
    /// What the runtime already runs for the pod is still to be adopted.
    adopt_pending: bool,
}

impl Worker {
    /// The pods API of the pod's namespace.
    fn api(&self) -> Objects<Pod> {
        let namespace = self.pod.metadata.namespace.as_deref().unwrap_or("default");
        Objects::namespaced(self.shared.client.clone(), namespace)
    }

    fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    fn uid(&self) -> String {
        self.pod.metadata.uid.clone().unwrap_or_default()
    }

    fn policy(&self) -> String {
        self.pod
            .spec
            .as_ref()
            .and_then(|spec| spec.restart_policy.clone())
            .unwrap_or_else(|| "Always".to_owned())
    }

    /// The worker's loop. Every pass it awaits is boxed: a worker spends its life waiting in
    /// the `select!` below, and unboxed, every pod would carry the largest pass's state while
    /// it waits (the future was 4.2 KB with `refresh`, `kill_unhealthy`, `replace_sandbox` and
    /// `cleanup` inline, 1.4 KB with them boxed, the status and the pods API off the worker).
    async fn run(mut self) {
        loop {
            while !*self.running.borrow_and_update() {
                tokio::select! {
                    changed = self.running.changed() => if changed.is_err() { return Box::pin(self.cleanup()).await },
                    changed = self.updates.changed() => if changed.is_err() { return Box::pin(self.cleanup()).await },
                }
            }
            self.pod = self.updates.borrow_and_update().clone();
            if self.pod.metadata.deletion_timestamp.is_some() {
                if Box::pin(self.terminate()).await {
                    return;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
            if !self.finished && status::terminal_phase(&self.pod).is_some() {
                // Someone else wrote a terminal phase, which a pod never leaves: as the
                // kubelet, its containers are stopped and the phase kept.
                let grace = self.grace_period(None);
                Box::pin(self.kill_containers(grace)).await;
                Box::pin(self.finish()).await;
            }
            Box::pin(self.refresh()).await;
            if std::mem::take(&mut self.sandbox_stopped) {
                Box::pin(self.replace_sandbox()).await;
            }
            Box::pin(self.kill_unhealthy()).await;
            let mut wake = if self.finished {
                None
            } else {
                Box::pin(self.advance()).await
            };
            if !Box::pin(self.report()).await {
                wake = Some(wake.map_or(RETRY, |w| w.min(RETRY)));
            }
            self.watch_probes();
            self.publish_containers();
            let runtime = self.shared.runtime.clone();
            let running: Vec<ContainerId> = self
                .init
                .iter()
                .chain(&self.main)
                .filter_map(|slot| slot.running().cloned())
                .collect();
            let exits = if running.is_empty() {
                Either::Left(future::pending())
            } else {
                Either::Right(future::select_all(
                    running.iter().map(|id| runtime.wait_container(id)),
                ))
            };
            let timer = match wake {
                Some(wake) => Either::Left(tokio::time::sleep(wake)),
                None => Either::Right(future::pending()),
            };
            let sandbox = match &self.sandbox {
                Some(sandbox) if !self.finished => Either::Left(runtime.wait_pod_sandbox(sandbox)),
                _ => Either::Right(future::pending()),
            };
            // The status manager's sync runs every 10 s of the wait, whatever else wakes it.
            let sync = tokio::time::sleep(STATUS_SYNC);
            let (mut exits, mut timer, mut sandbox, mut sync) =
                (pin!(exits), pin!(timer), pin!(sandbox), pin!(sync));
            loop {
                tokio::select! {
                    changed = self.updates.changed() => {
                        if changed.is_err() {
                            return Box::pin(self.cleanup()).await;
                        }
                        // A copy with nothing to act on (the echo of its own status write
                        // above all) becomes the worker's copy without a pass, so the one it
                        // had is freed rather than kept beside the cache's for the pod's life.
                        let latest = self.updates.borrow_and_update().clone();
                        if !wake::acts_on(&self.pod, &latest) {
                            self.pod = latest;
                            continue;
                        }
                    }
                    _ = self.running.changed() => {}
                    () = self.nudge.notified() => {}
                    _ = &mut exits => {}
                    () = &mut timer => {}
                    () = &mut sandbox => self.sandbox_stopped = true,
                    update = self.probes.changed() => self.probes.apply(update),
                    () = &mut sync, if self.posted.is_some() => {
                        sync.as_mut().reset(tokio::time::Instant::now() + STATUS_SYNC);
                        let api = self.updates.borrow();
                        let posted = self.posted.as_deref();
                        if !posted.is_some_and(|p| status::drifted(api.status.as_ref(), p)) {
                            continue;
                        }
                        drop(api);
                        // Someone else wrote what this kubelet owns: the pass posts it again.
                        self.posted = None;
                    }
                }
                break;
            }
        }
    }

    /// Tells the pool which runtime containers this pod's containers are now, for `kubectl
    /// logs`, `exec` and `attach`.
    fn publish_containers(&self) {
        let containers = self.init.iter().chain(&self.main).map(|slot| {
            let instances = crate::pool::Instances {
                current: slot.current.as_ref().map(|c| c.id.clone()),
                previous: slot.last.as_ref().map(|c| c.id.clone()),
            };
            (slot.name.clone(), instances)
        });
        self.shared.containers.publish(&self.uid(), containers);
    }

    /// Re-reads the state of every container in the runtime.
    async fn refresh(&mut self) {
        let runtime = self.shared.runtime.clone();
        for slot in self.init.iter_mut().chain(self.main.iter_mut()) {
            if let Some(current) = &slot.current
                && let Ok(status) = runtime.container_status(&current.id).await
            {
                slot.current = Some(status);
            }
        }
    }

    /// Starts what should run now; returns when to look again for a back-off to end.
    async fn advance(&mut self) -> Option<Duration> {
        self.adopt().await;
        let mut deferred = Vec::new();
        if self.sandbox.is_none() {
            let names = match dns::form(
                &self.pod,
                Some(self.shared.cluster_dns),
                &self.shared.cluster_domain,
            ) {
                Ok(names) => names,
                Err(message) => {
                    self.events().record(
                        self.pod.object_ref(&()),
                        EventType::Warning,
                        "FailedCreatePodSandBox",
                        format!("Failed to create pod sandbox: {message}"),
                    );
                    return Some(CONFIG_RETRY);
                }
            };
            for (reason, message) in &names.warnings {
                self.events().record(
                    self.pod.object_ref(&()),
                    EventType::Warning,
                    reason,
                    message.clone(),
                );
            }
            let config = SandboxConfig {
                namespace: self.pod.metadata.namespace.clone().unwrap_or_default(),
                name: self.name().to_owned(),
                uid: self.uid(),
                restart_policy: self.policy(),
                annotations: self.pod.metadata.annotations.clone().unwrap_or_default(),
                node: self.node.name.clone(),
                hostname: names.hostname,
                domainname: names.domainname,
                dns: names.dns,
                memory_volumes: volumes::memory_volumes(
                    &self.pod,
                    &self.shared.sources.allocatable,
                ),
                ..SandboxConfig::default()
            };
            match self.run_sandbox(config).await {
                Ok(failed) => deferred = failed,
                Err(wake) => return Some(wake),
            }
        }
        let policy = self.policy();
        for index in 0..self.init.len() {
            let slot = &self.init[index];
            if slot.running().is_some() {
                return None;
            }
            match slot.exit_code() {
                Some(0) => continue,
                None => {
                    return match start::deferred(&deferred, true, index) {
                        Some(wake) => wake,
                        None => self.start(true, index).await,
                    };
                }
                Some(_) if policy == "Never" => {
                    self.finish().await;
                    return None;
                }
                Some(_) => return self.restart_after_backoff(true, index).await,
            }
        }
        let mut wake: Option<Duration> = None;
        for index in 0..self.main.len() {
            let slot = &self.main[index];
            let next = if slot.never_started() {
                match start::deferred(&deferred, false, index) {
                    Some(wake) => wake,
                    None => self.start(false, index).await,
                }
            } else {
                match slot.exit_code() {
                    Some(code) if status::should_restart(&policy, code) => {
                        self.restart_after_backoff(false, index).await
                    }
                    _ => None,
                }
            };
            wake = match (wake, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let done = self.main.iter().all(|slot| {
            slot.exit_code()
                .is_some_and(|code| !status::should_restart(&policy, code))
        });
        if done {
            self.finish().await;
        }
        wake
    }

    fn slot(&mut self, init: bool, index: usize) -> &mut Slot {
        if init {
            &mut self.init[index]
        } else {
            &mut self.main[index]
        }
    }

    /// Container `index` (an init container when `init`), to read.
    fn slot_at(&self, init: bool, index: usize) -> &Slot {
        if init {
            &self.init[index]
        } else {
            &self.main[index]
        }
    }

    fn container_ref(&self, slot: &Slot) -> ObjectReference {
        let mut reference = self.pod.object_ref(&());
        reference.field_path = Some(format!(
            "spec.{}{{{}}}",
            if slot.init {
                "initContainers"
            } else {
                "containers"
            },
            slot.name
        ));
        reference
    }

    fn event(&self, slot: &Slot, kind: EventType, reason: &str, message: String) {
        self.events()
            .record(self.container_ref(slot), kind, reason, message);
    }

    /// The kubelet's event recorder, its events from this worker's node.
    fn events(&self) -> Recorder {
        self.shared.recorder.on_host(&self.node.name)
    }

    /// Restarts an exited container once its back-off has passed; until then it waits in
    /// CrashLoopBackOff.
    async fn restart_after_backoff(&mut self, init: bool, index: usize) -> Option<Duration> {
        let pod_name = status::format_pod(&self.pod);
        let slot = self.slot(init, index);
        let since_finished = match &slot.current {
            Some(ContainerStatus {
                state: ContainerState::Exited { finished_at, .. },
                ..
            }) => Timestamp::now().duration_since(*finished_at).unsigned_abs(),
            _ => Duration::MAX,
        };
        let since_start = slot.last_start.map_or(Duration::MAX, |at| at.elapsed());
        if status::in_backoff(slot.backoff, since_finished, since_start) {
            let backoff = slot.backoff.unwrap_or(status::BACKOFF_INITIAL);
            let entering = slot.crash_loop.is_none();
            slot.crash_loop = Some(format!(
                "back-off {} restarting failed container={} pod={pod_name}",
                status::go_duration(backoff),
                slot.name
            ));
            let slot = self.slot_at(init, index);
            if entering {
                let message = format!(
                    "Back-off restarting failed container {} in pod {pod_name}",
                    slot.name
                );
                self.event(slot, EventType::Warning, "BackOff", message);
            }
            return Some(backoff.saturating_sub(since_finished));
        }
        slot.backoff = Some(status::next_backoff(slot.backoff, since_start));
        if let Some(old) = slot.current.take() {
            // The container that just ended stays (`kubectl logs --previous` reads it), as
            // the kubelet's garbage collection keeps the last dead one; the one before goes.
            if let Some(older) = slot.last.replace(old) {
                let _ = self.shared.runtime.remove_container(&older.id).await;
            }
        }
        let slot = self.slot(init, index);
        slot.restarts += 1;
        slot.adopted = None;
        self.start(init, index).await
    }

    /// The pod has run to completion: its sandbox goes, its statuses stay.
    async fn finish(&mut self) {
        self.finished = true;
        if let Some(sandbox) = self.sandbox.take() {
            let _ = self.shared.runtime.remove_pod_sandbox(&sandbox).await;
        }
    }

    /// Stops the pod's containers and deletes it for good; `false` to try again.
    ///
    /// As the kubelet: the containers are stopped, then the final status is written (every
    /// container terminated, the phase terminal — see [`Worker::report`]), and only then is
    /// the pod deleted with `gracePeriodSeconds=0` and its uid as a precondition, so the
    /// `DELETED` event a watcher gets carries how each container ended.
    async fn terminate(&mut self) -> bool {
        self.kill_containers(self.grace_period(self.pod.metadata.deletion_grace_period_seconds))
            .await;
        for slot in self.init.iter_mut().chain(self.main.iter_mut()) {
            slot.crash_loop = None;
        }
        self.finished = true;
        self.terminated = true;
        if let Some(sandbox) = self.sandbox.take() {
            let _ = self.shared.runtime.remove_pod_sandbox(&sandbox).await;
        }
        if !self.report().await {
            return false;
        }
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: self.pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.api().delete(self.name(), &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(response)) if response.code == 404 || response.code == 409 => {}
            Err(error) => {
                tracing::debug!(pod = self.name(), %error, "could not finish deleting the pod");
                return false;
            }
        }
        self.node.release(&self.uid());
        true
    }

    /// The pod is gone (or its node is): its containers go, without API requests.
    async fn cleanup(mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            let _ = self.shared.runtime.remove_pod_sandbox(&sandbox).await;
        }
        self.node.release(&self.uid());
    }
}
