//! A node as its agent registers and reports it: names, labels, addresses, pod CIDR,
//! capacity, conditions and `nodeInfo` as the kubelet fills them, and its Lease. Pure
//! functions from a [`NodeIdentity`] to k8s-openapi objects.
//!
//! Addresses: node `i` (the control plane is 0, `kubarium-worker` 1, `kubarium-workerN` N)
//! gets pod CIDR `10.244.i.0/24` (counting on through the 10.0.0.0/8 block past 255, as
//! kind does for its first 256 nodes) and InternalIP `172.18.0.(i+2)` (counting on through
//! 172.18.0.0/16) — kind's Docker network, so addresses look as they do on a kind cluster.
//! Hollow addresses are labels only: nothing listens on them. On Docker the InternalIP is
//! [`crate::network::NetworkPlan::node_ip`] instead: in the cluster network's last quarter,
//! which no pod's address can be.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};

/// Label on every node an agent of Kubarium runs; creating a Node with it adds an agent.
pub const MANAGED_LABEL: &str = "kubarium.dev/managed-node";
/// Node annotation: `stopped` makes its agent behave like a crashed kubelet.
pub const AGENT_ANNOTATION: &str = "kubarium.dev/agent";
/// Node label naming the runtime its pods run in (`hollow`, `docker`).
pub const RUNTIME_LABEL: &str = "kubarium.dev/runtime";
/// The control-plane node's name.
pub const CONTROL_PLANE: &str = "kubarium-control-plane";
/// Workers are `kubarium-worker`, `kubarium-worker2`, `kubarium-worker3`, ….
pub const WORKER_PREFIX: &str = "kubarium-worker";
/// The control-plane role label and taint key.
pub const CONTROL_PLANE_ROLE: &str = "node-role.kubernetes.io/control-plane";
/// Where node Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// A Lease's duration, as the kubelet's (`nodeLeaseDurationSeconds`).
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// How often an agent renews its Lease (the kubelet renews every quarter of the duration,
/// 10 s upstream; 5 s here).
pub const LEASE_RENEW: Duration = Duration::from_secs(5);
/// How often an unchanged node status is re-posted (`nodeStatusReportFrequency`).
pub const STATUS_REPORT: Duration = Duration::from_secs(300);

/// The names of a fresh cluster's `count` nodes: the control plane, then workers.
pub fn default_names(count: u32) -> Vec<String> {
    (0..count)
        .map(|i| {
            if i == 0 {
                CONTROL_PLANE.to_owned()
            } else {
                worker_name(i)
            }
        })
        .collect()
}

/// The `n`th worker's name: `kubarium-worker`, then `kubarium-worker2`, ….
pub fn worker_name(n: u32) -> String {
    if n <= 1 {
        WORKER_PREFIX.to_owned()
    } else {
        format!("{WORKER_PREFIX}{n}")
    }
}

/// The first worker name not in `taken`.
pub fn next_worker_name<'a>(taken: impl IntoIterator<Item = &'a str>) -> String {
    let taken: std::collections::HashSet<&str> = taken.into_iter().collect();
    (1..)
        .map(worker_name)
        .find(|name| !taken.contains(name.as_str()))
        .unwrap_or_else(|| unreachable!("some worker name is free"))
}

/// `GOARCH` spelling of this machine's architecture (`kubernetes.io/arch`).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The pod CIDR base address of node `index`.
pub(crate) fn pod_cidr_base(index: u32) -> Ipv4Addr {
    let offset = (0x00F4_0000u32.wrapping_add(index.wrapping_mul(256))) & 0x00FF_FFFF;
    Ipv4Addr::from(0x0A00_0000 | offset)
}

/// Node `index` from its pod CIDR, the inverse of [`pod_cidr_base`].
pub(crate) fn index_of_cidr(cidr: &str) -> Option<u32> {
    let base: Ipv4Addr = cidr.split_once('/')?.0.parse().ok()?;
    let offset = u32::from(base).checked_sub(0x0A00_0000)? & 0x00FF_FFFF;
    Some((offset.wrapping_sub(0x00F4_0000) & 0x00FF_FFFF) / 256)
}

/// Node `index`'s InternalIP.
pub(crate) fn internal_ip(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xAC12_0000 | (index.wrapping_add(2) & 0xFFFF))
}

/// What makes one node itself: its name, index and addresses, and the pod IPs it gave out.
#[derive(Debug)]
pub(crate) struct NodeIdentity {
    pub(crate) name: String,
    pub(crate) index: u32,
    pub(crate) internal_ip: Ipv4Addr,
    pub(crate) pod_cidr: Ipv4Addr,
    ips: Mutex<PodIps>,
}

#[derive(Debug, Default)]
struct PodIps {
    by_pod: HashMap<String, u8>,
    next: u8,
}

impl NodeIdentity {
    /// Node `name` with index `index`; its InternalIP is `plan`'s (Docker: in the cluster
    /// network's last quarter, where no pod gets an address), else kind-like.
    pub(crate) fn new(name: &str, index: u32, plan: Option<&crate::network::NetworkPlan>) -> Self {
        Self {
            name: name.to_owned(),
            index,
            internal_ip: plan.map_or_else(|| internal_ip(index), |plan| plan.node_ip(index)),
            pod_cidr: pod_cidr_base(index),
            ips: Mutex::new(PodIps::default()),
        }
    }

    /// `10.244.i.0/24`.
    pub(crate) fn pod_cidr(&self) -> String {
        format!("{}/24", self.pod_cidr)
    }

    /// The pod IP of `uid`: the one it had (`previous`, if in this node's range and free),
    /// else the next free host address.
    pub(crate) fn pod_ip(&self, uid: &str, previous: Option<Ipv4Addr>) -> Ipv4Addr {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        let base = self.pod_cidr.octets();
        let host = if let Some(host) = ips.by_pod.get(uid) {
            *host
        } else {
            let used: std::collections::HashSet<u8> = ips.by_pod.values().copied().collect();
            let previous = previous
                .filter(|ip| ip.octets()[..3] == base[..3])
                .map(|ip| ip.octets()[3])
                .filter(|host| (2..=254).contains(host) && !used.contains(host));
            let host = previous.unwrap_or_else(|| {
                let start = ips.next.max(2);
                (0..253u16)
                    .map(|step| 2 + ((u16::from(start) - 2 + step) % 253) as u8)
                    .find(|host| !used.contains(host))
                    .unwrap_or(2)
            });
            ips.next = host.wrapping_add(1).max(2);
            ips.by_pod.insert(uid.to_owned(), host);
            host
        };
        Ipv4Addr::new(base[0], base[1], base[2], host)
    }

    /// Frees `uid`'s pod IP.
    pub(crate) fn release(&self, uid: &str) {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        ips.by_pod.remove(uid);
    }
}

/// What each node offers, in the kubelet's `capacity` terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCapacity {
    /// CPUs, e.g. `4`.
    pub cpu: String,
    /// Memory, e.g. `8Gi`.
    pub memory: String,
    /// Pods, e.g. `110` (the kubelet's `maxPods`).
    pub pods: String,
    /// Ephemeral storage, e.g. `100Gi`.
    pub ephemeral_storage: String,
}

impl Default for NodeCapacity {
    fn default() -> Self {
        Self {
            cpu: "4".to_owned(),
            memory: "8Gi".to_owned(),
            pods: "110".to_owned(),
            ephemeral_storage: "100Gi".to_owned(),
        }
    }
}

/// The labels an agent puts on its node.
pub(crate) fn labels(name: &str, runtime: &str, control_plane: bool) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", go_arch()),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", go_arch()),
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        (MANAGED_LABEL, "true"),
        (RUNTIME_LABEL, runtime),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if control_plane {
        labels.insert(CONTROL_PLANE_ROLE.to_owned(), String::new());
    }
    labels
}

/// The annotations the kubelet puts on its node.
pub(crate) fn annotations() -> BTreeMap<String, String> {
    [
        ("node.alpha.kubernetes.io/ttl", "0"),
        (
            "volumes.kubernetes.io/controller-managed-attach-detach",
            "true",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The Node a new agent creates: labels, annotations, pod CIDR and, for the control plane of
/// a cluster with workers, its `NoSchedule` taint (as kind and kubeadm do).
pub(crate) fn new_node(identity: &NodeIdentity, runtime: &str, taint_control_plane: bool) -> Node {
    let control_plane = identity.name == CONTROL_PLANE;
    Node {
        metadata: ObjectMeta {
            name: Some(identity.name.clone()),
            labels: Some(labels(&identity.name, runtime, control_plane)),
            annotations: Some(annotations()),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(identity.pod_cidr()),
            pod_cidrs: Some(vec![identity.pod_cidr()]),
            provider_id: Some(format!("kubarium://{runtime}/{}", identity.name)),
            taints: (control_plane && taint_control_plane).then(|| {
                vec![Taint {
                    key: CONTROL_PLANE_ROLE.to_owned(),
                    effect: "NoSchedule".to_owned(),
                    ..Taint::default()
                }]
            }),
            ..NodeSpec::default()
        }),
        status: None,
    }
}

fn hex_id(seed: &str, parts: u8) -> String {
    (0..parts)
        .map(|part| {
            let mut hasher = DefaultHasher::new();
            (seed, part).hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

/// What the node reports about itself and its runtime.
pub(crate) struct Report<'a> {
    pub(crate) identity: &'a NodeIdentity,
    pub(crate) capacity: &'a NodeCapacity,
    /// What pods may use of it (the node's share of the machine for Docker nodes).
    pub(crate) allocatable: &'a NodeCapacity,
    /// The machine's `osImage`; hollow nodes say `Kubarium hollow node`.
    pub(crate) os_image: Option<&'a str>,
    /// The runtime's images, for `status.images`.
    pub(crate) images: Vec<crate::runtime::Image>,
    pub(crate) kubelet_version: &'a str,
    pub(crate) runtime_version: String,
    /// `Ok`, or why the runtime cannot run pods.
    pub(crate) runtime_ready: Result<(), String>,
    /// The process's boot id (a new one per start, as after a reboot).
    pub(crate) boot_id: &'a str,
}

fn node_condition(type_: &str, status: &str, reason: &str, message: &str) -> NodeCondition {
    NodeCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        ..NodeCondition::default()
    }
}

/// The `Ready` status this node should report.
pub(crate) fn ready_status(runtime_ready: &Result<(), String>) -> &'static str {
    if runtime_ready.is_ok() {
        "True"
    } else {
        "False"
    }
}

/// The node's status as the kubelet posts it. Conditions keep their `lastTransitionTime`
/// from `previous` while their status holds; `lastHeartbeatTime` is `now`.
pub(crate) fn status(
    report: &Report<'_>,
    previous: &[NodeCondition],
    now: Timestamp,
) -> NodeStatus {
    let quantity = |value: &str| Quantity(value.to_owned());
    let resources = |of: &NodeCapacity| -> BTreeMap<String, Quantity> {
        [
            ("cpu", quantity(&of.cpu)),
            ("ephemeral-storage", quantity(&of.ephemeral_storage)),
            ("hugepages-1Gi", quantity("0")),
            ("hugepages-2Mi", quantity("0")),
            ("memory", quantity(&of.memory)),
            ("pods", quantity(&of.pods)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    let capacity = resources(report.capacity);
    let ready = match &report.runtime_ready {
        Ok(()) => node_condition(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
        Err(message) => node_condition("Ready", "False", "KubeletNotReady", message),
    };
    let mut conditions = vec![
        node_condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        node_condition(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        node_condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        ready,
    ];
    for condition in &mut conditions {
        condition.last_heartbeat_time = Some(Time(now));
        condition.last_transition_time = previous
            .iter()
            .find(|p| p.type_ == condition.type_ && p.status == condition.status)
            .and_then(|p| p.last_transition_time.clone())
            .or(Some(Time(now)));
    }
    let name = &report.identity.name;
    NodeStatus {
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_owned(),
                address: report.identity.internal_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".to_owned(),
                address: name.clone(),
            },
        ]),
        allocatable: Some(resources(report.allocatable)),
        capacity: Some(capacity),
        conditions: Some(conditions),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }),
        }),
        node_info: Some(NodeSystemInfo {
            architecture: go_arch().to_owned(),
            boot_id: hex_id(&format!("{name}/{}", report.boot_id), 2),
            container_runtime_version: report.runtime_version.clone(),
            kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            kube_proxy_version: String::new(),
            kubelet_version: report.kubelet_version.to_owned(),
            machine_id: hex_id(name, 2),
            operating_system: "linux".to_owned(),
            os_image: report.os_image.map_or_else(
                || {
                    format!(
                        "Kubarium {} node",
                        report.runtime_version.split(':').next().unwrap_or("hollow")
                    )
                },
                str::to_owned,
            ),
            system_uuid: hex_id(&format!("uuid/{name}"), 2),
            ..NodeSystemInfo::default()
        }),
        images: (!report.images.is_empty()).then(|| images(&report.images)),
        ..NodeStatus::default()
    }
}

/// How many images a node lists at most (the kubelet's `nodeStatusMaxImages`).
const MAX_IMAGES: usize = 50;

/// `status.images`: the largest images first, at most [`MAX_IMAGES`], as the kubelet.
fn images(list: &[crate::runtime::Image]) -> Vec<ContainerImage> {
    let mut list: Vec<&crate::runtime::Image> =
        list.iter().filter(|i| !i.names.is_empty()).collect();
    list.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then(a.names.cmp(&b.names)));
    list.into_iter()
        .take(MAX_IMAGES)
        .map(|image| ContainerImage {
            names: Some(image.names.clone()),
            size_bytes: Some(image.size_bytes),
        })
        .collect()
}

/// The reason of the event the kubelet records when `condition` takes its status, e.g.
/// `NodeReady`, `NodeHasSufficientMemory`.
pub(crate) fn status_event_reason(condition: &NodeCondition) -> &'static str {
    let ok = condition.status == "True";
    match condition.type_.as_str() {
        "Ready" if ok => "NodeReady",
        "Ready" => "NodeNotReady",
        "MemoryPressure" if ok => "NodeHasInsufficientMemory",
        "MemoryPressure" => "NodeHasSufficientMemory",
        "DiskPressure" if ok => "NodeHasDiskPressure",
        "DiskPressure" => "NodeHasNoDiskPressure",
        "PIDPressure" if ok => "NodeHasInsufficientPID",
        "PIDPressure" => "NodeHasSufficientPID",
        _ => "NodeStatusChanged",
    }
}

/// The node's Lease, renewed at `now`, owned by the Node (so it goes when the Node goes).
pub(crate) fn lease(name: &str, node_uid: Option<&str>, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(LEASE_NAMESPACE.to_owned()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".to_owned(),
                    kind: "Node".to_owned(),
                    name: name.to_owned(),
                    uid: uid.to_owned(),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name.to_owned()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        assert_eq!(
            default_names(3),
            [
                "kubarium-control-plane",
                "kubarium-worker",
                "kubarium-worker2"
            ]
        );
        assert!(default_names(0).is_empty());
        assert_eq!(
            next_worker_name(["kubarium-control-plane"]),
            "kubarium-worker"
        );
        assert_eq!(
            next_worker_name(["kubarium-worker", "kubarium-worker3"]),
            "kubarium-worker2"
        );
    }

    #[test]
    fn addresses_count_on_and_round_trip() {
        assert_eq!(pod_cidr_base(0), Ipv4Addr::new(10, 244, 0, 0));
        assert_eq!(pod_cidr_base(2), Ipv4Addr::new(10, 244, 2, 0));
        assert_eq!(pod_cidr_base(256), Ipv4Addr::new(10, 245, 0, 0));
        assert_eq!(internal_ip(0), Ipv4Addr::new(172, 18, 0, 2));
        assert_eq!(internal_ip(300), Ipv4Addr::new(172, 18, 1, 46));
        for index in [0, 1, 7, 255, 256, 999, 4999] {
            assert_eq!(
                index_of_cidr(&format!("{}/24", pod_cidr_base(index))),
                Some(index)
            );
        }
    }

    #[test]
    fn pod_ips_are_unique_and_reusable() {
        let node = NodeIdentity::new("kubarium-worker", 1, None);
        let a = node.pod_ip("a", None);
        let b = node.pod_ip("b", None);
        assert_eq!(a, Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(b, Ipv4Addr::new(10, 244, 1, 3));
        assert_eq!(node.pod_ip("a", None), a);
        let kept = node.pod_ip("c", Some(Ipv4Addr::new(10, 244, 1, 9)));
        assert_eq!(kept, Ipv4Addr::new(10, 244, 1, 9));
        // Someone else's address is not taken over.
        assert_ne!(node.pod_ip("d", Some(a)), a);
        node.release("a");
        assert_eq!(node.pod_ip("e", Some(a)), a);
    }

    #[test]
    fn status_reads_as_the_kubelet_posts_it() {
        let identity = NodeIdentity::new("kubarium-worker", 1, None);
        let report = Report {
            identity: &identity,
            capacity: &NodeCapacity::default(),
            allocatable: &NodeCapacity::default(),
            os_image: None,
            images: Vec::new(),
            kubelet_version: "v1.33.0+kubarium.0.1.0",
            runtime_version: "hollow://0.1.0".to_owned(),
            runtime_ready: Ok(()),
            boot_id: "boot",
        };
        let status = status(&report, &[], Timestamp::UNIX_EPOCH);
        let mut json = serde_json::to_value(&status).unwrap();
        json["nodeInfo"]["kernelVersion"] = "<kernel>".into();
        json["nodeInfo"]["architecture"] = "<arch>".into();
        insta::assert_json_snapshot!(json, {
            ".nodeInfo.bootID" => "<boot>",
            ".nodeInfo.machineID" => "<machine>",
            ".nodeInfo.systemUUID" => "<uuid>",
        });
        let down = Report {
            runtime_ready: Err("Kubarium's Docker runtime is not available".to_owned()),
            ..report
        };
        let docker = Report {
            runtime_version: "docker://20.10.24".to_owned(),
            allocatable: &NodeCapacity {
                cpu: "666m".to_owned(),
                ..NodeCapacity::default()
            },
            os_image: Some("Debian GNU/Linux 12 (bookworm)"),
            images: vec![
                crate::runtime::Image {
                    names: vec!["kubarium.dev/busybox:test".to_owned()],
                    size_bytes: 2_000_000,
                },
                crate::runtime::Image {
                    names: vec!["kubarium.dev/infra:0.1.0".to_owned()],
                    size_bytes: 5_000_000,
                },
            ],
            ..Report {
                runtime_ready: Ok(()),
                ..down
            }
        };
        let shown = super::status(&docker, &[], Timestamp::UNIX_EPOCH);
        assert_eq!(shown.allocatable.unwrap()["cpu"].0, "666m");
        assert_eq!(shown.capacity.unwrap()["cpu"].0, "4");
        let info = shown.node_info.unwrap();
        assert_eq!(info.os_image, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(info.container_runtime_version, "docker://20.10.24");
        let images = shown.images.unwrap();
        assert_eq!(
            images[0].names.as_deref(),
            Some(&["kubarium.dev/infra:0.1.0".to_owned()][..]),
            "largest first"
        );
        let down = Report {
            runtime_ready: Err("Kubarium's Docker runtime is not available".to_owned()),
            images: Vec::new(),
            allocatable: &NodeCapacity::default(),
            os_image: None,
            ..docker
        };
        let previous = status.conditions.unwrap();
        let later = super::status(&down, &previous, Timestamp::from_second(60).unwrap());
        let conditions = later.conditions.unwrap();
        assert_eq!(conditions[3].status, "False");
        assert_eq!(conditions[3].reason.as_deref(), Some("KubeletNotReady"));
        assert_eq!(
            conditions[3].last_transition_time,
            Some(Time(Timestamp::from_second(60).unwrap()))
        );
        assert_eq!(
            conditions[0].last_transition_time,
            previous[0].last_transition_time
        );
    }
}
