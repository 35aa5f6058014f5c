//! The hollow runtime: containers that are only records in memory, for scale tests and
//! machines without Docker. Nothing is pulled and no process runs.
//!
//! A container runs until it is stopped when its pod's `restartPolicy` is `Always`; under
//! `OnFailure` and `Never` (and always for init containers) it exits 0 after about a second.
//! Pod annotations change that: `hollow.kubarium.dev/run-for: "3s"` runs it that long, then it
//! exits with `hollow.kubarium.dev/exit-code` (default 0); an exit code alone exits after the
//! default second. A stopped container exits 0, as a program that handles SIGTERM does.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use futures_util::StreamExt;

use super::{
    BoxFuture, ByteStream, ContainerConfig, ContainerId, ContainerRuntime, ContainerState,
    ContainerStatus, ExecConfig, ExecSession, LogOptions, SandboxConfig, SandboxId,
};
use crate::{Error, Result};

/// The hollow runtime's version, in `containerRuntimeVersion` (`hollow://<version>`).
pub const HOLLOW_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long a container that is meant to finish runs unless told otherwise.
const DEFAULT_RUN: Duration = Duration::from_secs(1);

/// Pod annotation: how long hollow containers run before they exit.
pub const RUN_FOR_ANNOTATION: &str = "hollow.kubarium.dev/run-for";
/// Pod annotation: the exit code of hollow containers.
pub const EXIT_CODE_ANNOTATION: &str = "hollow.kubarium.dev/exit-code";

/// Simulated containers. Cheap to clone; clones share their containers.
#[derive(Debug, Clone, Default)]
pub struct HollowRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sandboxes: Mutex<HashMap<String, Sandbox>>,
    containers: Mutex<HashMap<String, Container>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Sandbox {
    config: SandboxConfig,
    containers: Vec<String>,
}

#[derive(Debug)]
struct Container {
    status: watch::Sender<ContainerStatus>,
    /// How long it runs once started and what it exits with; `None` until stopped.
    plan: Option<(Duration, i32)>,
}

impl HollowRuntime {
    /// An empty runtime.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many containers it holds (running or exited, not yet removed).
    pub fn container_count(&self) -> usize {
        lock(&self.inner.containers).len()
    }

    fn new_id(&self, salt: &str) -> String {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let seed = Timestamp::now().as_nanosecond();
        (0..4u8)
            .map(|part| {
                let mut hasher = DefaultHasher::new();
                (seed, n, salt, part).hash(&mut hasher);
                format!("{:016x}", hasher.finish())
            })
            .collect()
    }

    fn exit(&self, id: &str, exit_code: i32) {
        if let Some(container) = lock(&self.inner.containers).get(id) {
            container
                .status
                .send_if_modified(|status| match status.state {
                    ContainerState::Running { started_at } => {
                        status.state = ContainerState::Exited {
                            started_at,
                            finished_at: Timestamp::now(),
                            exit_code,
                            oom_killed: false,
                        };
                        true
                    }
                    _ => false,
                });
        }
    }
}

/// How long a container runs and what it exits with; `None` runs until stopped.
pub(crate) fn planned_exit(sandbox: &SandboxConfig, init: bool) -> Option<(Duration, i32)> {
    let run_for = sandbox
        .annotations
        .get(RUN_FOR_ANNOTATION)
        .and_then(|value| parse_duration(value));
    let exit_code = sandbox
        .annotations
        .get(EXIT_CODE_ANNOTATION)
        .and_then(|value| value.trim().parse::<i32>().ok());
    match (run_for, exit_code) {
        (Some(run_for), code) => Some((run_for, code.unwrap_or(0))),
        (None, Some(code)) => Some((DEFAULT_RUN, code)),
        (None, None) if init || sandbox.restart_policy != "Always" => Some((DEFAULT_RUN, 0)),
        (None, None) => None,
    }
}

/// A Go-style duration (`3s`, `500ms`, `1m30s`); negative or unreadable ones are ignored.
fn parse_duration(value: &str) -> Option<Duration> {
    let parsed: SignedDuration = value.trim().parse().ok()?;
    Duration::try_from(parsed).ok()
}

/// An image reference as containerd reports it: registry and tag filled in
/// (`nginx` → `docker.io/library/nginx:latest`), and its repository without the tag.
pub(crate) fn normalize_image(image: &str) -> (String, String) {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(colon) => (
            &name[..last_slash + colon],
            Some(&name[last_slash + colon + 1..]),
        ),
        None => (name, None),
    };
    let repository = match repository.split_once('/') {
        None => format!("docker.io/library/{repository}"),
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            repository.to_owned()
        }
        Some(_) => format!("docker.io/{repository}"),
    };
    let full = match (tag, digest) {
        (_, Some(digest)) => format!("{repository}@{digest}"),
        (Some(tag), None) => format!("{repository}:{tag}"),
        (None, None) => format!("{repository}:latest"),
    };
    (full, repository)
}

/// A stable, made-up content digest for an image: the same image always gets the same one.
fn image_id(image: &str) -> String {
    let (full, repository) = normalize_image(image);
    let digest: String = (0..4u8)
        .map(|part| {
            let mut hasher = DefaultHasher::new();
            (&full, part).hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect();
    format!("{repository}@sha256:{digest}")
}

impl ContainerRuntime for HollowRuntime {
    fn name(&self) -> &'static str {
        "hollow"
    }

    fn version(&self) -> String {
        format!("hollow://{HOLLOW_VERSION}")
    }

    fn ready(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    fn create_pod_sandbox(&self, config: SandboxConfig) -> BoxFuture<'_, Result<SandboxId>> {
        Box::pin(async move {
            let id = self.new_id(&config.uid);
            lock(&self.inner.sandboxes).insert(
                id.clone(),
                Sandbox {
                    config,
                    containers: Vec::new(),
                },
            );
            Ok(SandboxId(id))
        })
    }

    fn start_pod_sandbox(&self, sandbox: &SandboxId) -> BoxFuture<'_, Result<super::Sandbox>> {
        let sandbox = sandbox.clone();
        Box::pin(async move {
            if !lock(&self.inner.sandboxes).contains_key(&sandbox.0) {
                return Err(Error::Runtime {
                    reason: format!("no pod sandbox {}", sandbox.0),
                });
            }
            Ok(super::Sandbox {
                id: sandbox,
                ip: None,
            })
        })
    }

    fn create_container(
        &self,
        sandbox: &SandboxId,
        config: ContainerConfig,
    ) -> BoxFuture<'_, Result<ContainerId>> {
        let sandbox = sandbox.clone();
        Box::pin(async move {
            let id = self.new_id(&config.name);
            let plan = {
                let mut sandboxes = lock(&self.inner.sandboxes);
                let Some(entry) = sandboxes.get_mut(&sandbox.0) else {
                    return Err(Error::Runtime {
                        reason: format!("no pod sandbox {}", sandbox.0),
                    });
                };
                entry.containers.push(id.clone());
                planned_exit(&entry.config, config.init)
            };
            let status = ContainerStatus {
                id: ContainerId {
                    runtime: "hollow",
                    id: id.clone(),
                },
                state: ContainerState::Created,
                image: normalize_image(&config.image).0,
                image_id: image_id(&config.image),
            };
            let (sender, _) = watch::channel(status.clone());
            lock(&self.inner.containers).insert(
                id,
                Container {
                    status: sender,
                    plan,
                },
            );
            Ok(status.id)
        })
    }

    fn start_created_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<()>> {
        let id = id.id.clone();
        Box::pin(async move {
            let plan = {
                let containers = lock(&self.inner.containers);
                let Some(container) = containers.get(&id) else {
                    return Err(Error::Runtime {
                        reason: format!("no container {id}"),
                    });
                };
                container.status.send_modify(|status| {
                    status.state = ContainerState::Running {
                        started_at: Timestamp::now(),
                    };
                });
                container.plan
            };
            if let Some((run_for, exit_code)) = plan {
                let runtime = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(run_for).await;
                    runtime.exit(&id, exit_code);
                });
            }
            Ok(())
        })
    }

    fn stop_container(&self, id: &ContainerId, _grace: Duration) -> BoxFuture<'_, Result<()>> {
        let id = id.id.clone();
        Box::pin(async move {
            self.exit(&id, 0);
            Ok(())
        })
    }

    fn remove_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<()>> {
        let id = id.id.clone();
        Box::pin(async move {
            lock(&self.inner.containers).remove(&id);
            Ok(())
        })
    }

    fn container_status(&self, id: &ContainerId) -> BoxFuture<'_, Result<ContainerStatus>> {
        let id = id.id.clone();
        Box::pin(async move {
            lock(&self.inner.containers)
                .get(&id)
                .map(|container| container.status.borrow().clone())
                .ok_or_else(|| Error::Runtime {
                    reason: format!("no container {id}"),
                })
        })
    }

    fn wait_container(&self, id: &ContainerId) -> BoxFuture<'_, Result<ContainerStatus>> {
        let id = id.id.clone();
        Box::pin(async move {
            let mut receiver = lock(&self.inner.containers)
                .get(&id)
                .map(|container| container.status.subscribe())
                .ok_or_else(|| Error::Runtime {
                    reason: format!("no container {id}"),
                })?;
            let status = receiver
                .wait_for(|status| status.state.is_exited())
                .await
                .map_err(|_| Error::Runtime {
                    reason: format!("container {id} was removed"),
                })?;
            Ok(status.clone())
        })
    }

    fn remove_pod_sandbox(&self, sandbox: &SandboxId) -> BoxFuture<'_, Result<()>> {
        let sandbox = sandbox.0.clone();
        Box::pin(async move {
            let removed = lock(&self.inner.sandboxes).remove(&sandbox);
            if let Some(removed) = removed {
                for id in &removed.containers {
                    self.exit(id, 0);
                }
                let mut containers = lock(&self.inner.containers);
                for id in removed.containers {
                    containers.remove(&id);
                }
            }
            Ok(())
        })
    }

    /// A short, truthful log: that the container is simulated, when it started and, once it
    /// has, when and how it exited. `follow` waits for the exit line.
    fn logs(&self, id: &ContainerId, options: LogOptions) -> BoxFuture<'_, Result<ByteStream>> {
        let id = id.clone();
        Box::pin(async move {
            let status = self.container_status(&id).await?;
            let mut lines = hollow_log(&status);
            let waiting = options.follow && !status.state.is_exited();
            if let Some(tail) = options.tail_lines {
                let keep = usize::try_from(tail).unwrap_or(0);
                lines.drain(..lines.len().saturating_sub(keep));
            }
            let render = move |lines: Vec<(Timestamp, String)>| {
                let text: String = lines
                    .into_iter()
                    .filter(|(at, _)| options.since.is_none_or(|since| *at >= since))
                    .map(|(at, line)| match options.timestamps {
                        true => format!("{at} {line}\n"),
                        false => format!("{line}\n"),
                    })
                    .collect();
                Ok(bytes::Bytes::from(text))
            };
            let first = futures_util::stream::iter([render(lines)]);
            if !waiting {
                return Ok(Box::pin(first) as ByteStream);
            }
            let runtime = self.clone();
            let exit = futures_util::stream::once(async move {
                match runtime.wait_container(&id).await {
                    Ok(status) => render(hollow_log(&status).split_off(1)),
                    Err(_) => Ok(bytes::Bytes::new()),
                }
            });
            Ok(Box::pin(first.chain(exit)) as ByteStream)
        })
    }

    fn exec(&self, _: &ContainerId, _: ExecConfig) -> BoxFuture<'_, Result<ExecSession>> {
        Box::pin(async {
            Err(Error::Runtime {
                reason: HOLLOW_EXEC.to_owned(),
            })
        })
    }
}

/// Why `exec` and `attach` fail on a hollow node.
pub(crate) const HOLLOW_EXEC: &str = "hollow containers run no processes: this pod runs on a hollow (simulated) node, so there is nothing to exec into or attach to; run the pod on a node with the Docker runtime";

/// The lines of a hollow container's log, with their times.
fn hollow_log(status: &ContainerStatus) -> Vec<(Timestamp, String)> {
    let started = |at: Timestamp| {
        (
            at,
            format!(
                "Kubarium hollow container started from image {}: it is simulated and runs no process, so it writes no log of its own",
                status.image
            ),
        )
    };
    match &status.state {
        ContainerState::Created => Vec::new(),
        ContainerState::Running { started_at } => vec![started(*started_at)],
        ContainerState::Exited {
            started_at,
            finished_at,
            exit_code,
            ..
        } => vec![
            started(*started_at),
            (
                *finished_at,
                format!("Kubarium hollow container exited with code {exit_code}"),
            ),
        ],
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, image: &str) -> ContainerConfig {
        ContainerConfig {
            name: name.into(),
            image: image.into(),
            ..Default::default()
        }
    }

    fn sandbox(policy: &str, annotations: &[(&str, &str)]) -> SandboxConfig {
        SandboxConfig {
            namespace: "default".into(),
            name: "web".into(),
            uid: "uid-1".into(),
            restart_policy: policy.into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..SandboxConfig::default()
        }
    }

    #[test]
    fn plans_follow_the_contract() {
        assert_eq!(planned_exit(&sandbox("Always", &[]), false), None);
        assert_eq!(
            planned_exit(&sandbox("Always", &[]), true),
            Some((DEFAULT_RUN, 0))
        );
        assert_eq!(
            planned_exit(&sandbox("Never", &[]), false),
            Some((DEFAULT_RUN, 0))
        );
        assert_eq!(
            planned_exit(&sandbox("OnFailure", &[]), false),
            Some((DEFAULT_RUN, 0))
        );
        assert_eq!(
            planned_exit(&sandbox("Always", &[(EXIT_CODE_ANNOTATION, "1")]), false),
            Some((DEFAULT_RUN, 1))
        );
        assert_eq!(
            planned_exit(
                &sandbox(
                    "Always",
                    &[(RUN_FOR_ANNOTATION, "1m30s"), (EXIT_CODE_ANNOTATION, "3")]
                ),
                false
            ),
            Some((Duration::from_secs(90), 3))
        );
        assert_eq!(
            planned_exit(&sandbox("Never", &[(RUN_FOR_ANNOTATION, "500ms")]), false),
            Some((Duration::from_millis(500), 0))
        );
        // Unreadable values fall back to the defaults.
        assert_eq!(
            planned_exit(&sandbox("Always", &[(RUN_FOR_ANNOTATION, "soon")]), false),
            None
        );
    }

    #[test]
    fn images_are_normalized_as_containerd_does() {
        assert_eq!(normalize_image("nginx").0, "docker.io/library/nginx:latest");
        assert_eq!(
            normalize_image("nginx:1.27").0,
            "docker.io/library/nginx:1.27"
        );
        assert_eq!(
            normalize_image("bitnami/redis").0,
            "docker.io/bitnami/redis:latest"
        );
        assert_eq!(
            normalize_image("registry.k8s.io/pause:3.10"),
            (
                "registry.k8s.io/pause:3.10".into(),
                "registry.k8s.io/pause".into()
            )
        );
        assert_eq!(
            normalize_image("localhost:5000/app").0,
            "localhost:5000/app:latest"
        );
        assert!(image_id("nginx").starts_with("docker.io/library/nginx@sha256:"));
        assert_eq!(image_id("nginx"), image_id("nginx:latest"));
    }

    #[tokio::test]
    async fn containers_run_exit_and_stop() {
        let runtime = HollowRuntime::new();
        let job = runtime
            .run_pod_sandbox(sandbox("Always", &[(EXIT_CODE_ANNOTATION, "1")]))
            .await
            .map(|sandbox| sandbox.id)
            .unwrap();
        let id = runtime
            .start_container(&job, container("c", "busybox"))
            .await
            .unwrap();
        assert_eq!(id.uri(), format!("hollow://{}", id.id));
        assert_eq!(id.id.len(), 64);
        assert!(matches!(
            runtime.container_status(&id).await.unwrap().state,
            ContainerState::Running { .. }
        ));
        let exited = runtime.wait_container(&id).await.unwrap();
        assert!(matches!(
            exited.state,
            ContainerState::Exited { exit_code: 1, .. }
        ));

        let web = runtime
            .run_pod_sandbox(sandbox("Always", &[]))
            .await
            .map(|sandbox| sandbox.id)
            .unwrap();
        let id = runtime
            .start_container(&web, container("web", "nginx"))
            .await
            .unwrap();
        // Longer than a finishing container runs.
        tokio::time::sleep(DEFAULT_RUN + Duration::from_millis(200)).await;
        assert!(
            !runtime
                .container_status(&id)
                .await
                .unwrap()
                .state
                .is_exited()
        );
        runtime
            .stop_container(&id, Duration::from_secs(30))
            .await
            .unwrap();
        let stopped = runtime.wait_container(&id).await.unwrap();
        assert!(matches!(
            stopped.state,
            ContainerState::Exited { exit_code: 0, .. }
        ));
        runtime.remove_pod_sandbox(&web).await.unwrap();
        runtime.remove_pod_sandbox(&job).await.unwrap();
        assert_eq!(runtime.container_count(), 0);
        assert!(runtime.container_status(&id).await.is_err());
    }

    #[tokio::test]
    async fn a_created_container_runs_only_once_started() {
        let runtime = HollowRuntime::new();
        let job = runtime
            .create_pod_sandbox(sandbox("Never", &[(EXIT_CODE_ANNOTATION, "3")]))
            .await
            .unwrap();
        let id = runtime
            .create_container(&job, container("c", "busybox"))
            .await
            .unwrap();
        // Longer than it runs once started: made, it neither runs nor ends.
        tokio::time::sleep(DEFAULT_RUN + Duration::from_millis(200)).await;
        assert!(matches!(
            runtime.container_status(&id).await.unwrap().state,
            ContainerState::Created
        ));
        assert_eq!(runtime.start_pod_sandbox(&job).await.unwrap().id, job);
        runtime.start_created_container(&id).await.unwrap();
        assert!(matches!(
            runtime.container_status(&id).await.unwrap().state,
            ContainerState::Running { .. }
        ));
        let exited = runtime.wait_container(&id).await.unwrap();
        assert!(matches!(
            exited.state,
            ContainerState::Exited { exit_code: 3, .. }
        ));
        runtime.remove_pod_sandbox(&job).await.unwrap();
        assert!(runtime.start_pod_sandbox(&job).await.is_err());
    }
}
