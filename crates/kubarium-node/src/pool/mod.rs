//! [`NodePool`]: every node agent of the process, sharing one view of the pods, one node
//! watch, one Lease timer and one container runtime, so a thousand hollow nodes cost little
//! more than their pods.
//!
//! The node watch makes and ends agents (a Node labelled `kubarium.dev/managed-node=true`
//! gets one; deleting it ends it) and pauses them (annotation `kubarium.dev/agent:
//! stopped`). The pods come from the control plane's pod informer (the process's shared
//! cache: [`Informers::events`]), whose copies the agents share: each bound pod goes to its
//! worker ([`crate::pod`]), as a kubelet's `spec.nodeName` watch would hand it. The Lease
//! timer ticks ten times per renewal period and renews the Leases of one tenth of the nodes
//! each tick, so renewals spread evenly. A renewal takes no permit of the node status
//! requests' semaphore, as a kubelet's Lease controller runs apart from its status updates:
//! a thousand agents posting their first status at once must not hold the Leases back; a
//! status re-post that falls due on a tick runs as a task of its own, outside the tick's
//! renewals. A round of renewals that falls behind is logged.
//!
//! [`Informers::events`]: kubarium_controllers::informers::Informers::events

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod};
use kubarium_controllers::events::Recorder;
use kubarium_controllers::informers::Events;
use kubarium_controllers::objects::Objects;
use kube::Client;
use kube::api::{ListParams, PostParams};
use tokio::sync::{Semaphore, watch};
use tokio::task::{AbortHandle, JoinSet};

use crate::network::{CLUSTER_DOMAIN, CLUSTER_ID_FILE, NetworkPlan};
use crate::node::{self, AGENT_ANNOTATION, NodeCapacity, NodeIdentity};
use crate::runtime::{ContainerRuntime, DockerRuntime, HollowRuntime};
use crate::{Error, Result, control, host};

mod agents;
mod orphans;
mod pods;
mod portforward;
mod streams;

pub(crate) use streams::Instances;
pub use streams::{PodStreams, StreamError};

/// Lease timer ticks per renewal period: each tick renews a tenth of the nodes.
const SLOTS: u64 = 10;
/// Lease renewals in flight at once, and node registrations and status posts (apart).
const CONCURRENCY: usize = 32;

/// How the pool's nodes run pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeKind {
    /// Real containers in the local Docker engine (while it is not reachable, nodes report
    /// `Ready=False` saying so).
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
    /// The cluster's data dir: pods' volumes live under `<data_dir>/pods/<uid>/`, local
    /// persistent volumes under `<data_dir>/volumes/`.
    pub data_dir: std::path::PathBuf,
    /// Whether containers may run `privileged` (refused with
    /// `CreateContainerConfigError` when not, as a kubelet with `--allow-privileged=false`).
    pub allow_privileged: bool,
    /// The cluster id ([`crate::network::prepare`]): Docker containers and the network are
    /// labelled with it. Empty: the pool prepares the network itself from `data_dir`.
    pub cluster_id: String,
    /// The cluster network's layout on Docker ([`crate::network::prepare`]): nodes'
    /// InternalIPs and pods' DNS server come from it. `None` on the hollow runtime.
    pub plan: Option<NetworkPlan>,
    /// The cluster domain; empty means [`CLUSTER_DOMAIN`] (`cluster.local`).
    pub cluster_domain: String,
}

/// What every agent and pod worker of the pool shares.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) runtime: Arc<dyn ContainerRuntime>,
    /// The Docker runtime, when pods run on it: port-forward finds sandboxes through it.
    pub(crate) docker: Option<DockerRuntime>,
    pub(crate) recorder: Recorder,
    /// ConfigMaps, Secrets and Services, and the settings containers are made with.
    pub(crate) sources: Arc<crate::pod::sources::Sources>,
    pub(crate) kubelet_version: String,
    /// The cluster network's layout (Docker): nodes' InternalIPs come from it.
    pub(crate) plan: Option<NetworkPlan>,
    /// The DNS server `ClusterFirst` pods use: the `kube-dns` Service's cluster IP.
    pub(crate) cluster_dns: std::net::Ipv4Addr,
    /// The cluster domain, e.g. `cluster.local`.
    pub(crate) cluster_domain: String,
    capacity: NodeCapacity,
    /// What pods may use of each node: its share of the machine on Docker.
    allocatable: NodeCapacity,
    /// The machine's `osImage` for Docker nodes.
    os_image: Option<String>,
    boot_id: String,
    state: Mutex<State>,
    /// Bounds the node registrations and status posts in flight, so a thousand agents
    /// starting at once queue here rather than in the API server. (The Lease timer bounds
    /// its renewals itself.)
    requests: Semaphore,
    /// The pods' runtime containers, for `log`, `exec` and `attach`.
    pub(crate) containers: streams::Containers,
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
    /// The runtime's version and readiness as last posted: a change is posted at once.
    posted_runtime: Option<(String, bool)>,
}

struct PodEntry {
    node: String,
    worker: Option<crate::pod::Handle>,
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

/// Removes what the cluster whose data dir is `data_dir` left in Docker: every container
/// labelled with its id (pods' and the service data plane's), and its network. Returns how
/// many containers went; nothing to do (0) when the cluster never ran on Docker. Fails,
/// leaving the data dir's record, when Docker cannot be reached, so a later try still knows
/// what to remove.
pub async fn delete_cluster(data_dir: &std::path::Path) -> Result<usize> {
    let recorded = data_dir.join(CLUSTER_ID_FILE);
    let cluster = match std::fs::read_to_string(&recorded) {
        Ok(cluster) => cluster,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => {
            return Err(Error::Runtime {
                reason: format!("could not read {}: {error}", recorded.display()),
            });
        }
    };
    let docker = DockerRuntime::start(cluster.trim()).await;
    docker.delete_cluster().await
}

impl Shared {
    /// Follows the runtime's readiness: each change is posted in every node's status, and
    /// when it becomes ready the pods that waited for it get their workers.
    async fn follow_runtime(self: Arc<Self>, mut ready: watch::Receiver<bool>) {
        while ready.changed().await.is_ok() {
            let up = *ready.borrow_and_update();
            let mut state = lock(&self.state);
            for agent in state.agents.values_mut() {
                agent.needs_sync = true;
            }
            if up {
                let waiting: Vec<String> = state
                    .pods
                    .iter()
                    .filter(|(_, entry)| entry.worker.is_none())
                    .map(|(uid, _)| uid.clone())
                    .collect();
                for uid in waiting {
                    self.spawn_worker(&mut state, &uid);
                }
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
    /// creates the first `config.nodes` default nodes that do not exist. `pods` is the pod
    /// events of the informers the control plane runs on. Must be called inside a Tokio
    /// runtime.
    pub async fn start(client: Client, mut config: PoolConfig, pods: Events<Pod>) -> Result<Self> {
        let version = client
            .apiserver_version()
            .await
            .map_err(Error::api("get", "/version"))?;
        let mut docker_ready = None;
        let mut docker_runtime: Option<DockerRuntime> = None;
        let runtime: Arc<dyn ContainerRuntime> = match config.runtime {
            RuntimeKind::Hollow => Arc::new(HollowRuntime::new()),
            RuntimeKind::Docker => {
                if config.cluster_id.is_empty() {
                    let prepared =
                        crate::network::prepare(&config.data_dir, RuntimeKind::Docker).await?;
                    config.cluster_id = prepared.cluster_id;
                    config.plan = prepared.plan;
                }
                let docker = DockerRuntime::start_with_plan(&config.cluster_id, config.plan).await;
                docker_ready = Some(docker.watch_ready());
                docker_runtime = Some(docker.clone());
                Arc::new(docker)
            }
        };
        // Docker nodes run pods on this machine: its resources, shared among them.
        let (capacity, allocatable, os_image) = match (config.runtime, host::resources()) {
            (RuntimeKind::Docker, Some(machine)) => {
                let (capacity, allocatable) = host::share(machine, config.nodes, &config.capacity);
                (capacity, allocatable, host::os_image())
            }
            _ => (config.capacity.clone(), config.capacity, None),
        };
        let mut tasks = JoinSet::new();
        let (sources, source_changes) = crate::pod::sources::Sources::start(
            client.clone(),
            config.data_dir.clone(),
            config.allow_privileged,
            allocatable.clone(),
            &mut tasks,
        );
        let shared = Arc::new(Shared {
            recorder: Recorder::new(client.clone(), "kubelet"),
            sources,
            client: client.clone(),
            runtime,
            docker: docker_runtime,
            kubelet_version: version.git_version,
            plan: config
                .plan
                .filter(|_| config.runtime == RuntimeKind::Docker),
            // Hollow clusters allocate cluster IPs from 10.96.0.0/16: kube-dns is 10.96.0.10.
            cluster_dns: match config.plan {
                Some(plan) if config.runtime == RuntimeKind::Docker => plan.dns_ip(),
                _ => std::net::Ipv4Addr::new(10, 96, 0, 10),
            },
            cluster_domain: if config.cluster_domain.is_empty() {
                CLUSTER_DOMAIN.to_owned()
            } else {
                config.cluster_domain.clone()
            },
            capacity,
            allocatable,
            os_image,
            boot_id: Timestamp::now().as_nanosecond().to_string(),
            state: Mutex::new(State::default()),
            requests: Semaphore::new(CONCURRENCY),
            containers: streams::Containers::default(),
        });
        let api = Objects::<Node>::all(client);
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
                    NodeIdentity::new(&name, index, shared.plan.as_ref())
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
        tasks.spawn(shared.clone().watch_nodes());
        tasks.spawn(shared.clone().follow_sources(source_changes));
        tasks.spawn(shared.clone().follow_pods(pods));
        tasks.spawn(shared.clone().lease_timer());
        if let Some(ready) = docker_ready {
            tasks.spawn(shared.clone().follow_runtime(ready));
        }
        Ok(Self { shared, tasks })
    }

    /// The names of the nodes this pool runs agents for.
    pub fn nodes(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.shared.state).agents.keys().cloned().collect();
        names.sort();
        names
    }

    /// What serves `kubectl logs`, `exec` and `attach` from this pool's containers.
    pub fn streams(&self) -> PodStreams {
        PodStreams {
            shared: self.shared.clone(),
        }
    }

    /// The service data plane on this pool's Docker runtime (its cluster's network and
    /// labels); `None` on the hollow runtime.
    pub fn data_plane(&self) -> Option<crate::runtime::DockerPlane> {
        self.shared.docker.as_ref().map(DockerRuntime::data_plane)
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
                .filter_map(|(_, entry)| entry.worker.map(|worker| worker.abort))
                .collect()
        };
        for worker in workers {
            worker.abort();
        }
    }
}
