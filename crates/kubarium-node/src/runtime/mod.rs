//! What a node agent asks of a container runtime, as a narrow, object-safe trait.
//!
//! The kubelet speaks CRI to containerd; our agents speak [`ContainerRuntime`]: run a pod
//! sandbox, start, stop and remove containers, and say what state each container is in. It
//! has no associated types (krustlet's provider trait taught that lesson), so runtimes are
//! chosen at run time behind an `Arc<dyn ContainerRuntime>`. Containers are named by opaque
//! ids the runtime hands out; `ContainerId::uri` is what `containerID` in a pod's status
//! shows (`hollow://…`, as `containerd://…` upstream).

mod docker;
mod hollow;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jiff::Timestamp;

pub(crate) use docker::network as docker_network;
pub use docker::{DOCKER, DockerPlane, DockerRuntime, INFRA_BINARY_ENV};
pub(crate) use hollow::HOLLOW_EXEC;
pub use hollow::{EXIT_CODE_ANNOTATION, HOLLOW_VERSION, HollowRuntime, RUN_FOR_ANNOTATION};

use crate::Result;

/// A boxed future, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A pod sandbox: what holds a pod's network (and, on Docker, its pause container).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxId(pub String);

/// A container, as its runtime names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerId {
    /// The runtime's name, e.g. `hollow`.
    pub runtime: &'static str,
    /// The runtime's id for the container.
    pub id: String,
}

impl ContainerId {
    /// `<runtime>://<id>`, as pod statuses show it.
    pub fn uri(&self) -> String {
        format!("{}://{}", self.runtime, self.id)
    }
}

/// A running sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// Its id.
    pub id: SandboxId,
    /// The pod's address, when the runtime gives pods addresses (Docker does; for hollow
    /// pods the agent hands one out of the node's pod CIDR).
    pub ip: Option<std::net::Ipv4Addr>,
}

/// What a sandbox is made for: the pod it belongs to.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's uid.
    pub uid: String,
    /// The pod's `restartPolicy` (`Always`, `OnFailure`, `Never`).
    pub restart_policy: String,
    /// The pod's annotations (the hollow runtime reads its `hollow.kubarium.dev/*` ones).
    pub annotations: BTreeMap<String, String>,
    /// The node the pod runs on (every container is labelled with it).
    pub node: String,
    /// The pod's hostname (`spec.hostname`, else its name).
    pub hostname: String,
    /// The pod's domain name: `<subdomain>.<namespace>.svc.<cluster domain>` when it has a
    /// `spec.subdomain`, else empty.
    pub domainname: String,
    /// The pod's resolver settings (its `dnsPolicy` and `dnsConfig`, as the kubelet forms
    /// them); `None`: the runtime's default (the host's resolvers).
    pub dns: Option<DnsConfig>,
    /// `spec.hostNetwork`: the pod shares the host's network instead of getting its own.
    pub host_network: bool,
    /// The ports with a `hostPort`, published on the host.
    pub host_ports: Vec<HostPort>,
    /// The pod's emptyDirs with `medium: Memory`, made (and kept mounted) with the sandbox;
    /// the hollow runtime ignores them.
    pub memory_volumes: Vec<MemoryVolume>,
}

/// A sandbox's resolver settings, as the kubelet hands them to the CRI: the lines of the
/// pod's `/etc/resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    /// `nameserver` addresses.
    pub servers: Vec<String>,
    /// The `search` list.
    pub searches: Vec<String>,
    /// `options`, e.g. `ndots:5`.
    pub options: Vec<String>,
}

/// A container port published on the host (`hostPort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// `containerPort`.
    pub container_port: u16,
    /// `hostPort`.
    pub host_port: u16,
    /// `hostIP`, default `127.0.0.1` here (loopback only).
    pub host_ip: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

/// When an image is pulled (`imagePullPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull every time a container starts.
    Always,
    /// Pull only when the image is not on the machine.
    #[default]
    IfNotPresent,
    /// Never pull: the image must be on the machine.
    Never,
}

/// A volume mounted into a container. The agent prepares volumes on the host (emptyDir,
/// configMap, secret, downwardAPI and projected ones under the pod's directory in the data
/// dir; hostPath and local PVs where they are) and hands the runtime bind mounts; an emptyDir
/// with `medium: Memory` is a [`MemoryVolume`] the runtime keeps for the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What is mounted.
    pub source: MountSource,
    /// `mountPath` in the container.
    pub container_path: String,
    /// `readOnly`.
    pub read_only: bool,
}

/// What a [`Mount`] mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A path on the host (a bind mount).
    Host(std::path::PathBuf),
    /// A tmpfs of the pod's, one of its sandbox's [`SandboxConfig::memory_volumes`].
    Memory(MemoryVolume),
}

/// An emptyDir with `medium: Memory`: a tmpfs made with the pod's sandbox, shared by all
/// of the pod's containers and removed with the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryVolume {
    /// The volume's name in the pod spec.
    pub name: String,
    /// Its size in bytes (`sizeLimit`, the pod's memory limit or the node's allocatable,
    /// the least, as the kubelet sizes it); `None`: the runtime's default.
    pub size_bytes: Option<i64>,
    /// The pod's `fsGroup`: the volume's root is then of that group, group-writable and
    /// setgid (mode 3777), so what the pod's containers write in it is of that group.
    pub group: Option<i64>,
}

/// The resource limits a runtime enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// `limits.cpu` in millicores.
    pub cpu_millis: Option<i64>,
    /// `limits.memory` in bytes.
    pub memory_bytes: Option<i64>,
}

/// The parts of a `securityContext` a runtime applies (pod and container level merged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Security {
    /// `runAsUser`.
    pub run_as_user: Option<i64>,
    /// `runAsGroup`.
    pub run_as_group: Option<i64>,
    /// `readOnlyRootFilesystem`.
    pub read_only_root_filesystem: bool,
    /// `privileged` (the agent refuses it unless the node allows it).
    pub privileged: bool,
    /// The groups the process gets besides its primary one: the pod's
    /// `supplementalGroups`, then its `fsGroup`, as the kubelet hands them to the runtime.
    pub supplemental_groups: Vec<i64>,
}

/// A container to start in a sandbox.
#[derive(Debug, Clone, Default)]
pub struct ContainerConfig {
    /// The container's name in the pod spec.
    pub name: String,
    /// The image as the pod spec names it.
    pub image: String,
    /// Whether it is an init container (which runs to completion).
    pub init: bool,
    /// How many times it has been started before (the kubelet's `attempt`).
    pub attempt: i32,
    /// `command` (the image's entrypoint when empty).
    pub command: Vec<String>,
    /// `args` (the image's cmd when empty).
    pub args: Vec<String>,
    /// The environment, resolved (`env` and `envFrom` with their references), in order.
    pub env: Vec<(String, String)>,
    /// `workingDir`.
    pub working_dir: Option<String>,
    /// Volume mounts, prepared on the host.
    pub mounts: Vec<Mount>,
    /// `imagePullPolicy`.
    pub pull_policy: PullPolicy,
    /// Resource limits.
    pub limits: Limits,
    /// The security context.
    pub security: Security,
    /// `tty`.
    pub tty: bool,
    /// `stdin`.
    pub stdin: bool,
    /// `stdinOnce`.
    pub stdin_once: bool,
}

/// Where a container is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, not started.
    Created,
    /// Running since `started_at`.
    Running {
        /// When it started.
        started_at: Timestamp,
    },
    /// Ended.
    Exited {
        /// When it started.
        started_at: Timestamp,
        /// When it ended.
        finished_at: Timestamp,
        /// Its exit code.
        exit_code: i32,
        /// Whether the kernel's OOM killer ended it (reason `OOMKilled`).
        oom_killed: bool,
    },
}

impl ContainerState {
    /// Whether the container has ended.
    pub fn is_exited(&self) -> bool {
        matches!(self, ContainerState::Exited { .. })
    }
}

/// What the runtime knows of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    /// Its id.
    pub id: ContainerId,
    /// Its state.
    pub state: ContainerState,
    /// The image it runs, as the pod spec named it.
    pub image: String,
    /// The image's content id (`imageID` in the pod's status).
    pub image_id: String,
}

/// A container runtime, as a node agent uses it. Every method is cheap to call again: the
/// agent re-reads states rather than trusting what it saw last.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// The runtime's name: `hollow`, `docker`.
    fn name(&self) -> &'static str;

    /// `containerRuntimeVersion` in the node's status, e.g. `hollow://0.1.0`.
    fn version(&self) -> String;

    /// `Ok` when the runtime can run pods, else why not (the node's `Ready` message).
    fn ready(&self) -> std::result::Result<(), String>;

    /// Makes `image` available as `policy` says, pulling it if need be (nothing can be pulled
    /// offline: a missing image is an [`crate::Error::Image`] that says what to do).
    fn ensure_image(&self, image: &str, policy: PullPolicy) -> BoxFuture<'_, Result<ImageReady>> {
        let _ = policy;
        let image = image.to_owned();
        Box::pin(async move {
            Ok(ImageReady {
                image_id: image,
                pulled: None,
            })
        })
    }

    /// Creates the sandbox of a pod without starting it, or finds the one the runtime runs
    /// for the pod already (an agent that restarted); [`ContainerRuntime::start_pod_sandbox`]
    /// starts it. Apart from the start so that the pod's first containers can be created
    /// while its sandbox starts.
    fn create_pod_sandbox(&self, config: SandboxConfig) -> BoxFuture<'_, Result<SandboxId>>;

    /// Starts a sandbox made by [`ContainerRuntime::create_pod_sandbox`] (one that runs is
    /// left running) and gives its address.
    fn start_pod_sandbox(&self, sandbox: &SandboxId) -> BoxFuture<'_, Result<Sandbox>>;

    /// Creates and starts the sandbox of a pod.
    fn run_pod_sandbox(&self, config: SandboxConfig) -> BoxFuture<'_, Result<Sandbox>> {
        Box::pin(async move {
            let sandbox = self.create_pod_sandbox(config).await?;
            self.start_pod_sandbox(&sandbox).await
        })
    }

    /// Creates a container in `sandbox` without starting it. The sandbox need not have
    /// started yet; it must have before [`ContainerRuntime::start_created_container`].
    fn create_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> BoxFuture<'_, Result<ContainerId>>;

    /// Starts a container made by [`ContainerRuntime::create_container`]. One that cannot be
    /// started is removed: the next attempt creates it again.
    fn start_created_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<()>>;

    /// Creates and starts a container in `sandbox`.
    fn start_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> BoxFuture<'_, Result<ContainerId>> {
        let sandbox = sandbox.clone();
        Box::pin(async move {
            let id = self.create_container(&sandbox, config).await?;
            self.start_created_container(&id).await?;
            Ok(id)
        })
    }

    /// Stops a container, giving it `grace` to end before it is killed.
    fn stop_container(&self, id: &ContainerId, grace: Duration) -> BoxFuture<'_, Result<()>>;

    /// Removes a stopped container.
    fn remove_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<()>>;

    /// The container's current status.
    fn container_status(&self, id: &ContainerId) -> BoxFuture<'_, Result<ContainerStatus>>;

    /// Resolves when the container has exited (at once if it has).
    fn wait_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<ContainerStatus>>;

    /// Stops a sandbox and every container left in it, and removes them.
    fn remove_pod_sandbox(&self, sandbox: &SandboxId) -> BoxFuture<'_, Result<()>>;

    /// Resolves when `sandbox` no longer runs (at once if it does not): its pause process
    /// died or it was removed behind the agent's back. Never, by default: a runtime whose
    /// sandboxes are records (hollow) cannot lose one.
    fn wait_pod_sandbox(&self, sandbox: &SandboxId) -> BoxFuture<'_, ()> {
        let _ = sandbox;
        Box::pin(std::future::pending())
    }

    /// Runs `command` in a running container and waits for it, at most `timeout` (exec
    /// probes).
    fn exec_sync(
        &self,
        id: &ContainerId,
        command: Vec<String>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<ExecOutput>> {
        let _ = (id, command, timeout);
        unsupported(self.name(), "exec")
    }

    /// A container's log.
    fn logs(&self, id: &ContainerId, options: LogOptions) -> BoxFuture<'_, Result<ByteStream>> {
        let _ = (id, options);
        unsupported(self.name(), "logs")
    }

    /// Runs a command in a running container with streams (`kubectl exec`), or attaches to
    /// its process when `config.command` is empty (`kubectl attach`).
    fn exec(&self, id: &ContainerId, config: ExecConfig) -> BoxFuture<'_, Result<ExecSession>> {
        let _ = (id, config);
        unsupported(self.name(), "exec")
    }

    /// A connection to `port` in the sandbox's network namespace (`kubectl port-forward`).
    fn port_forward(
        &self,
        sandbox: &SandboxId,
        port: u16,
    ) -> BoxFuture<'_, Result<Box<dyn Duplex>>> {
        let _ = (sandbox, port);
        unsupported(self.name(), "port-forward")
    }

    /// The images on the machine, for the node's `status.images`; none by default.
    fn list_images(&self) -> BoxFuture<'_, Result<Vec<Image>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// What the runtime already runs for pod `uid` (found by its labels), so an agent that
    /// restarted adopts it instead of starting the pod again; `None` when nothing, or when
    /// the runtime keeps nothing across restarts (the default).
    fn pod_containers(&self, uid: &str) -> BoxFuture<'_, Result<Option<PodContainers>>> {
        let _ = uid;
        Box::pin(async { Ok(None) })
    }

    /// The uids of every pod this cluster has containers for in the runtime (running or
    /// not), so containers whose pod is gone can be found and removed; none by default.
    fn pod_uids(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

fn unsupported<T: Send + 'static>(runtime: &str, what: &str) -> BoxFuture<'static, Result<T>> {
    let reason = format!("the {runtime} runtime does not support {what}");
    Box::pin(async move { Err(crate::Error::Runtime { reason }) })
}

/// An image on the machine, as the node's `status.images` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its names: repository digests, then tags.
    pub names: Vec<String>,
    /// Its size in bytes.
    pub size_bytes: i64,
}

/// What a runtime holds for one pod, from its containers' labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodContainers {
    /// Its sandbox, if it has one, and whether that runs.
    pub sandbox: Option<(Sandbox, bool)>,
    /// Its containers (init and app ones), every attempt still kept.
    pub containers: Vec<PodContainer>,
}

/// One container of a [`PodContainers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodContainer {
    /// Its name in the pod spec.
    pub name: String,
    /// How many times it had been started before this one (its `attempt` label).
    pub attempt: i32,
    /// What the runtime says of it.
    pub status: ContainerStatus,
}

/// An image ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReady {
    /// Its content id.
    pub image_id: String,
    /// `Some(size in bytes, time taken)` when it was pulled now (the kubelet's `Pulled`
    /// event says so), `None` when it was present already.
    pub pulled: Option<(u64, Duration)>,
}

/// What an [`ContainerRuntime::exec_sync`] command did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Its exit code.
    pub exit_code: i32,
    /// What it wrote to stdout and stderr, interleaved, capped by the runtime.
    pub output: Vec<u8>,
}

/// A stream of bytes, ending when its source does.
pub type ByteStream =
    Pin<Box<dyn futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

/// Both directions of a connection.
pub trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Duplex for T {}

/// Which part of a container's log [`ContainerRuntime::logs`] streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming as the container writes.
    pub follow: bool,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only the last lines.
    pub tail_lines: Option<i64>,
    /// Only what was written since then.
    pub since: Option<Timestamp>,
}

/// What [`ContainerRuntime::exec`] runs, and which streams it connects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    /// The command; empty to attach to the container's own process.
    pub command: Vec<String>,
    /// Connect stdin.
    pub stdin: bool,
    /// Connect stdout.
    pub stdout: bool,
    /// Connect stderr (not with a TTY).
    pub stderr: bool,
    /// Allocate a terminal.
    pub tty: bool,
}

/// Resizes an exec session's terminal to (columns, rows).
pub type Resize = Box<dyn Fn(u16, u16) -> BoxFuture<'static, Result<()>> + Send + Sync>;

/// A running [`ContainerRuntime::exec`].
pub struct ExecSession {
    /// Where stdin goes, when connected.
    pub stdin: Option<Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    /// stdout (with a TTY: everything the process writes), when connected.
    pub stdout: Option<ByteStream>,
    /// stderr, when connected.
    pub stderr: Option<ByteStream>,
    /// Resizes the terminal (columns, rows), when there is one.
    pub resize: Option<Resize>,
    /// Resolves when the process has ended, with its exit code when known.
    pub exit: BoxFuture<'static, Result<Option<i32>>>,
}

/// A runtime that is not available in this build or on this machine: nodes register but
/// report `Ready=False` with its reason, and run no pods.
#[derive(Debug, Clone)]
pub struct UnavailableRuntime {
    name: &'static str,
    reason: String,
}

impl UnavailableRuntime {
    /// A runtime called `name` that cannot run pods because of `reason`.
    pub fn new(name: &'static str, reason: impl Into<String>) -> Self {
        Self {
            name,
            reason: reason.into(),
        }
    }

    fn refuse<T: Send + 'static>(&self) -> BoxFuture<'_, Result<T>> {
        let reason = self.reason.clone();
        Box::pin(async move { Err(crate::Error::Runtime { reason }) })
    }
}

impl ContainerRuntime for UnavailableRuntime {
    fn name(&self) -> &'static str {
        self.name
    }

    fn version(&self) -> String {
        format!("{}://unavailable", self.name)
    }

    fn ready(&self) -> std::result::Result<(), String> {
        Err(self.reason.clone())
    }

    fn create_pod_sandbox(&self, _: SandboxConfig) -> BoxFuture<'_, Result<SandboxId>> {
        self.refuse()
    }

    fn start_pod_sandbox(&self, _: &SandboxId) -> BoxFuture<'_, Result<Sandbox>> {
        self.refuse()
    }

    fn create_container(
        &self,
        _: &SandboxId,
        _: ContainerConfig,
    ) -> BoxFuture<'_, Result<ContainerId>> {
        self.refuse()
    }

    fn start_created_container(&self, _: &ContainerId) -> BoxFuture<'_, Result<()>> {
        self.refuse()
    }

    fn stop_container(&self, _: &ContainerId, _: Duration) -> BoxFuture<'_, Result<()>> {
        self.refuse()
    }

    fn remove_container(&self, _: &ContainerId) -> BoxFuture<'_, Result<()>> {
        self.refuse()
    }

    fn container_status(&self, _: &ContainerId) -> BoxFuture<'_, Result<ContainerStatus>> {
        self.refuse()
    }

    fn wait_container(&self, _: &ContainerId) -> BoxFuture<'_, Result<ContainerStatus>> {
        self.refuse()
    }

    fn remove_pod_sandbox(&self, _: &SandboxId) -> BoxFuture<'_, Result<()>> {
        self.refuse()
    }
}
