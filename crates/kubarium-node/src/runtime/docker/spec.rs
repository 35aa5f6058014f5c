//! Pure mapping between the runtime contract and Docker's API: container names and labels as
//! the kubelet's dockershim wrote them, the create bodies of sandboxes and containers, and a
//! container's state from `docker inspect`. No I/O here, so all of it is unit-tested.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, HostConfig,
    Mount as DockerMount, MountType, MountVolumeOptions, PortBinding, VolumeCreateRequest,
};
use jiff::Timestamp;

use crate::runtime::{ContainerConfig, ContainerState, MemoryVolume, MountSource, SandboxConfig};

/// Label: the cluster a container belongs to (the uid of its `kube-system` namespace).
pub(crate) const CLUSTER_LABEL: &str = "kubarium.dev/cluster";
/// Label: the node whose agent runs the container.
pub(crate) const NODE_LABEL: &str = "kubarium.dev/node";
/// Label: how many times the container was started before (the kubelet's attempt).
pub(crate) const ATTEMPT_LABEL: &str = "kubarium.dev/attempt";
/// Label: the pod's namespace.
pub(crate) const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// Label: the pod's name.
pub(crate) const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
/// Label: the pod's uid.
pub(crate) const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// Label: the container's name in the pod spec, `POD` for the sandbox.
pub(crate) const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
/// Label: `podsandbox` or `container`, as dockershim had it.
pub(crate) const TYPE_LABEL: &str = "io.kubernetes.docker.type";
/// Label: the Docker id of a container's sandbox, as dockershim had it.
pub(crate) const SANDBOX_ID_LABEL: &str = "io.kubernetes.sandbox.id";

/// Label: the name in the pod spec of the volume a Docker volume is.
pub(crate) const VOLUME_LABEL: &str = "kubarium.dev/volume";

/// Where a pod's sandbox and its volume keeper mount its memory volumes, to keep each tmpfs
/// mounted as long as the pod (Docker unmounts a volume when no running container uses it).
const SANDBOX_VOLUMES: &str = "/kubarium/volumes";

/// The container name of a pod's sandbox.
pub(crate) const SANDBOX_CONTAINER: &str = "POD";
/// [`TYPE_LABEL`] of a sandbox.
pub(crate) const TYPE_SANDBOX: &str = "podsandbox";
/// [`TYPE_LABEL`] of an app or init container.
pub(crate) const TYPE_CONTAINER: &str = "container";
/// [`TYPE_LABEL`] of a pod's volume keeper ([`keeper_body`]).
pub(crate) const TYPE_KEEPER: &str = "podvolumes";
/// The container name of a pod's volume keeper (upper case: no pod's container can have it).
pub(crate) const KEEPER_CONTAINER: &str = "VOLUMES";

/// The CFS period the kubelet uses when it turns a CPU limit into a quota (100 ms).
const CPU_PERIOD: i64 = 100_000;
/// The smallest CFS quota the kernel accepts (1 ms), as the kubelet's `MinQuotaPeriod`.
const MIN_CPU_QUOTA: i64 = 1_000;

/// Who a container belongs to: what every label and name is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) cluster: String,
    pub(crate) node: String,
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) uid: String,
}

impl Owner {
    /// The owner of a new sandbox.
    pub(crate) fn of_sandbox(cluster: &str, config: &SandboxConfig) -> Self {
        Self {
            cluster: cluster.to_owned(),
            node: config.node.clone(),
            namespace: config.namespace.clone(),
            pod: config.name.clone(),
            uid: config.uid.clone(),
        }
    }

    /// The owner recorded in a container's labels, if they are this cluster's.
    pub(crate) fn from_labels(cluster: &str, labels: &HashMap<String, String>) -> Option<Self> {
        if labels.get(CLUSTER_LABEL).map(String::as_str) != Some(cluster) {
            return None;
        }
        let get = |key: &str| labels.get(key).cloned().unwrap_or_default();
        Some(Self {
            cluster: cluster.to_owned(),
            node: get(NODE_LABEL),
            namespace: get(POD_NAMESPACE_LABEL),
            pod: get(POD_NAME_LABEL),
            uid: get(POD_UID_LABEL),
        })
    }

    /// dockershim's name: `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`.
    pub(crate) fn container_name(&self, container: &str, attempt: i32) -> String {
        format!(
            "k8s_{container}_{}_{}_{}_{attempt}",
            self.pod, self.namespace, self.uid
        )
    }

    /// The labels of `container` (`POD` for the sandbox) at `attempt`.
    pub(crate) fn labels(&self, container: &str, attempt: i32) -> HashMap<String, String> {
        let kind = if container == SANDBOX_CONTAINER {
            TYPE_SANDBOX
        } else {
            TYPE_CONTAINER
        };
        [
            (CLUSTER_LABEL, self.cluster.as_str()),
            (NODE_LABEL, self.node.as_str()),
            (POD_NAMESPACE_LABEL, self.namespace.as_str()),
            (POD_NAME_LABEL, self.pod.as_str()),
            (POD_UID_LABEL, self.uid.as_str()),
            (CONTAINER_NAME_LABEL, container),
            (TYPE_LABEL, kind),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain([(ATTEMPT_LABEL.to_owned(), attempt.to_string())])
        .collect()
    }
}

/// The Docker volume of memory volume `volume` of pod `uid`: `kubarium_<uid>_<volume>`
/// (names are global in Docker; a pod uid is unique).
pub(crate) fn volume_name(uid: &str, volume: &str) -> String {
    format!("kubarium_{uid}_{volume}")
}

/// The create request of a pod's memory volume: a tmpfs of the local driver (mounted by
/// Docker, in its VM on Docker Desktop: no root on the host), mode 1777 as an emptyDir,
/// sized when a size is known, labelled with the cluster and the pod. With an `fsGroup`,
/// its root is of that group with setgid added (3777), as the kubelet's
/// `SetVolumeOwnership` leaves an emptyDir; tmpfs's own `gid=` and `mode=` options do it,
/// since nothing but Docker can chown inside its VM.
pub(crate) fn volume_body(owner: &Owner, volume: &MemoryVolume) -> VolumeCreateRequest {
    let mut options = match volume.group {
        Some(gid) => format!("mode=3777,gid={gid}"),
        None => String::from("mode=1777"),
    };
    if let Some(size) = volume.size_bytes.filter(|size| *size > 0) {
        options = format!("size={size},{options}");
    }
    let labels = [
        (CLUSTER_LABEL, owner.cluster.as_str()),
        (POD_NAMESPACE_LABEL, owner.namespace.as_str()),
        (POD_NAME_LABEL, owner.pod.as_str()),
        (POD_UID_LABEL, owner.uid.as_str()),
        (VOLUME_LABEL, volume.name.as_str()),
    ];
    VolumeCreateRequest {
        name: Some(volume_name(&owner.uid, &volume.name)),
        driver: Some("local".to_owned()),
        driver_opts: Some(HashMap::from([
            ("type".to_owned(), "tmpfs".to_owned()),
            ("device".to_owned(), "tmpfs".to_owned()),
            ("o".to_owned(), options),
        ])),
        labels: Some(
            labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ),
        ..VolumeCreateRequest::default()
    }
}

/// A named-volume mount of the pod's memory volume `volume` at `target` (nothing of the
/// image copied in: an emptyDir starts empty).
fn volume_mount(owner: &Owner, volume: &str, target: &str, read_only: bool) -> DockerMount {
    DockerMount {
        target: Some(target.to_owned()),
        source: Some(volume_name(&owner.uid, volume)),
        typ: Some(MountType::VOLUME),
        read_only: Some(read_only),
        volume_options: Some(MountVolumeOptions {
            no_copy: Some(true),
            ..MountVolumeOptions::default()
        }),
        ..DockerMount::default()
    }
}

/// The create body of a pod's sandbox: the infra image's `pause`, on the cluster's network
/// (or the host's), with the pod's hostname and host ports, its IPC namespace shareable so
/// the pod's containers can join it.
pub(crate) fn sandbox_body(
    owner: &Owner,
    config: &SandboxConfig,
    image: &str,
    network: &str,
    attempt: i32,
) -> ContainerCreateBody {
    let hostname = if config.hostname.is_empty() {
        config.name.clone()
    } else {
        config.hostname.clone()
    };
    let (exposed, bindings) = if config.host_network {
        (None, None)
    } else {
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for port in &config.host_ports {
            let key = format!(
                "{}/{}",
                port.container_port,
                port.protocol.to_ascii_lowercase()
            );
            let host_ip = if port.host_ip.is_empty() {
                "127.0.0.1".to_owned()
            } else {
                port.host_ip.clone()
            };
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(host_ip),
                    host_port: Some(port.host_port.to_string()),
                });
        }
        if bindings.is_empty() {
            (None, None)
        } else {
            let mut exposed: Vec<String> = bindings.keys().cloned().collect();
            exposed.sort();
            (Some(exposed), Some(bindings))
        }
    };
    // Docker's embedded DNS (127.0.0.11 on a user network) forwards what it does not know
    // to these servers, and writes the search list and options as given.
    let dns = config.dns.as_ref().filter(|_| !config.host_network);
    let list = |items: Option<&Vec<String>>| items.filter(|items| !items.is_empty()).cloned();
    let mounts = held(owner, &config.memory_volumes);
    ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: Some(vec!["/kubarium-infra".to_owned(), "pause".to_owned()]),
        hostname: (!config.host_network).then_some(hostname),
        domainname: (!config.host_network && !config.domainname.is_empty())
            .then(|| config.domainname.clone()),
        labels: Some(owner.labels(SANDBOX_CONTAINER, attempt)),
        exposed_ports: exposed,
        host_config: Some(HostConfig {
            network_mode: Some(if config.host_network {
                "host".to_owned()
            } else {
                network.to_owned()
            }),
            ipc_mode: Some("shareable".to_owned()),
            port_bindings: bindings,
            dns: list(dns.map(|d| &d.servers)),
            dns_search: list(dns.map(|d| &d.searches)),
            dns_options: list(dns.map(|d| &d.options)),
            mounts: (!mounts.is_empty()).then_some(mounts),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

/// Mounts of every memory volume of the pod under [`SANDBOX_VOLUMES`], to hold them.
fn held(owner: &Owner, volumes: &[MemoryVolume]) -> Vec<DockerMount> {
    volumes
        .iter()
        .map(|volume| {
            let target = format!("{SANDBOX_VOLUMES}/{}", volume.name);
            volume_mount(owner, &volume.name, &target, false)
        })
        .collect()
}

/// The create body of a pod's volume keeper: the infra image's `pause` with no network,
/// mounting the pod's memory volumes. A tmpfs lives only while a running container mounts
/// it; the sandbox does, but a sandbox can die (`docker kill`) and be replaced, and the
/// containers that mount the volume may be down at that moment (crashed, in back-off,
/// stopped for the replacement), so the content would go. The keeper does nothing else, so
/// nothing but Docker's own restart (or a user's hand) stops it, and an emptyDir lives as
/// long as the pod does, as upstream's, whatever happens to the sandbox.
pub(crate) fn keeper_body(
    owner: &Owner,
    volumes: &[MemoryVolume],
    image: &str,
) -> ContainerCreateBody {
    let mut labels = owner.labels(KEEPER_CONTAINER, 0);
    labels.insert(TYPE_LABEL.to_owned(), TYPE_KEEPER.to_owned());
    ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: Some(vec!["/kubarium-infra".to_owned(), "pause".to_owned()]),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some("none".to_owned()),
            mounts: Some(held(owner, volumes)),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

/// The create body of a container joining `sandbox_id`'s network and IPC namespaces.
///
/// `command` replaces the image's ENTRYPOINT and drops its CMD; `args` alone keep the
/// ENTRYPOINT and replace the CMD (Docker merges an empty entrypoint with the image's exactly
/// so). A CPU limit becomes a CFS quota over a 100 ms period and a memory limit a cgroup limit
/// without swap, as the kubelet sets them.
pub(crate) fn container_body(
    owner: &Owner,
    sandbox_id: &str,
    config: &ContainerConfig,
    image: &str,
) -> ContainerCreateBody {
    let mut labels = owner.labels(&config.name, config.attempt);
    labels.insert(SANDBOX_ID_LABEL.to_owned(), sandbox_id.to_owned());
    let (entrypoint, cmd) = match (config.command.is_empty(), config.args.is_empty()) {
        (false, true) => (Some(config.command.clone()), None),
        (false, false) => (Some(config.command.clone()), Some(config.args.clone())),
        (true, false) => (None, Some(config.args.clone())),
        (true, true) => (None, None),
    };
    let mut binds = Vec::new();
    let mut volumes = Vec::new();
    for mount in &config.mounts {
        match &mount.source {
            MountSource::Host(path) => {
                let mut bind = format!("{}:{}", path.display(), mount.container_path);
                if mount.read_only {
                    bind.push_str(":ro");
                }
                binds.push(bind);
            }
            MountSource::Memory(volume) => volumes.push(volume_mount(
                owner,
                &volume.name,
                &mount.container_path,
                mount.read_only,
            )),
        }
    }
    let cpu_quota = config
        .limits
        .cpu_millis
        .filter(|millis| *millis > 0)
        .map(|millis| (millis * CPU_PERIOD / 1000).max(MIN_CPU_QUOTA));
    let memory = config.limits.memory_bytes.filter(|bytes| *bytes > 0);
    let user = match (config.security.run_as_user, config.security.run_as_group) {
        (Some(uid), Some(gid)) => Some(format!("{uid}:{gid}")),
        (Some(uid), None) => Some(uid.to_string()),
        (None, _) => None,
    };
    let joined = format!("container:{sandbox_id}");
    ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint,
        cmd,
        env: (!config.env.is_empty()).then(|| {
            config
                .env
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect()
        }),
        working_dir: config.working_dir.clone().filter(|dir| !dir.is_empty()),
        user,
        tty: Some(config.tty),
        open_stdin: Some(config.stdin),
        attach_stdin: Some(config.stdin),
        stdin_once: Some(config.stdin_once),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(joined.clone()),
            ipc_mode: Some(joined),
            binds: (!binds.is_empty()).then_some(binds),
            mounts: (!volumes.is_empty()).then_some(volumes),
            memory,
            memory_swap: memory,
            cpu_quota,
            cpu_period: cpu_quota.map(|_| CPU_PERIOD),
            privileged: Some(config.security.privileged),
            group_add: (!config.security.supplemental_groups.is_empty()).then(|| {
                config
                    .security
                    .supplemental_groups
                    .iter()
                    .map(i64::to_string)
                    .collect()
            }),
            readonly_rootfs: Some(config.security.read_only_root_filesystem),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

/// A Docker timestamp; Docker's zero time (`0001-01-01T00:00:00Z`) is "never".
fn timestamp(value: Option<&str>) -> Option<Timestamp> {
    let parsed: Timestamp = value?.parse().ok()?;
    (parsed.as_second() > 0).then_some(parsed)
}

/// A container's state from `docker inspect`.
pub(crate) fn state(inspect: &ContainerInspectResponse) -> ContainerState {
    let Some(state) = inspect.state.as_ref() else {
        return ContainerState::Created;
    };
    let started_at = timestamp(state.started_at.as_deref());
    let finished_at = timestamp(state.finished_at.as_deref());
    let exited = || ContainerState::Exited {
        started_at: started_at.or(finished_at).unwrap_or(Timestamp::UNIX_EPOCH),
        finished_at: finished_at.or(started_at).unwrap_or(Timestamp::UNIX_EPOCH),
        exit_code: state
            .exit_code
            .and_then(|code| i32::try_from(code).ok())
            .unwrap_or(0),
        oom_killed: state.oom_killed.unwrap_or(false),
    };
    match state.status {
        Some(
            ContainerStateStatusEnum::RUNNING
            | ContainerStateStatusEnum::PAUSED
            | ContainerStateStatusEnum::RESTARTING
            | ContainerStateStatusEnum::STOPPING,
        ) => ContainerState::Running {
            started_at: started_at.unwrap_or(Timestamp::UNIX_EPOCH),
        },
        Some(
            ContainerStateStatusEnum::EXITED
            | ContainerStateStatusEnum::DEAD
            | ContainerStateStatusEnum::REMOVING,
        ) => exited(),
        // Created, or unknown: it ran once only if it has a start time.
        _ if started_at.is_some() => exited(),
        _ => ContainerState::Created,
    }
}

/// `imageID` as the kubelet reported it on Docker: `docker-pullable://<repo digest>` for an
/// image that came from a registry, else `docker://<image id>`.
pub(crate) fn image_id(id: &str, repo_digests: &[String]) -> String {
    match repo_digests.first() {
        Some(digest) => format!("docker-pullable://{digest}"),
        None => format!("docker://{id}"),
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
