//! The scheduler's node-info cache, as upstream's `internal/cache`: per node, the pods
//! counted against it (bound, and assumed while their bind is in flight) with their
//! requested resources and host ports aggregated incrementally, so a scheduling cycle reads
//! aggregates instead of listing pods.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec, Taint};

use super::matching::Labels;
use super::resources::{Resources, pod_requests};

/// A host port a pod holds on its node: IP (`0.0.0.0` for all), protocol, port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct HostPort {
    pub(crate) ip: String,
    pub(crate) protocol: String,
    pub(crate) port: i32,
}

impl HostPort {
    /// Whether two host ports collide: same protocol and port, and the same IP or either
    /// on every address.
    pub(crate) fn conflicts(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// What the scheduler needs of a pod, computed once per pod version.
#[derive(Debug, Clone)]
pub(crate) struct PodInfo {
    pub(crate) pod: Arc<Pod>,
    pub(crate) uid: String,
    pub(crate) namespace: String,
    /// The node it is bound or assumed to (empty while pending).
    pub(crate) node: String,
    pub(crate) requests: Resources,
    /// Requests with the scoring defaults for containers that request nothing.
    pub(crate) non_zero: Resources,
    pub(crate) ports: Vec<HostPort>,
    /// The uid of its controller (ReplicaSet, StatefulSet, …), for default spreading.
    pub(crate) owner: Option<String>,
    pub(crate) terminating: bool,
    pub(crate) priority: i32,
}

static NO_LABELS: Labels = Labels::new();

impl PodInfo {
    pub(crate) fn new(pod: Arc<Pod>) -> Self {
        let empty = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&empty);
        let ports = spec
            .containers
            .iter()
            .chain(
                spec.init_containers
                    .iter()
                    .flatten()
                    .filter(|c| c.restart_policy.as_deref() == Some("Always")),
            )
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| {
                let port = p.host_port.filter(|port| *port > 0)?;
                Some(HostPort {
                    ip: p
                        .host_ip
                        .clone()
                        .filter(|ip| !ip.is_empty())
                        .unwrap_or_else(|| "0.0.0.0".to_owned()),
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                    port,
                })
            })
            .collect();
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| o.uid.clone());
        Self {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            node: spec.node_name.clone().unwrap_or_default(),
            requests: pod_requests(spec, false),
            non_zero: pod_requests(spec, true),
            ports,
            owner,
            terminating: pod.metadata.deletion_timestamp.is_some(),
            priority: spec.priority.unwrap_or(0),
            pod,
        }
    }

    /// The same pod, counted on `node` (an assumption while its bind is in flight).
    /// It shares the pod object, still without `spec.nodeName`: the cache counts pods by
    /// `node`, and the watch's bound copy replaces this one.
    pub(crate) fn on_node(&self, node: &str) -> Self {
        Self {
            node: node.to_owned(),
            ..self.clone()
        }
    }

    pub(crate) fn labels(&self) -> &Labels {
        self.pod.metadata.labels.as_ref().unwrap_or(&NO_LABELS)
    }

    pub(crate) fn spec(&self) -> Option<&PodSpec> {
        self.pod.spec.as_ref()
    }

    /// Whether it has pod affinity or anti-affinity terms of any kind.
    pub(crate) fn has_pod_affinity(&self) -> bool {
        self.spec()
            .and_then(|s| s.affinity.as_ref())
            .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
    }
}

/// One node and what is counted against it. What every cycle's filters read of the node
/// object (`spec.unschedulable`, `spec.taints`) is copied here when it changes, so a
/// cycle over thousands of nodes reads these infos alone, not each node object as well.
#[derive(Debug)]
pub(crate) struct NodeInfo {
    pub(crate) name: String,
    /// `None` while pods name a node the cache has not seen (or no longer has).
    pub(crate) node: Option<Arc<Node>>,
    /// The node's `spec.unschedulable` (cordoned).
    pub(crate) unschedulable: bool,
    /// The node's `spec.taints`.
    pub(crate) taints: Vec<Taint>,
    pub(crate) allocatable: Resources,
    pub(crate) requested: Resources,
    pub(crate) non_zero_requested: Resources,
    pub(crate) pods: Vec<Arc<PodInfo>>,
    pub(crate) ports: Vec<HostPort>,
}

impl NodeInfo {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            node: None,
            unschedulable: false,
            taints: Vec::new(),
            allocatable: Resources::default(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            pods: Vec::new(),
            ports: Vec::new(),
        }
    }

    /// A node info for `node` with `pods` on it (tests and previews).
    #[cfg(test)]
    pub(crate) fn with(node: Node, pods: Vec<Pod>) -> Self {
        let mut info = NodeInfo::new(node.metadata.name.as_deref().unwrap_or_default());
        info.set_node(Arc::new(node));
        for pod in pods {
            info.add(Arc::new(PodInfo::new(Arc::new(pod))));
        }
        info
    }

    pub(crate) fn set_node(&mut self, node: Arc<Node>) {
        self.allocatable =
            Resources::from_list(node.status.as_ref().and_then(|s| s.allocatable.as_ref()));
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.taints = spec.and_then(|s| s.taints.clone()).unwrap_or_default();
        self.node = Some(node);
    }

    pub(crate) fn labels(&self) -> &Labels {
        self.node
            .as_ref()
            .and_then(|n| n.metadata.labels.as_ref())
            .unwrap_or(&NO_LABELS)
    }

    pub(crate) fn add(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero);
        self.ports.extend(pod.ports.iter().cloned());
        self.pods.push(pod);
    }

    pub(crate) fn remove(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        let at = self.pods.iter().position(|p| p.uid == uid)?;
        let pod = self.pods.swap_remove(at);
        self.requested.sub(&pod.requests);
        self.non_zero_requested.sub(&pod.non_zero);
        for port in &pod.ports {
            if let Some(i) = self.ports.iter().position(|p| p == port) {
                self.ports.swap_remove(i);
            }
        }
        Some(pod)
    }
}

/// Every node's info, and where each counted pod is.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    nodes: Vec<NodeInfo>,
    /// The positions in `nodes` of the infos with a node object, ascending: what a cycle
    /// walks, without touching the infos of the rest.
    live: Vec<usize>,
    index: HashMap<String, usize>,
    pods: HashMap<String, String>,
    assumed: HashSet<String>,
    /// Counted pods with pod affinity or anti-affinity terms (the affinity plugin's work
    /// is skipped while there are none and the pod has none).
    with_affinity: usize,
}

impl Cache {
    /// The nodes, in a stable order (the order scheduling cycles rotate through).
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.live.iter().map(|&i| &self.nodes[i])
    }

    /// All node infos with a node, as a slice-like vector of references.
    pub(crate) fn node_list(&self) -> Vec<&NodeInfo> {
        self.nodes().collect()
    }

    pub(crate) fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    pub(crate) fn node_names(&self) -> Vec<String> {
        self.nodes().map(|n| n.name.clone()).collect()
    }

    pub(crate) fn with_affinity(&self) -> usize {
        self.with_affinity
    }

    /// The position of `name`'s info, added (without a node object) if there is none.
    fn position(&mut self, name: &str) -> usize {
        match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.nodes.push(NodeInfo::new(name));
                self.index.insert(name.to_owned(), self.nodes.len() - 1);
                self.nodes.len() - 1
            }
        }
    }

    fn entry(&mut self, name: &str) -> &mut NodeInfo {
        let i = self.position(name);
        &mut self.nodes[i]
    }

    /// Takes position `i` out of the live ones.
    fn unlist(&mut self, i: usize) {
        if let Ok(at) = self.live.binary_search(&i) {
            self.live.remove(at);
        }
    }

    /// Adds or updates a node. Returns whether anything a pending pod could care about
    /// changed (labels, taints, allocatable, unschedulable), or the node is new.
    pub(crate) fn set_node(&mut self, node: Arc<Node>) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        let i = self.position(&name);
        if let Err(at) = self.live.binary_search(&i) {
            self.live.insert(at, i);
        }
        let info = &mut self.nodes[i];
        let changed = info.node.as_ref().is_none_or(|old| {
            old.metadata.labels != node.metadata.labels
                || old.spec != node.spec
                || old.status.as_ref().map(|s| &s.allocatable)
                    != node.status.as_ref().map(|s| &s.allocatable)
        });
        info.set_node(node);
        changed
    }

    /// Forgets a deleted node (its pods stay counted until they go).
    pub(crate) fn remove_node(&mut self, name: &str) {
        let Some(i) = self.index.get(name).copied() else {
            return;
        };
        self.unlist(i);
        if !self.nodes[i].pods.is_empty() {
            self.nodes[i].node = None;
            return;
        }
        self.index.remove(name);
        self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
            // It was last; now it is at `i`.
            let last = self.nodes.len();
            if self.live.last() == Some(&last) {
                self.live.pop();
                self.live.insert(self.live.partition_point(|&l| l < i), i);
            }
        }
    }

    /// Counts a pod against its node (replacing an earlier version, or its assumption).
    pub(crate) fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.remove_pod(&pod.uid);
        if pod.has_pod_affinity() {
            self.with_affinity += 1;
        }
        self.pods.insert(pod.uid.clone(), pod.node.clone());
        let node = pod.node.clone();
        self.entry(&node).add(pod);
    }

    /// Stops counting a pod (deleted, finished, or its bind failed).
    pub(crate) fn remove_pod(&mut self, uid: &str) -> Option<Arc<PodInfo>> {
        self.assumed.remove(uid);
        let node = self.pods.remove(uid)?;
        let i = *self.index.get(&node)?;
        let removed = self.nodes[i].remove(uid);
        if removed.as_ref().is_some_and(|p| p.has_pod_affinity()) {
            self.with_affinity -= 1;
        }
        if self.nodes[i].node.is_none() && self.nodes[i].pods.is_empty() {
            self.remove_node(&node);
        }
        removed
    }

    /// Counts a pod on the node chosen for it while its bind is in flight.
    pub(crate) fn assume(&mut self, pod: Arc<PodInfo>) {
        let uid = pod.uid.clone();
        self.add_pod(pod);
        self.assumed.insert(uid);
    }

    pub(crate) fn is_assumed(&self, uid: &str) -> bool {
        self.assumed.contains(uid)
    }

    /// A counted pod.
    pub(crate) fn pod(&self, uid: &str) -> Option<&Arc<PodInfo>> {
        let node = self.index.get(self.pods.get(uid)?)?;
        self.nodes[*node].pods.iter().find(|p| p.uid == uid)
    }

    /// The uids of every counted pod.
    pub(crate) fn pod_uids(&self) -> impl Iterator<Item = &String> {
        self.pods.keys()
    }
}
