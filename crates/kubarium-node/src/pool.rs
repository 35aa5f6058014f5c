//! [`NodePool`]: every node agent of the process, sharing one pod watch, one node watch,
//! one Lease timer and one container runtime, so a thousand hollow nodes cost little more
//! than their pods.
//!
//! The node watch makes and ends agents (a Node labelled `kubarium.dev/managed-node=true`
//! gets one; deleting it ends it) and pauses them (annotation `kubarium.dev/agent:
//! stopped`). The pod watch (`spec.nodeName!=`) hands each bound pod to its worker
//! ([`crate::pod`]). The Lease timer ticks ten times per renewal period and renews the
//! Leases of one tenth of the nodes each tick, so renewals spread evenly.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, ObjectReference, Pod};
use kubarium_controllers::events::{EventType, Recorder};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio::task::{AbortHandle, JoinSet};

use crate::node::{
    self, AGENT_ANNOTATION, CONTROL_PLANE, LEASE_NAMESPACE, LEASE_RENEW, MANAGED_LABEL,
    NodeCapacity, NodeIdentity, RUNTIME_LABEL, STATUS_REPORT,
};
use crate::runtime::{ContainerRuntime, HollowRuntime, UnavailableRuntime};
use crate::{Error, Result, control};

/// Lease timer ticks per renewal period: each tick renews a tenth of the nodes.
const SLOTS: u64 = 10;
/// Lease renewals and status posts in flight at once.
const CONCURRENCY: usize = 32;

/// How the pool's nodes run pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeKind {
    /// Real containers in the local Docker engine (not in this build: nodes register
    /// `Ready=False`).
    #[default]
    Docker,
    /// Simulated containers.
    Hollow,
}

/// What a pool starts with.
#[derive(Debug, Clone, Default)]
pub struct PoolConfig {
    /// How many nodes a fresh cluster has: `kubarium-control-plane`, then workers.
    pub nodes: u32,
    /// How they run pods.
    pub runtime: RuntimeKind,
    /// What each node offers.
    pub capacity: NodeCapacity,
}

/// What every agent and pod worker of the pool shares.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) runtime: Arc<dyn ContainerRuntime>,
    pub(crate) recorder: Recorder,
    kubelet_version: String,
    capacity: NodeCapacity,
    boot_id: String,
    state: Mutex<State>,
    /// Bounds the Lease and node status requests in flight, so a thousand agents starting
    /// at once queue here rather than in the API server.
    requests: Semaphore,
}

#[derive(Default)]
struct State {
    agents: HashMap<String, Agent>,
    /// Every pod bound to a node, by uid: also those whose node has no agent yet.
    pods: HashMap<String, PodEntry>,
}

struct Agent {
    identity: Arc<NodeIdentity>,
    uid: Option<String>,
    /// `false` while the agent is stopped; pod workers wait on it.
    running: watch::Sender<bool>,
    /// The node's conditions as last seen, for their transition times.
    conditions: Vec<NodeCondition>,
    /// A status post is in flight.
    syncing: bool,
    /// The last status post failed.
    needs_sync: bool,
    last_status: Option<Instant>,
}

struct PodEntry {
    node: String,
    worker: Option<(watch::Sender<Arc<Pod>>, AbortHandle)>,
    pod: Arc<Pod>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn label<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

fn is_stopped(node: &Node) -> bool {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(AGENT_ANNOTATION))
        .is_some_and(|value| value == "stopped")
}

impl Shared {
    /// Makes or updates the agent of `node`, and has it post its status if it should.
    fn on_node(self: &Arc<Self>, node: Node) {
        let Some(name) = node.metadata.name.clone() else {
            return;
        };
        let mut state = lock(&self.state);
        let managed = label(&node, MANAGED_LABEL) == Some("true");
        if !managed && !state.agents.contains_key(&name) {
            return;
        }
        let stopped = is_stopped(&node);
        if !state.agents.contains_key(&name) {
            let taken: HashSet<u32> = state.agents.values().map(|a| a.identity.index).collect();
            let index = node
                .spec
                .as_ref()
                .and_then(|spec| spec.pod_cidr.as_deref())
                .and_then(node::index_of_cidr)
                .unwrap_or_else(|| (0..).find(|i| !taken.contains(i)).unwrap_or(0));
            let (running, _) = watch::channel(!stopped);
            state.agents.insert(
                name.clone(),
                Agent {
                    identity: Arc::new(NodeIdentity::new(&name, index)),
                    uid: None,
                    running,
                    conditions: Vec::new(),
                    syncing: false,
                    needs_sync: false,
                    last_status: None,
                },
            );
            tracing::info!(node = %name, stopped, "node agent started");
            let waiting: Vec<String> = state
                .pods
                .iter()
                .filter(|(_, entry)| entry.node == name && entry.worker.is_none())
                .map(|(uid, _)| uid.clone())
                .collect();
            for uid in waiting {
                self.spawn_worker(&mut state, &uid);
            }
        }
        let Some(agent) = state.agents.get_mut(&name) else {
            return;
        };
        agent.uid = node.metadata.uid.clone();
        agent.conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let was_running = *agent.running.borrow();
        if was_running == stopped {
            tracing::info!(node = %name, "node agent {}", if stopped { "stopped" } else { "started again" });
            agent.running.send_replace(!stopped);
        }
        if !stopped && (!was_running || agent.last_status.is_none()) && !agent.syncing {
            self.node_event(&name, "Starting", "Starting kubelet.".to_owned());
        }
        if stopped || agent.syncing {
            return;
        }
        let desired = node::ready_status(&self.runtime.ready());
        let ready = agent
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status.as_str());
        let registered = label(&node, RUNTIME_LABEL) == Some(self.runtime.name())
            && node.spec.as_ref().is_some_and(|s| s.pod_cidr.is_some());
        if ready != Some(desired) || !registered || !was_running {
            agent.syncing = true;
            let shared = self.clone();
            tokio::spawn(async move { shared.sync_node(&name, Some(node)).await });
        }
    }

    /// Ends the agent of a deleted node; its pods' workers clean up their containers.
    fn on_node_deleted(&self, name: &str) {
        let mut state = lock(&self.state);
        if state.agents.remove(name).is_some() {
            tracing::info!(node = %name, "node deleted; its agent ends");
        }
        for entry in state.pods.values_mut() {
            if entry.node == name {
                entry.worker = None;
            }
        }
    }

    /// Registers `node`'s labels and pod CIDR if they are missing, then posts its status.
    async fn sync_node(self: Arc<Self>, name: &str, node: Option<Node>) {
        let identity = lock(&self.state)
            .agents
            .get(name)
            .map(|a| a.identity.clone());
        let Some(identity) = identity else { return };
        let _permit = self.requests.acquire().await;
        let api = Api::<Node>::all(self.client.clone());
        let mut ok = true;
        if let Some(node) = node {
            let registered = label(&node, RUNTIME_LABEL) == Some(self.runtime.name())
                && node.spec.as_ref().is_some_and(|s| s.pod_cidr.is_some());
            if !registered {
                let mut patch = json!({
                    "metadata": {
                        "labels": node::labels(name, self.runtime.name(), name == CONTROL_PLANE),
                        "annotations": node::annotations(),
                    }
                });
                if node
                    .spec
                    .as_ref()
                    .and_then(|s| s.pod_cidr.as_ref())
                    .is_none()
                {
                    patch["spec"] = json!({
                        "podCIDR": identity.pod_cidr(),
                        "podCIDRs": [identity.pod_cidr()],
                    });
                }
                if let Err(error) = api
                    .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    tracing::debug!(node = name, %error, "could not register the node");
                    ok = false;
                }
            }
        }
        let previous = lock(&self.state)
            .agents
            .get(name)
            .map(|a| a.conditions.clone())
            .unwrap_or_default();
        if ok {
            let report = node::Report {
                identity: &identity,
                capacity: &self.capacity,
                kubelet_version: &self.kubelet_version,
                runtime_version: self.runtime.version(),
                runtime_ready: self.runtime.ready(),
                boot_id: &self.boot_id,
            };
            let status = node::status(&report, &previous, Timestamp::now());
            let patch = Patch::Merge(json!({ "status": status }));
            match api
                .patch_status(name, &PatchParams::default(), &patch)
                .await
            {
                Ok(_) => {
                    for condition in status.conditions.iter().flatten() {
                        let before = previous.iter().find(|c| c.type_ == condition.type_);
                        if before.map(|c| &c.status) != Some(&condition.status) {
                            let reason = node::status_event_reason(condition);
                            let message = format!("Node {name} status is now: {reason}");
                            self.node_event(name, reason, message);
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(node = name, %error, "could not post the node's status");
                    ok = false;
                }
            }
        }
        let mut state = lock(&self.state);
        if let Some(agent) = state.agents.get_mut(name) {
            agent.syncing = false;
            agent.needs_sync = !ok;
            if ok {
                agent.last_status = Some(Instant::now());
            }
        }
    }

    /// Records an event about node `name`, as the kubelet does (its reference's uid is the
    /// node's name).
    fn node_event(&self, name: &str, reason: &str, message: String) {
        let reference = ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(name.to_owned()),
            uid: Some(name.to_owned()),
            ..ObjectReference::default()
        };
        self.recorder
            .record(reference, EventType::Normal, reason, message);
    }

    /// Renews the Lease of node `name`, creating it if it is missing.
    async fn renew(&self, name: &str, node_uid: Option<String>) {
        let _permit = self.requests.acquire().await;
        let api = Api::<Lease>::namespaced(self.client.clone(), LEASE_NAMESPACE);
        let lease = node::lease(name, node_uid.as_deref(), Timestamp::now());
        let patch = Patch::Merge(json!({ "spec": lease.spec }));
        match api.patch(name, &PatchParams::default(), &patch).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {
                if let Err(error) = api.create(&PostParams::default(), &lease).await {
                    tracing::debug!(node = name, %error, "could not create the node's lease");
                }
            }
            Err(error) => tracing::debug!(node = name, %error, "could not renew the node's lease"),
        }
    }

    /// Renews a tenth of the Leases per tick; re-posts statuses that are due.
    async fn lease_timer(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(LEASE_RENEW / SLOTS as u32);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for tick in 0u64.. {
            ticks.tick().await;
            let due: Vec<(String, Option<String>, bool)> = {
                let mut state = lock(&self.state);
                state
                    .agents
                    .iter_mut()
                    .filter(|(_, a)| {
                        *a.running.borrow() && u64::from(a.identity.index) % SLOTS == tick % SLOTS
                    })
                    .map(|(name, agent)| {
                        let report = !agent.syncing
                            && (agent.needs_sync
                                || agent
                                    .last_status
                                    .is_none_or(|at| at.elapsed() >= STATUS_REPORT));
                        if report {
                            agent.syncing = true;
                        }
                        (name.clone(), agent.uid.clone(), report)
                    })
                    .collect()
            };
            futures_util::stream::iter(due)
                .for_each_concurrent(CONCURRENCY, |(name, uid, report)| {
                    let shared = self.clone();
                    async move {
                        shared.renew(&name, uid).await;
                        if report {
                            shared.sync_node(&name, None).await;
                        }
                    }
                })
                .await;
        }
    }

    /// Starts the worker of pod `uid` if its node has an agent whose runtime runs pods.
    fn spawn_worker(self: &Arc<Self>, state: &mut State, uid: &str) {
        if self.runtime.ready().is_err() {
            return;
        }
        let Some(entry) = state.pods.get(uid) else {
            return;
        };
        let Some(agent) = state.agents.get(&entry.node) else {
            return;
        };
        let (sender, updates) = watch::channel(entry.pod.clone());
        let abort = crate::pod::spawn(
            self.clone(),
            agent.identity.clone(),
            agent.running.subscribe(),
            updates,
        );
        if let Some(entry) = state.pods.get_mut(uid) {
            entry.worker = Some((sender, abort));
        }
    }

    fn on_pod(self: &Arc<Self>, pod: Pod) {
        let (Some(uid), Some(node)) = (
            pod.metadata.uid.clone(),
            pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        ) else {
            return;
        };
        let pod = Arc::new(pod);
        let mut state = lock(&self.state);
        let entry = state.pods.entry(uid.clone()).or_insert_with(|| PodEntry {
            node,
            worker: None,
            pod: pod.clone(),
        });
        entry.pod = pod.clone();
        match &entry.worker {
            Some((sender, _)) => {
                sender.send_replace(pod);
            }
            None => self.spawn_worker(&mut state, &uid),
        }
    }

    fn on_pod_deleted(&self, uid: &str) {
        lock(&self.state).pods.remove(uid);
    }

    /// Follows the managed Nodes until aborted.
    async fn watch_nodes(self: Arc<Self>) {
        let api = Api::<Node>::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures_util::pin_mut!(stream);
        let mut listed: Option<HashSet<String>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(node)) => self.on_node(node),
                Ok(watcher::Event::Delete(node)) => {
                    if let Some(name) = node.metadata.name.as_deref() {
                        self.on_node_deleted(name);
                    }
                }
                Ok(watcher::Event::Init) => listed = Some(HashSet::new()),
                Ok(watcher::Event::InitApply(node)) => {
                    if let (Some(listed), Some(name)) =
                        (listed.as_mut(), node.metadata.name.clone())
                    {
                        listed.insert(name);
                    }
                    self.on_node(node);
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(listed) = listed.take() {
                        let gone: Vec<String> = lock(&self.state)
                            .agents
                            .keys()
                            .filter(|name| !listed.contains(*name))
                            .cloned()
                            .collect();
                        for name in gone {
                            self.on_node_deleted(&name);
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "node watch failed; retrying"),
            }
        }
    }

    /// Follows every bound pod until aborted: one watch for all the pool's agents.
    async fn watch_pods(self: Arc<Self>) {
        let api = Api::<Pod>::all(self.client.clone());
        let config = watcher::Config::default().fields("spec.nodeName!=");
        let stream = watcher(api, config).default_backoff();
        futures_util::pin_mut!(stream);
        let mut listed: Option<HashSet<String>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(pod)) => self.on_pod(pod),
                Ok(watcher::Event::Delete(pod)) => {
                    if let Some(uid) = pod.metadata.uid.as_deref() {
                        self.on_pod_deleted(uid);
                    }
                }
                Ok(watcher::Event::Init) => listed = Some(HashSet::new()),
                Ok(watcher::Event::InitApply(pod)) => {
                    if let (Some(listed), Some(uid)) = (listed.as_mut(), pod.metadata.uid.clone()) {
                        listed.insert(uid);
                    }
                    self.on_pod(pod);
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(listed) = listed.take() {
                        lock(&self.state).pods.retain(|uid, _| listed.contains(uid));
                    }
                }
                Err(error) => tracing::debug!(%error, "pod watch failed; retrying"),
            }
        }
    }
}

/// The node agents of this process. Dropping it stops them where they are;
/// [`NodePool::shutdown`] waits for that.
pub struct NodePool {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for NodePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodePool")
            .field("agents", &lock(&self.shared.state).agents.len())
            .finish_non_exhaustive()
    }
}

impl NodePool {
    /// Starts the agents: one for every Node labelled `kubarium.dev/managed-node=true`, and
    /// creates the first `config.nodes` default nodes that do not exist. Must be called
    /// inside a Tokio runtime.
    pub async fn start(client: Client, config: PoolConfig) -> Result<Self> {
        let version = client
            .apiserver_version()
            .await
            .map_err(Error::api("get", "/version"))?;
        let runtime: Arc<dyn ContainerRuntime> = match config.runtime {
            RuntimeKind::Hollow => Arc::new(HollowRuntime::new()),
            RuntimeKind::Docker => Arc::new(UnavailableRuntime::new(
                "docker",
                "Kubarium's Docker runtime is not available in this build; start the cluster with --runtime hollow",
            )),
        };
        let shared = Arc::new(Shared {
            recorder: Recorder::new(client.clone(), "kubelet"),
            client: client.clone(),
            runtime,
            kubelet_version: version.git_version,
            capacity: config.capacity,
            boot_id: Timestamp::now().as_nanosecond().to_string(),
            state: Mutex::new(State::default()),
            requests: Semaphore::new(CONCURRENCY),
        });
        let api = Api::<Node>::all(client);
        let existing = api
            .list(&ListParams::default())
            .await
            .map_err(Error::api("list", "nodes"))?;
        let names: HashSet<String> = existing
            .items
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        for node in existing.items {
            shared.on_node(node);
        }
        let missing: Vec<NodeIdentity> = {
            let state = lock(&shared.state);
            let mut taken: HashSet<u32> = state.agents.values().map(|a| a.identity.index).collect();
            node::default_names(config.nodes)
                .into_iter()
                .filter(|name| !names.contains(name))
                .map(|name| {
                    let index = (0..).find(|i| !taken.contains(i)).unwrap_or(0);
                    taken.insert(index);
                    NodeIdentity::new(&name, index)
                })
                .collect()
        };
        let taint = config.nodes > 1;
        let created: Vec<Result<Option<Node>>> = futures_util::stream::iter(missing)
            .map(|identity| {
                let api = api.clone();
                let new = node::new_node(&identity, shared.runtime.name(), taint);
                async move {
                    match api.create(&PostParams::default(), &new).await {
                        Ok(created) => Ok(Some(created)),
                        Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
                        Err(error) => Err(
                            Error::api("create", format!("nodes/{}", identity.name))(error),
                        ),
                    }
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for created in created {
            if let Some(node) = created? {
                shared.on_node(node);
            }
        }
        let mut tasks = JoinSet::new();
        tasks.spawn(shared.clone().watch_nodes());
        tasks.spawn(shared.clone().watch_pods());
        tasks.spawn(shared.clone().lease_timer());
        Ok(Self { shared, tasks })
    }

    /// The names of the nodes this pool runs agents for.
    pub fn nodes(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.shared.state).agents.keys().cloned().collect();
        names.sort();
        names
    }

    /// Adds a node called `name`, or the next free `kubarium-workerN`; returns its name.
    pub async fn add_node(&self, name: Option<&str>) -> Result<String> {
        control::add_node(&self.shared.client, name).await
    }

    /// Removes node `name`: its agent ends and its pods are garbage-collected.
    pub async fn remove_node(&self, name: &str) -> Result<()> {
        control::remove_node(&self.shared.client, name).await
    }

    /// Stops node `name`'s agent, as a crashed kubelet.
    pub async fn stop_node(&self, name: &str) -> Result<()> {
        control::stop_node(&self.shared.client, name).await
    }

    /// Starts node `name`'s agent again.
    pub async fn start_node(&self, name: &str) -> Result<()> {
        control::start_node(&self.shared.client, name).await
    }

    /// Stops every agent and pod worker. The nodes stay registered; their Leases lapse.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        let workers: Vec<AbortHandle> = {
            let mut state = lock(&self.shared.state);
            state.agents.clear();
            state
                .pods
                .drain()
                .filter_map(|(_, entry)| entry.worker.map(|(_, abort)| abort))
                .collect()
        };
        for worker in workers {
            worker.abort();
        }
    }
}
