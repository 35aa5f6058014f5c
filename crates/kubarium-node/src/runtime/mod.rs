//! What a node agent asks of a container runtime, as a narrow, object-safe trait.
//!
//! The kubelet speaks CRI to containerd; our agents speak [`ContainerRuntime`]: run a pod
//! sandbox, start, stop and remove containers, and say what state each container is in. It
//! has no associated types (krustlet's provider trait taught that lesson), so runtimes are
//! chosen at run time behind an `Arc<dyn ContainerRuntime>`. Containers are named by opaque
//! ids the runtime hands out; `ContainerId::uri` is what `containerID` in a pod's status
//! shows (`hollow://…`, as `containerd://…` upstream).

mod hollow;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jiff::Timestamp;

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

    /// Creates and starts the sandbox of a pod.
    fn run_pod_sandbox(&self, config: SandboxConfig) -> BoxFuture<'_, Result<SandboxId>>;

    /// Creates and starts a container in `sandbox`.
    fn start_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> BoxFuture<'_, Result<ContainerId>>;

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

    fn run_pod_sandbox(&self, _: SandboxConfig) -> BoxFuture<'_, Result<SandboxId>> {
        self.refuse()
    }

    fn start_container(
        &self,
        _: &SandboxId,
        _: ContainerConfig,
    ) -> BoxFuture<'_, Result<ContainerId>> {
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
