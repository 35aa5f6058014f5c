//! The Docker runtime: pods as real containers in the local Docker engine, through bollard.
//!
//! A pod is a sandbox container (the infra image's `pause`, on the cluster's own bridge
//! network, holding the pod's network and IPC namespaces) plus its containers joined to it, so
//! the containers of a pod share `localhost`, as on a kubelet. Every container carries the
//! cluster's labels ([`spec`]); nothing without them is ever touched.
//!
//! The runtime never fails to start: a background task ([`connection`]) connects to Docker,
//! keeps [`ContainerRuntime::ready`] saying why Docker is not reachable while it is not, and
//! reconnects when it comes back. One Docker events stream, filtered by the cluster's label,
//! wakes every [`ContainerRuntime::wait_container`]; nothing polls a container.
//!
//! Sibling files add the streaming methods (`logs`, `exec`, `port_forward`); they reach
//! Docker through [`DockerRuntime::docker`] and [`DockerRuntime::inspect`].

mod adopt;
mod connection;
mod images;
mod images_list;
pub(crate) mod network;
mod plane;
mod pods;
mod portforward;
mod spec;
mod streams;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use tokio::sync::watch;

pub use images::INFRA_BINARY_ENV;
pub use plane::DockerPlane;

use super::{
    BoxFuture, ByteStream, ContainerConfig, ContainerId, ContainerRuntime, ContainerStatus,
    ExecConfig, ExecOutput, ExecSession, ImageReady, LogOptions, PullPolicy, Sandbox,
    SandboxConfig, SandboxId,
};
use crate::{Error, Result};

/// The runtime's name, in container ids (`docker://<id>`) and node labels.
pub const DOCKER: &str = "docker";

/// Pods as Docker containers. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct DockerRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRuntime")
            .field("cluster", &self.inner.cluster)
            .field("network", &self.inner.network)
            .finish_non_exhaustive()
    }
}

/// The connection to Docker, as the background task last saw it.
#[derive(Clone)]
pub(crate) enum Connection {
    /// Connected: the client, and the engine's version.
    Up { docker: Docker, version: String },
    /// Not connected, and why.
    Down { reason: String },
}

/// What a watched container was last seen as.
#[derive(Debug, Clone)]
pub(crate) enum Observed {
    /// Not looked at yet.
    Unknown,
    /// Its status.
    Status(ContainerStatus),
    /// It no longer exists.
    Gone,
}

pub(crate) struct Inner {
    /// The cluster id (recorded in the data dir; see [`crate::network::prepare`]).
    pub(crate) cluster: String,
    /// The cluster's bridge network.
    pub(crate) network: String,
    /// How the network is divided, when known: it is made pinned to it.
    pub(crate) plan: Option<crate::network::NetworkPlan>,
    /// Where Docker is expected, for messages.
    pub(crate) address: String,
    connection: watch::Sender<Connection>,
    ready: watch::Sender<bool>,
    /// The containers someone waits on, fed by the events stream.
    watched: Mutex<HashMap<String, watch::Sender<Observed>>>,
    /// Built-in images are imported one at a time.
    imports: tokio::sync::Mutex<()>,
    /// Each container's status as last read, for one removed behind our back.
    last_seen: Mutex<HashMap<String, ContainerStatus>>,
    /// Each sandbox's address, to keep it when Docker restarts the sandbox.
    sandbox_ips: Mutex<HashMap<String, Ipv4Addr>>,
    /// The pod of each sandbox this runtime made or found, so that a container can be made
    /// in a sandbox while it starts (inspecting it would wait for the start to end).
    sandbox_owners: Mutex<HashMap<String, spec::Owner>>,
    /// Repo digests by image id, for `imageID`.
    digests: Mutex<HashMap<String, Vec<String>>>,
    /// The containers Docker sent an `oom` event for. Docker records `OOMKilled` only when
    /// containerd's OOM event reaches it before the exit, so a late one is kept here.
    oom_events: Mutex<HashSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The network of cluster `cluster`: `kubarium-` and the first 12 hex digits of its id.
pub(crate) fn network_name(cluster: &str) -> String {
    let short: String = cluster
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    format!("kubarium-{short}")
}

impl DockerRuntime {
    /// The runtime of cluster `cluster` (a stable id, recorded in the data dir). Tries Docker
    /// once before it returns, then keeps the connection fresh in the background; never
    /// fails. Must be called inside a Tokio runtime. The network is made pinned to the
    /// subnet Docker chooses; see [`DockerRuntime::start_with_plan`].
    pub async fn start(cluster: &str) -> Self {
        Self::start_with_plan(cluster, None).await
    }

    /// As [`DockerRuntime::start`], with the network made (whenever it is missing) pinned to
    /// `plan`, as [`crate::network::prepare`] settled it.
    pub async fn start_with_plan(cluster: &str, plan: Option<crate::network::NetworkPlan>) -> Self {
        let (connection, _) = watch::channel(Connection::Down {
            reason: "not connected yet".to_owned(),
        });
        let (ready, _) = watch::channel(false);
        let runtime = Self {
            inner: Arc::new(Inner {
                cluster: cluster.to_owned(),
                network: network_name(cluster),
                plan,
                address: connection::address(),
                connection,
                ready,
                watched: Mutex::new(HashMap::new()),
                imports: tokio::sync::Mutex::new(()),
                sandbox_ips: Mutex::new(HashMap::new()),
                sandbox_owners: Mutex::new(HashMap::new()),
                last_seen: Mutex::new(HashMap::new()),
                digests: Mutex::new(HashMap::new()),
                oom_events: Mutex::new(HashSet::new()),
            }),
        };
        connection::spawn(runtime.clone()).await;
        runtime
    }

    /// The cluster id every container is labelled with.
    pub fn cluster(&self) -> &str {
        &self.inner.cluster
    }

    /// The name of the cluster's Docker network.
    pub fn network(&self) -> &str {
        &self.inner.network
    }

    /// How the cluster's network is divided, when the runtime was started with a plan.
    pub fn plan(&self) -> Option<crate::network::NetworkPlan> {
        self.inner.plan
    }

    /// `true` while Docker is reachable; changes when that does.
    pub fn watch_ready(&self) -> watch::Receiver<bool> {
        self.inner.ready.subscribe()
    }

    /// The bollard client, or why Docker cannot be reached now.
    pub(crate) fn docker(&self) -> Result<Docker> {
        match &*self.inner.connection.borrow() {
            Connection::Up { docker, .. } => Ok(docker.clone()),
            Connection::Down { reason } => Err(Error::Runtime {
                reason: self.unreachable(reason),
            }),
        }
    }

    fn unreachable(&self, reason: &str) -> String {
        format!(
            "Docker is not reachable at {}: {reason}; start Docker (or run with --runtime hollow)",
            self.inner.address
        )
    }

    /// `docker inspect` of a container of this cluster (by Docker id or name); a container
    /// without the cluster's label is "not found", so nothing else is ever touched.
    pub(crate) async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse> {
        self.inspect_found(id).await?.ok_or_else(|| not_found(id))
    }

    /// As [`DockerRuntime::inspect`], with `None` for a container that does not exist.
    pub(crate) async fn inspect_found(&self, id: &str) -> Result<Option<ContainerInspectResponse>> {
        let docker = self.docker()?;
        let inspect = match docker.inspect_container(id, None).await {
            Ok(inspect) => inspect,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(error) => {
                return Err(Error::Runtime {
                    reason: format!("inspect container {id}: {error}"),
                });
            }
        };
        let ours = inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|labels| labels.get(spec::CLUSTER_LABEL))
            .is_some_and(|cluster| *cluster == self.inner.cluster);
        Ok(ours.then_some(inspect))
    }

    /// The address of a sandbox on the cluster network (`None` for a host-network pod).
    pub async fn sandbox_ip(&self, sandbox: &SandboxId) -> Result<Option<Ipv4Addr>> {
        let inspect = self.inspect(&sandbox.0).await?;
        Ok(pods::ip_on(&inspect, &self.inner.network))
    }

    fn set_connection(&self, connection: Connection) {
        let up = matches!(connection, Connection::Up { .. });
        self.inner.connection.send_replace(connection);
        self.inner.ready.send_if_modified(|ready| {
            let changed = *ready != up;
            *ready = up;
            changed
        });
    }
}

/// The error for a container that does not exist (or is not this cluster's).
fn not_found(id: &str) -> Error {
    Error::Runtime {
        reason: format!("no such container: {id}"),
    }
}

impl ContainerRuntime for DockerRuntime {
    fn name(&self) -> &'static str {
        DOCKER
    }

    fn version(&self) -> String {
        match &*self.inner.connection.borrow() {
            Connection::Up { version, .. } => format!("docker://{version}"),
            Connection::Down { .. } => "docker://unknown".to_owned(),
        }
    }

    fn ready(&self) -> std::result::Result<(), String> {
        match &*self.inner.connection.borrow() {
            Connection::Up { .. } => Ok(()),
            Connection::Down { reason } => Err(self.unreachable(reason)),
        }
    }

    fn ensure_image(&self, image: &str, policy: PullPolicy) -> BoxFuture<'_, Result<ImageReady>> {
        let image = image.to_owned();
        Box::pin(async move {
            let docker = self.docker()?;
            if images::Builtin::parse(&image).is_some() {
                let _import = self.inner.imports.lock().await;
                return images::ensure(&docker, &image, policy).await;
            }
            images::ensure(&docker, &image, policy).await
        })
    }

    fn create_pod_sandbox(&self, config: SandboxConfig) -> BoxFuture<'_, Result<SandboxId>> {
        Box::pin(self.create_sandbox(config))
    }

    fn start_pod_sandbox(&self, sandbox: &SandboxId) -> BoxFuture<'_, Result<Sandbox>> {
        let sandbox = sandbox.clone();
        Box::pin(async move { self.start_sandbox(&sandbox).await })
    }

    fn create_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> BoxFuture<'_, Result<ContainerId>> {
        let sandbox = sandbox.clone();
        Box::pin(async move { self.create_in(&sandbox, config).await })
    }

    fn start_created_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<()>> {
        let id = id.clone();
        Box::pin(async move {
            let docker = self.docker()?;
            self.start_created(&docker, &id.id, &format!("container {}", id.id))
                .await
        })
    }

    fn stop_container(&self, id: &ContainerId, grace: Duration) -> BoxFuture<'_, Result<()>> {
        let id = id.clone();
        Box::pin(async move { self.stop(&id, grace).await })
    }

    fn remove_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<()>> {
        let id = id.clone();
        Box::pin(async move { self.remove(&id).await })
    }

    fn container_status(&self, id: &ContainerId) -> BoxFuture<'_, Result<ContainerStatus>> {
        let id = id.clone();
        Box::pin(async move { self.status(&id).await })
    }

    fn wait_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<ContainerStatus>> {
        let id = id.clone();
        Box::pin(async move { self.wait(&id).await })
    }

    fn remove_pod_sandbox(&self, sandbox: &SandboxId) -> BoxFuture<'_, Result<()>> {
        let sandbox = sandbox.clone();
        Box::pin(async move { self.remove_sandbox(&sandbox).await })
    }

    fn wait_pod_sandbox(&self, sandbox: &SandboxId) -> BoxFuture<'_, ()> {
        let sandbox = sandbox.clone();
        Box::pin(async move { self.wait_sandbox(&sandbox).await })
    }

    fn exec_sync(
        &self,
        id: &ContainerId,
        command: Vec<String>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<ExecOutput>> {
        let id = id.clone();
        Box::pin(async move { self.exec_probe(&id, command, timeout).await })
    }

    fn list_images(&self) -> BoxFuture<'_, Result<Vec<super::Image>>> {
        Box::pin(self.images())
    }

    fn pod_containers(&self, uid: &str) -> BoxFuture<'_, Result<Option<super::PodContainers>>> {
        let uid = uid.to_owned();
        Box::pin(async move { self.containers_of_pod(&uid).await })
    }

    fn pod_uids(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(self.pods_with_containers())
    }

    fn logs(&self, id: &ContainerId, options: LogOptions) -> BoxFuture<'_, Result<ByteStream>> {
        let id = id.id.clone();
        Box::pin(async move { Ok(streams::logs(&self.docker()?, &id, options)) })
    }

    fn exec(&self, id: &ContainerId, config: ExecConfig) -> BoxFuture<'_, Result<ExecSession>> {
        let id = id.id.clone();
        Box::pin(async move { streams::exec(&self.docker()?, &id, config).await })
    }

    fn port_forward(
        &self,
        sandbox: &SandboxId,
        port: u16,
    ) -> BoxFuture<'_, Result<Box<dyn super::Duplex>>> {
        let sandbox = sandbox.clone();
        Box::pin(async move {
            let connection = self.connect(&sandbox, port).await?;
            Ok(Box::new(connection) as Box<dyn super::Duplex>)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_is_named_after_the_cluster() {
        assert_eq!(
            network_name("5d3c0a1e-7f2b-4c1d-9e8f-0a1b2c3d4e5f"),
            "kubarium-5d3c0a1e7f2b"
        );
    }
}
