//! Sandboxes and containers in Docker: create, start, stop, remove, inspect, and exec for
//! probes. Every operation first checks the container carries this cluster's label
//! ([`DockerRuntime::inspect`]).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings,
    ExecConfig, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListVolumesOptions, RemoveContainerOptions,
    RemoveVolumeOptions, StopContainerOptions,
};
use futures_util::StreamExt;

use super::{DOCKER, DockerRuntime, images, lock, spec};
use crate::runtime::{
    ContainerConfig, ContainerId, ContainerState, ContainerStatus, ExecOutput, MemoryVolume,
    MountSource, Sandbox, SandboxConfig, SandboxId,
};
use crate::{Error, Result};
use jiff::Timestamp;

/// How much of a probe command's output is kept (the kubelet's prober keeps 10 KiB).
const EXEC_OUTPUT_CAP: usize = 10 * 1024;

/// The address of a container on `network`.
pub(super) fn ip_on(inspect: &ContainerInspectResponse, network: &str) -> Option<Ipv4Addr> {
    inspect
        .network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(network)?
        .ip_address
        .as_deref()?
        .parse()
        .ok()
}

fn runtime_error(what: impl std::fmt::Display, error: DockerError) -> Error {
    Error::Runtime {
        reason: format!("{what}: {error}"),
    }
}

fn status_code(error: &DockerError) -> Option<u16> {
    match error {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn labels(inspect: &ContainerInspectResponse) -> HashMap<String, String> {
    inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
}

fn is_running(inspect: &ContainerInspectResponse) -> bool {
    inspect
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false)
}

/// Whether the container ran and no longer does (not one created and not yet started).
fn has_stopped(inspect: &ContainerInspectResponse) -> bool {
    let state = inspect.state.as_ref();
    let created =
        state.and_then(|s| s.status) == Some(bollard::models::ContainerStateStatusEnum::CREATED);
    !created && !is_running(inspect)
}

impl DockerRuntime {
    /// This cluster's containers whose labels match every `key=value` of `labels`.
    async fn list(
        &self,
        docker: &Docker,
        labels: &[(&str, &str)],
    ) -> Result<Vec<bollard::models::ContainerSummary>> {
        let mut filters = vec![format!("{}={}", spec::CLUSTER_LABEL, self.inner.cluster)];
        filters.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), filters)])),
            ..ListContainersOptions::default()
        };
        docker
            .list_containers(Some(options))
            .await
            .map_err(|error| runtime_error("list containers", error))
    }

    /// Creates container `name`; one of that name left over from before (this cluster's
    /// only) is removed first.
    async fn create(
        &self,
        docker: &Docker,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String> {
        let image = body.image.clone().unwrap_or_default();
        let options = || CreateContainerOptions {
            name: Some(name.to_owned()),
            ..CreateContainerOptions::default()
        };
        let created = match docker.create_container(Some(options()), body.clone()).await {
            Err(error) if status_code(&error) == Some(409) => {
                if self.inspect(name).await.is_ok() {
                    self.force_remove(docker, name).await?;
                }
                docker.create_container(Some(options()), body).await
            }
            other => other,
        };
        match created {
            Ok(created) => Ok(created.id),
            Err(error) if status_code(&error) == Some(404) => Err(Error::Image {
                reason: "ErrImagePull",
                message: format!(
                    "create container {name}: {error}; \"{image}\" is not on this machine and cannot be pulled (Kubarium runs offline): build or load it into the local Docker engine (`docker image ls` lists what is there), then use that local tag with imagePullPolicy: IfNotPresent or Never"
                ),
            }),
            Err(error) => Err(runtime_error(format!("create container {name}"), error)),
        }
    }

    pub(super) async fn force_remove(&self, docker: &Docker, id: &str) -> Result<()> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..RemoveContainerOptions::default()
        };
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => {}
            Err(error) if matches!(status_code(&error), Some(404 | 409)) => {}
            Err(error) => return Err(runtime_error(format!("remove container {id}"), error)),
        }
        self.forget(id);
        Ok(())
    }

    /// Makes the pod's memory volumes; one that exists already is kept as it is (Docker
    /// answers a create of an existing local volume with it).
    async fn ensure_volumes(
        &self,
        docker: &Docker,
        owner: &spec::Owner,
        volumes: &[MemoryVolume],
    ) -> Result<()> {
        for volume in volumes {
            if let Err(error) = docker.create_volume(spec::volume_body(owner, volume)).await {
                let name = spec::volume_name(&owner.uid, &volume.name);
                return Err(runtime_error(format!("create volume {name}"), error));
            }
        }
        Ok(())
    }

    /// Removes this cluster's volumes whose labels also match `labels` (a pod's, or all of
    /// them); one still in use is left, with a warning. Returns how many went.
    pub(super) async fn remove_volumes(
        &self,
        docker: &Docker,
        labels: &[(&str, &str)],
    ) -> Result<usize> {
        let mut filters = vec![format!("{}={}", spec::CLUSTER_LABEL, self.inner.cluster)];
        filters.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
        let options = ListVolumesOptions {
            filters: Some(HashMap::from([("label".to_owned(), filters)])),
        };
        let listed = docker
            .list_volumes(Some(options))
            .await
            .map_err(|error| runtime_error("list volumes", error))?;
        let mut removed = 0;
        for volume in listed.volumes.into_iter().flatten() {
            match docker
                .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(()) => removed += 1,
                Err(error) if status_code(&error) == Some(404) => {}
                Err(error) => {
                    tracing::warn!(volume = volume.name, %error, "could not remove a volume");
                }
            }
        }
        Ok(removed)
    }

    pub(super) async fn start_created(&self, docker: &Docker, id: &str, what: &str) -> Result<()> {
        if let Err(error) = docker.start_container(id, None).await {
            let _ = self.force_remove(docker, id).await;
            return Err(runtime_error(format!("start {what}"), error));
        }
        Ok(())
    }

    /// Keeps the pod's memory volumes mounted by its volume keeper ([`spec::keeper_body`]):
    /// made if missing, started again if stopped (what a stopped keeper held is lost only
    /// if nothing else mounted it meanwhile).
    async fn ensure_keeper(
        &self,
        docker: &Docker,
        owner: &spec::Owner,
        volumes: &[MemoryVolume],
        image: &str,
    ) -> Result<()> {
        if volumes.is_empty() {
            return Ok(());
        }
        let found = self
            .list(
                docker,
                &[
                    (spec::POD_UID_LABEL, owner.uid.as_str()),
                    (spec::TYPE_LABEL, spec::TYPE_KEEPER),
                ],
            )
            .await?;
        for keeper in found {
            let Some(id) = keeper.id else { continue };
            if keeper.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
                || docker.start_container(&id, None).await.is_ok()
            {
                return Ok(());
            }
            self.force_remove(docker, &id).await?;
        }
        let body = spec::keeper_body(owner, volumes, image);
        let name = owner.container_name(spec::KEEPER_CONTAINER, 0);
        let id = self.create(docker, &name, body).await?;
        self.start_created(
            docker,
            &id,
            &format!("the volume keeper of pod {}/{}", owner.namespace, owner.pod),
        )
        .await
    }

    /// Creates the sandbox of a pod (not started: [`DockerRuntime::start_sandbox`]), or
    /// adopts the one that runs already (after a restart of the agent). A stopped one (its
    /// pause process killed, or Docker restarted) is started again on the address it had: a
    /// new network namespace, as a new sandbox would have, the pod's IP kept; one that cannot
    /// be is replaced.
    pub(super) async fn create_sandbox(&self, config: SandboxConfig) -> Result<SandboxId> {
        let docker = self.docker()?;
        let image = self.ensure_infra(&docker).await?;
        let owner = spec::Owner::of_sandbox(&self.inner.cluster, &config);
        self.ensure_volumes(&docker, &owner, &config.memory_volumes)
            .await?;
        self.ensure_keeper(&docker, &owner, &config.memory_volumes, &image)
            .await?;
        let existing = self
            .list(
                &docker,
                &[
                    (spec::POD_UID_LABEL, config.uid.as_str()),
                    (spec::TYPE_LABEL, spec::TYPE_SANDBOX),
                ],
            )
            .await?;
        let mut attempt = 0;
        for sandbox in existing {
            let Some(id) = sandbox.id else { continue };
            let Ok(inspect) = self.inspect(&id).await else {
                continue;
            };
            if is_running(&inspect) {
                return Ok(self.own(id, owner));
            }
            let same_image =
                inspect.config.as_ref().and_then(|c| c.image.as_deref()) == Some(image.as_str());
            if same_image && self.restart_sandbox(&docker, &id).await.is_ok() {
                return Ok(self.own(id, owner));
            }
            let before: i32 = labels(&inspect)
                .get(spec::ATTEMPT_LABEL)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            attempt = attempt.max(before + 1);
            self.force_remove(&docker, &id).await?;
        }
        let body = spec::sandbox_body(&owner, &config, &image, &self.inner.network, attempt);
        let name = owner.container_name(spec::SANDBOX_CONTAINER, attempt);
        let id = self.create(&docker, &name, body).await?;
        Ok(self.own(id, owner))
    }

    /// Records who sandbox `id` belongs to (see `Inner::sandbox_owners`).
    fn own(&self, id: String, owner: spec::Owner) -> SandboxId {
        lock(&self.inner.sandbox_owners).insert(id.clone(), owner);
        SandboxId(id)
    }

    /// Starts a sandbox [`DockerRuntime::create_sandbox`] made (one that runs is left as it
    /// is); its address on the cluster's network.
    pub(super) async fn start_sandbox(&self, sandbox: &SandboxId) -> Result<Sandbox> {
        let docker = self.docker()?;
        match docker.start_container(&sandbox.0, None).await {
            Ok(()) => {}
            // Started already.
            Err(error) if status_code(&error) == Some(304) => {}
            Err(error) => {
                let _ = self.force_remove(&docker, &sandbox.0).await;
                return Err(runtime_error(
                    format!("start the sandbox {}", sandbox.0),
                    error,
                ));
            }
        }
        let inspect = self.inspect(&sandbox.0).await?;
        Ok(self.remember(sandbox.0.clone(), ip_on(&inspect, &self.inner.network)))
    }

    fn remember(&self, id: String, ip: Option<Ipv4Addr>) -> Sandbox {
        if let Some(ip) = ip {
            lock(&self.inner.sandbox_ips).insert(id.clone(), ip);
        }
        Sandbox {
            ip,
            id: SandboxId(id),
        }
    }

    /// Starts a sandbox Docker stopped (it was restarted under the pod) on the address it had,
    /// so the pod's IP stays what its status says.
    async fn restart_sandbox(
        &self,
        docker: &Docker,
        id: &str,
    ) -> std::result::Result<(), DockerError> {
        let known = lock(&self.inner.sandbox_ips).get(id).copied();
        if let Some(ip) = known {
            let network = &self.inner.network;
            let disconnect = NetworkDisconnectRequest {
                container: id.to_owned(),
                force: Some(true),
            };
            let connect = NetworkConnectRequest {
                container: id.to_owned(),
                endpoint_config: Some(EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: Some(ip.to_string()),
                        ..EndpointIpamConfig::default()
                    }),
                    ..EndpointSettings::default()
                }),
            };
            if docker.disconnect_network(network, disconnect).await.is_ok()
                && let Err(error) = docker.connect_network(network, connect).await
            {
                tracing::debug!(%error, sandbox = id, "could not keep the sandbox's address");
                let plain = NetworkConnectRequest {
                    container: id.to_owned(),
                    endpoint_config: None,
                };
                docker.connect_network(network, plain).await?;
            }
        }
        docker.start_container(id, None).await
    }

    /// Creates a container in `sandbox`, not started ([`DockerRuntime::start_created`]). A
    /// sandbox this runtime made is not looked at, as it may be starting meanwhile; one it
    /// did not make is ([`DockerRuntime::adopt_sandbox`]).
    pub(super) async fn create_in(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> Result<ContainerId> {
        let docker = self.docker()?;
        let known = lock(&self.inner.sandbox_owners).get(&sandbox.0).cloned();
        let owner = match known {
            Some(owner) => owner,
            None => self.adopt_sandbox(&docker, sandbox).await?,
        };
        if let Some(builtin) = images::Builtin::parse(&config.image) {
            let _import = self.inner.imports.lock().await;
            images::ensure_builtin(&docker, &builtin).await?;
        }
        let image = images::Builtin::parse(&config.image)
            .map_or_else(|| config.image.clone(), |builtin| builtin.reference());
        // The sandbox made them; a sandbox from before it did so did not.
        let memory: Vec<MemoryVolume> = config
            .mounts
            .iter()
            .filter_map(|mount| match &mount.source {
                MountSource::Memory(volume) => Some(volume.clone()),
                MountSource::Host(_) => None,
            })
            .collect();
        self.ensure_volumes(&docker, &owner, &memory).await?;
        let body = spec::container_body(&owner, &sandbox.0, &config, &image);
        let name = owner.container_name(&config.name, config.attempt);
        let id = self.create(&docker, &name, body).await?;
        Ok(ContainerId {
            runtime: DOCKER,
            id,
        })
    }

    /// Who a sandbox this runtime has not recorded belongs to (one adopted after a restart of
    /// the agent), from its labels; one that stopped (Docker restarted under the pod) is
    /// started again first.
    async fn adopt_sandbox(&self, docker: &Docker, sandbox: &SandboxId) -> Result<spec::Owner> {
        let inspect = self.inspect(&sandbox.0).await?;
        let Some(owner) = spec::Owner::from_labels(&self.inner.cluster, &labels(&inspect)) else {
            return Err(super::not_found(&sandbox.0));
        };
        if has_stopped(&inspect) {
            self.restart_sandbox(docker, &sandbox.0)
                .await
                .map_err(|error| {
                    runtime_error(
                        format!(
                            "restart the sandbox of pod {}/{}",
                            owner.namespace, owner.pod
                        ),
                        error,
                    )
                })?;
        }
        lock(&self.inner.sandbox_owners).insert(sandbox.0.clone(), owner.clone());
        Ok(owner)
    }

    /// `docker stop` with the grace period: SIGTERM, then SIGKILL when it has passed.
    pub(super) async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        let docker = self.docker()?;
        self.inspect(&id.id).await?;
        let seconds = i32::try_from(grace.as_secs() + u64::from(grace.subsec_nanos() > 0))
            .unwrap_or(i32::MAX);
        let options = StopContainerOptions {
            t: Some(seconds),
            ..StopContainerOptions::default()
        };
        // Docker answers once the container is gone, up to the grace period later.
        let docker = docker.with_timeout(grace + Duration::from_secs(60));
        match docker.stop_container(&id.id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if matches!(status_code(&error), Some(304 | 404)) => Ok(()),
            Err(error) => Err(runtime_error(format!("stop container {}", id.id), error)),
        }
    }

    /// Removes a container, running or not.
    pub(super) async fn remove(&self, id: &ContainerId) -> Result<()> {
        let docker = self.docker()?;
        match self.inspect(&id.id).await {
            Ok(_) => self.force_remove(&docker, &id.id).await,
            Err(_) => {
                self.forget(&id.id);
                Ok(())
            }
        }
    }

    /// Removes a sandbox, every container of its pod and the pod's memory volumes.
    pub(super) async fn remove_sandbox(&self, sandbox: &SandboxId) -> Result<()> {
        let docker = self.docker()?;
        let inspect = match self.inspect(&sandbox.0).await {
            Ok(inspect) => inspect,
            Err(_) => return Ok(()),
        };
        let uid = labels(&inspect)
            .get(spec::POD_UID_LABEL)
            .cloned()
            .unwrap_or_default();
        if !uid.is_empty() {
            for container in self.list(&docker, &[(spec::POD_UID_LABEL, &uid)]).await? {
                let Some(id) = container.id else { continue };
                let is_sandbox = container
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(spec::TYPE_LABEL))
                    .is_some_and(|t| t == spec::TYPE_SANDBOX);
                if !is_sandbox {
                    self.force_remove(&docker, &id).await?;
                }
            }
        }
        lock(&self.inner.sandbox_ips).remove(&sandbox.0);
        self.force_remove(&docker, &sandbox.0).await?;
        if !uid.is_empty() {
            self.remove_volumes(&docker, &[(spec::POD_UID_LABEL, &uid)])
                .await?;
        }
        Ok(())
    }

    /// A container's status from `docker inspect`.
    ///
    /// A container removed from outside (`docker rm -f`) while it ran reads as killed, as
    /// the kubelet shows a container it can no longer find: exit code 137.
    pub(super) async fn status(&self, id: &ContainerId) -> Result<ContainerStatus> {
        let Some(inspect) = self.inspect_found(&id.id).await? else {
            let last = lock(&self.inner.last_seen).get(&id.id).cloned();
            return match last {
                Some(mut status) => {
                    if let ContainerState::Running { started_at } = status.state {
                        status.state = ContainerState::Exited {
                            started_at,
                            finished_at: Timestamp::now(),
                            exit_code: 137,
                            oom_killed: false,
                        };
                    }
                    Ok(status)
                }
                None => Err(super::not_found(&id.id)),
            };
        };
        let image = inspect
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_default();
        let image_ref = inspect.image.clone().unwrap_or_default();
        let digests = self.repo_digests(&image_ref).await;
        let mut state = spec::state(&inspect);
        if let ContainerState::Exited { oom_killed, .. } = &mut state {
            *oom_killed |= lock(&self.inner.oom_events).contains(&id.id);
        }
        let status = ContainerStatus {
            id: id.clone(),
            state,
            image: crate::runtime::hollow::normalize_image(&image).0,
            image_id: spec::image_id(&image_ref, &digests),
        };
        lock(&self.inner.last_seen).insert(id.id.clone(), status.clone());
        Ok(status)
    }

    async fn repo_digests(&self, image_id: &str) -> Vec<String> {
        if let Some(known) = lock(&self.inner.digests).get(image_id) {
            return known.clone();
        }
        let Ok(docker) = self.docker() else {
            return Vec::new();
        };
        let Ok(image) = docker.inspect_image(image_id).await else {
            return Vec::new();
        };
        let digests = image.repo_digests.unwrap_or_default();
        lock(&self.inner.digests).insert(image_id.to_owned(), digests.clone());
        digests
    }

    /// Runs `command` in a running container for a probe: output capped, `timeout` honoured.
    pub(super) async fn exec_probe(
        &self,
        id: &ContainerId,
        command: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput> {
        let docker = self.docker()?;
        self.inspect(&id.id).await?;
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(command.clone()),
            ..ExecConfig::default()
        };
        let exec = docker
            .create_exec(&id.id, config)
            .await
            .map_err(|error| runtime_error(format!("exec in container {}", id.id), error))?;
        let run = async {
            let started = docker
                .start_exec(&exec.id, Some(StartExecOptions::default()))
                .await
                .map_err(|error| runtime_error("start exec", error))?;
            let mut output = Vec::new();
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = started
            {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|error| runtime_error("exec output", error))?;
                    let bytes = chunk.into_bytes();
                    let room = EXEC_OUTPUT_CAP.saturating_sub(output.len());
                    output.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
            }
            Ok::<_, Error>(output)
        };
        let output = match tokio::time::timeout(timeout, run).await {
            Ok(output) => output?,
            Err(_) => {
                return Err(Error::Runtime {
                    reason: format!(
                        "command {command:?} timed out after {}",
                        crate::status::go_duration(timeout)
                    ),
                });
            }
        };
        // The output ends as the process does; Docker may record its exit code a moment later.
        let mut exit_code = None;
        for _ in 0..50 {
            let inspect = docker
                .inspect_exec(&exec.id)
                .await
                .map_err(|error| runtime_error("inspect exec", error))?;
            if inspect.running != Some(true) {
                exit_code = inspect.exit_code;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(ExecOutput {
            exit_code: exit_code
                .and_then(|code| i32::try_from(code).ok())
                .unwrap_or(-1),
            output,
        })
    }
}
