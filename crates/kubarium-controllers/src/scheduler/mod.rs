//! The scheduler: kube-scheduler's default profile for pods whose `spec.schedulerName` is
//! `default-scheduler` and that have no node yet.
//!
//! One task owns the state: the node-info cache ([`cache`]), fed by the shared pod and node
//! informers, and the scheduling queue ([`queue`]). Each cycle ([`cycle`]) filters
//! ([`filters`]) and scores ([`scores`]) nodes for one pod from the cache alone, assumes
//! the pod on the chosen node (so the next pod sees its requests) and hands the bind to a
//! task of its own; up to [`BINDS_IN_FLIGHT`] binds run at once. A failed bind forgets the
//! assumption and retries the pod after its backoff. A pod no node fits gets
//! `PodScheduled=False` (reason `Unschedulable`, upstream's message), a `FailedScheduling`
//! event, and waits for a node or pod change. Every decision is recorded on the pod
//! ([`decision`]).
//!
//! Deletions reach the scheduler through the informer caches (a shared subscription only
//! carries objects that exist), so a sweep each second reconciles the cache with them.

mod affinity;
mod cache;
mod cycle;
pub mod decision;
mod filters;
mod matching;
mod queue;
mod resources;
mod scores;
mod spread;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Binding, Namespace, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::Context;
use crate::events::Recorder;
use crate::informers::Subscription;
use crate::objects::Objects;
use cache::{Cache, PodInfo};
use cycle::{Cycles, Outcome};
pub use decision::{ANNOTATION, Decision, Rejected, Scored};

/// The scheduler's name, as pods ask for it and events give it.
pub const SCHEDULER_NAME: &str = "default-scheduler";
/// Binds (and unschedulable-status writes) in flight at once. kube-scheduler sets no such
/// cap; this one only bounds the tasks a backlog can spawn. It is kept well above what one
/// busy client keeps in flight: writes are served in turn, so a cap near a creator's
/// concurrency hands the scheduler that share of the write path, and a burst of creates
/// then outruns the binds (256 creators made 4,600 pods/s while 64 binds bound 2,000).
pub const BINDS_IN_FLIGHT: usize = 256;
/// How often deletions are reconciled and long-unschedulable pods retried.
const SWEEP: Duration = Duration::from_secs(1);
/// Events absorbed before the next scheduling cycle runs, at most.
const EVENT_BATCH: usize = 512;

/// Sets the loop up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let scheduler = Scheduler {
        client: ctx.client.clone(),
        recorder: ctx.recorder(SCHEDULER_NAME),
        pods: ctx.informers.store::<Pod>(),
        nodes: ctx.informers.store::<Node>(),
        namespaces: ctx.informers.store::<Namespace>(),
        cache: Cache::default(),
        queue: queue::Queue::default(),
        cycles: Cycles::default(),
        in_flight: 0,
        stats: Stats::default(),
    };
    let pod_events = ctx.informers.subscribe::<Pod>();
    let node_events = ctx.informers.subscribe::<Node>();
    let synced = futures_util::future::join(
        ctx.informers.synced::<Pod>(),
        ctx.informers.synced::<Node>(),
    );
    tasks.spawn(async move {
        // Schedule nothing until both caches hold the cluster, or bound pods would be
        // missed and nodes overcommitted.
        synced.await;
        scheduler.run(pod_events, node_events).await;
    });
}

/// How a bind or a status write ended.
struct Done {
    uid: String,
    pod: Arc<Pod>,
    node: Option<String>,
    result: Result<(), kube::Error>,
}

/// What the scheduler did since the last sweep, logged at debug level.
#[derive(Debug, Default)]
struct Stats {
    cycles: usize,
    bound: usize,
    failed_binds: usize,
    in_cycles: Duration,
    events: usize,
}

struct Scheduler {
    client: Client,
    recorder: Recorder,
    pods: Store<Pod>,
    nodes: Store<Node>,
    namespaces: Store<Namespace>,
    cache: Cache,
    queue: queue::Queue,
    cycles: Cycles,
    in_flight: usize,
    stats: Stats,
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Whether a pending pod's scheduling inputs differ (its spec or labels).
fn scheduling_inputs_changed(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec || old.metadata.labels != new.metadata.labels
}

impl Scheduler {
    async fn run(mut self, mut pod_events: Subscription<Pod>, mut node_events: Subscription<Node>) {
        let (done_tx, mut done) = mpsc::unbounded_channel::<Done>();
        self.sweep(Instant::now());
        for pod in self.pods.state() {
            self.on_pod(pod, Instant::now());
        }
        let mut next_sweep = Instant::now() + SWEEP;
        let mut cycles_since_yield = 0usize;
        loop {
            let now = Instant::now();
            let mut absorbed = 0;
            while absorbed < EVENT_BATCH {
                if let Some(Some(node)) = node_events.next().now_or_never() {
                    self.on_node(node, now);
                } else if let Some(Some(pod)) = pod_events.next().now_or_never() {
                    self.on_pod(pod, now);
                } else if let Ok(d) = done.try_recv() {
                    self.on_done(d, now);
                } else {
                    break;
                }
                absorbed += 1;
            }
            self.stats.events += absorbed;
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP;
                if self.stats.cycles > 0 || self.stats.bound > 0 {
                    let stats = std::mem::take(&mut self.stats);
                    tracing::debug!(
                        cycles = stats.cycles,
                        bound = stats.bound,
                        failed_binds = stats.failed_binds,
                        in_cycles = ?stats.in_cycles,
                        events = stats.events,
                        in_flight = self.in_flight,
                        "scheduler: the last second"
                    );
                }
            }
            if self.in_flight < BINDS_IN_FLIGHT
                && let Some(pod) = self.queue.pop(now)
            {
                self.schedule_one(pod, &done_tx, now);
                cycles_since_yield += 1;
                if cycles_since_yield >= 32 {
                    cycles_since_yield = 0;
                    tokio::task::yield_now().await;
                }
                continue;
            }
            let wake = self
                .queue
                .next_backoff()
                .map_or(next_sweep, |b| b.min(next_sweep));
            tokio::select! {
                Some(node) = node_events.next() => self.on_node(node, Instant::now()),
                Some(pod) = pod_events.next() => self.on_pod(pod, Instant::now()),
                Some(d) = done.recv() => self.on_done(d, Instant::now()),
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    fn on_node(&mut self, node: Arc<Node>, now: Instant) {
        if self.cache.set_node(node) {
            self.queue.flush(now, |_| true);
        }
    }

    fn on_pod(&mut self, pod: Arc<Pod>, now: Instant) {
        let uid = uid_of(&pod);
        let assigned = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        if assigned {
            self.queue.remove(&uid);
            if terminal(&pod) {
                if self.cache.remove_pod(&uid).is_some() {
                    self.queue.flush(now, |_| true);
                }
                return;
            }
            let before = (!self.cache.is_assumed(&uid))
                .then(|| self.cache.pod(&uid).map(|p| p.labels().clone()))
                .flatten();
            let relabelled = before.as_ref() != pod.metadata.labels.as_ref();
            self.cache.add_pod(Arc::new(PodInfo::new(pod)));
            if before.is_none() || relabelled {
                // A newly placed (or relabelled) pod can only help pods that care where
                // other pods are: pod affinity, or topology spread constraints.
                self.queue.flush(now, |p| {
                    p.spec.as_ref().is_some_and(|s| {
                        s.affinity.as_ref().is_some_and(|a| {
                            a.pod_affinity.is_some() || a.pod_anti_affinity.is_some()
                        }) || s
                            .topology_spread_constraints
                            .as_ref()
                            .is_some_and(|c| !c.is_empty())
                    })
                });
            }
            return;
        }
        let ours =
            pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()) == Some(SCHEDULER_NAME);
        let gated = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduling_gates.as_ref())
            .is_some_and(|g| !g.is_empty());
        if !ours || gated || pod.metadata.deletion_timestamp.is_some() || terminal(&pod) {
            self.queue.remove(&uid);
            if ours && gated && pod.metadata.deletion_timestamp.is_none() {
                // The SchedulingGates plugin's PreEnqueue: held back, and saying so.
                let api = Objects::<Pod>::namespaced(
                    self.client.clone(),
                    pod.metadata.namespace.as_deref().unwrap_or("default"),
                );
                tokio::spawn(async move {
                    let message = "Scheduling is blocked due to non-empty scheduling gates";
                    if let Err(error) = not_scheduled(&api, &pod, "SchedulingGated", message).await
                    {
                        tracing::debug!(%error, "could not mark a pod scheduling-gated");
                    }
                });
            }
            return;
        }
        if self.cache.is_assumed(&uid) {
            return;
        }
        let changed = self
            .queue
            .pod(&uid)
            .is_some_and(|old| scheduling_inputs_changed(old, &pod));
        self.queue.add_or_update(pod, changed, now);
    }

    fn on_done(&mut self, done: Done, now: Instant) {
        self.in_flight -= 1;
        let Some(node) = done.node else {
            if let Err(error) = done.result {
                tracing::debug!(pod = %done.pod.metadata.name.as_deref().unwrap_or_default(), %error, "could not record that a pod is unschedulable");
            }
            return;
        };
        match done.result {
            Ok(()) => {
                self.stats.bound += 1;
                self.queue.remove(&done.uid);
                let namespace = done.pod.metadata.namespace.as_deref().unwrap_or_default();
                let name = done.pod.metadata.name.as_deref().unwrap_or_default();
                self.recorder.normal(
                    &*done.pod,
                    "Scheduled",
                    format!("Successfully assigned {namespace}/{name} to {node}"),
                );
            }
            Err(error) => {
                self.stats.failed_binds += 1;
                if self.cache.is_assumed(&done.uid) {
                    self.cache.remove_pod(&done.uid);
                }
                // A conflict may be a lost race with another write: retry after the backoff
                // (a pod bound or deleting meanwhile leaves the queue when its event comes).
                let gone = matches!(&error, kube::Error::Api(s) if s.code == 404);
                tracing::debug!(pod = %done.pod.metadata.name.as_deref().unwrap_or_default(), %node, %error, "bind failed");
                if gone {
                    self.queue.remove(&done.uid);
                } else {
                    self.queue.error(&done.uid, now);
                }
            }
        }
    }

    /// Reconciles the cache and the queue with deletions the informers' caches show.
    fn sweep(&mut self, now: Instant) {
        let present: HashSet<String> = self.pods.state().iter().map(|p| uid_of(p)).collect();
        let gone: Vec<String> = self
            .cache
            .pod_uids()
            .filter(|uid| !present.contains(*uid))
            .cloned()
            .collect();
        let mut freed = !gone.is_empty();
        for uid in gone {
            self.cache.remove_pod(&uid);
        }
        self.queue.retain(|uid| present.contains(uid));
        let nodes = self.nodes.state();
        let names: HashSet<String> = nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        for name in self.cache.node_names() {
            if !names.contains(&name) {
                self.cache.remove_node(&name);
                freed = true;
            }
        }
        for node in nodes {
            let name = node.metadata.name.as_deref().unwrap_or_default();
            if self.cache.node(name).is_none_or(|n| n.node.is_none()) {
                freed |= self.cache.set_node(node);
            }
        }
        if freed {
            self.queue.flush(now, |_| true);
        }
        self.queue.flush_stale(now);
    }

    fn schedule_one(&mut self, pod: Arc<Pod>, done: &mpsc::UnboundedSender<Done>, now: Instant) {
        let info = PodInfo::new(pod.clone());
        let namespaces = self.namespaces.clone();
        let ns = move |name: &str| {
            namespaces
                .get(&ObjectRef::new(name))
                .and_then(|n| n.metadata.labels.clone())
        };
        let started = Instant::now();
        let outcome = self.cycles.schedule(&info, &self.cache, &ns);
        self.stats.cycles += 1;
        self.stats.in_cycles += started.elapsed();
        let uid = info.uid.clone();
        match outcome {
            Outcome::Fit { node, decision } => {
                self.cache.assume(Arc::new(info.on_node(&node)));
                self.in_flight += 1;
                let client = self.client.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    let result = bind(client, &pod, &node, &decision).await;
                    let _ = done.send(Done {
                        uid,
                        pod,
                        node: Some(node),
                        result,
                    });
                });
            }
            Outcome::Unschedulable { message, decision } => {
                self.queue.unschedulable(&uid, now);
                self.recorder
                    .warning(&*pod, "FailedScheduling", decision::event_note(&message));
                self.in_flight += 1;
                let client = self.client.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    let result = record_unschedulable(client, &pod, &message, &decision).await;
                    let _ = done.send(Done {
                        uid,
                        pod,
                        node: None,
                        result,
                    });
                });
            }
        }
    }
}

/// Binds `pod` to `node` through `pods/binding`, the decision in the Binding's annotations
/// (the API server copies them onto the pod).
async fn bind(
    client: Client,
    pod: &Pod,
    node: &str,
    decision: &Decision,
) -> Result<(), kube::Error> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.clone().unwrap_or_default();
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.to_owned()),
            uid: pod.metadata.uid.clone(),
            annotations: Some(BTreeMap::from([(
                ANNOTATION.to_owned(),
                decision.to_annotation(),
            )])),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(node.to_owned()),
            ..ObjectReference::default()
        },
    };
    Api::<Pod>::namespaced(client, namespace)
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await
        .map(|_| ())
}

/// Sets `PodScheduled=False` (reason `Unschedulable`) and the decision annotation, each
/// only when it changed, as upstream skips a condition update that changes nothing.
async fn record_unschedulable(
    client: Client,
    pod: &Pod,
    message: &str,
    decision: &Decision,
) -> Result<(), kube::Error> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let api = Objects::<Pod>::namespaced(client, namespace);
    not_scheduled(&api, pod, "Unschedulable", message).await?;
    let value = decision.to_annotation();
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION))
        .is_some_and(|v| *v == value);
    if !annotated {
        let patch = json!({"metadata": {"annotations": {ANNOTATION: value}}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
    }
    Ok(())
}

/// Sets `PodScheduled=False` with `reason` and `message` unless the pod already says so,
/// keeping the transition time while the status stays False (`podutil.UpdatePodCondition`).
async fn not_scheduled(
    api: &Objects<Pod>,
    pod: &Pod,
    reason: &str,
    message: &str,
) -> Result<(), kube::Error> {
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    let same = current.is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
    });
    if same {
        return Ok(());
    }
    let transition = current
        .filter(|c| c.status == "False")
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(jiff::Timestamp::now()));
    let patch = json!({"status": {"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": transition,
    }]}});
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    api.patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .map(|_| ())
}
