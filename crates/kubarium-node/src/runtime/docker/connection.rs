//! The connection to Docker, kept fresh by one background task: connect and negotiate the
//! API version, make sure the cluster's network exists, then follow one events stream
//! (filtered by the cluster's label) that wakes the waiters of exited containers. When the
//! stream ends or a ping fails, Docker is down: `ready()` says so, and the task reconnects
//! every few seconds. On every (re)connection the waited-on containers are looked at again,
//! so exits that happened while it was away are seen.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use jiff::Timestamp;
use tokio::sync::watch;

use super::{Connection, DockerRuntime, Observed, lock, spec};
use crate::Result;
use crate::runtime::{ContainerId, ContainerState, ContainerStatus, SandboxId};

/// Docker's default socket (bollard's, which it does not export).
const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";
/// How often a connection is checked, and a lost one retried.
const CHECK: Duration = Duration::from_secs(3);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a SIGKILL exit an `oom` event may still come (containerd reports the exit
/// and the OOM kill separately, in either order).
const OOM_GRACE: Duration = Duration::from_secs(1);
/// The exit code of a process ended by SIGKILL, as the OOM killer ends one.
const SIGKILLED: i32 = 137;

/// Where bollard connects: `DOCKER_HOST` when it is a unix socket, else the default socket.
pub(super) fn address() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host,
        _ => DEFAULT_SOCKET.to_owned(),
    }
}

/// Connects once, then leaves a task that keeps the connection fresh for as long as the
/// runtime lives.
pub(super) async fn spawn(runtime: DockerRuntime) {
    let first = connect(&runtime).await;
    let weak = std::sync::Arc::downgrade(&runtime.inner);
    drop(runtime);
    tokio::spawn(async move {
        let mut current = first;
        loop {
            let Some(inner) = weak.upgrade() else { return };
            let runtime = DockerRuntime { inner };
            match current.take() {
                Some((docker, since)) => {
                    follow(&runtime, &docker, since).await;
                    if std::sync::Arc::strong_count(&runtime.inner) <= 1 {
                        return;
                    }
                    runtime.set_connection(Connection::Down {
                        reason: "the connection was lost".to_owned(),
                    });
                    tracing::warn!(address = %runtime.inner.address, "lost the connection to Docker; reconnecting");
                }
                None => tokio::time::sleep(CHECK).await,
            }
            current = connect(&runtime).await;
        }
    });
}

/// One connection attempt: on success the runtime is up and every waited-on container is
/// looked at again; returns the client and when it connected.
async fn connect(runtime: &DockerRuntime) -> Option<(Docker, Timestamp)> {
    let since = Timestamp::now();
    let attempt = async {
        let docker = Docker::connect_with_local_defaults()?;
        let docker = docker.negotiate_version().await?;
        let version = docker.version().await?;
        Ok::<_, bollard::errors::Error>((docker, version.version.unwrap_or_default()))
    };
    let (docker, version) = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(error)) => {
            runtime.set_connection(Connection::Down {
                reason: error.to_string(),
            });
            return None;
        }
        Err(_) => {
            runtime.set_connection(Connection::Down {
                reason: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
            });
            return None;
        }
    };
    if let Err(error) = ensure_network(runtime, &docker).await {
        runtime.set_connection(Connection::Down {
            reason: error.to_string(),
        });
        return None;
    }
    tracing::info!(address = %runtime.inner.address, %version, network = %runtime.inner.network, "connected to Docker");
    runtime.set_connection(Connection::Up {
        docker: docker.clone(),
        version,
    });
    let watched: Vec<String> = lock(&runtime.inner.watched).keys().cloned().collect();
    for id in watched {
        refresh(runtime, &id).await;
    }
    Some((docker, since))
}

/// Makes the cluster's network exist, pinned to the runtime's plan ([`super::network`]).
async fn ensure_network(runtime: &DockerRuntime, docker: &Docker) -> Result<()> {
    super::network::ensure(
        docker,
        &runtime.inner.network,
        &runtime.inner.cluster,
        runtime.inner.plan,
    )
    .await
    .map(|_| ())
}

/// Follows the cluster's container events until the stream ends or Docker stops answering.
async fn follow(runtime: &DockerRuntime, docker: &Docker, since: Timestamp) {
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        (
            "label".to_owned(),
            vec![format!("{}={}", spec::CLUSTER_LABEL, runtime.inner.cluster)],
        ),
        (
            "event".to_owned(),
            vec!["die".to_owned(), "oom".to_owned(), "destroy".to_owned()],
        ),
    ]);
    let options = EventsOptions {
        since: Some((since.as_second() - 1).to_string()),
        filters: Some(filters),
        ..EventsOptions::default()
    };
    let events = docker.events(Some(options));
    futures_util::pin_mut!(events);
    let mut checks = tokio::time::interval(CHECK);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => on_event(runtime, event).await,
                Some(Err(error)) => {
                    tracing::debug!(%error, "the Docker events stream failed");
                    return;
                }
                None => return,
            },
            _ = checks.tick() => {
                if std::sync::Arc::strong_count(&runtime.inner) <= 1 {
                    return;
                }
                if tokio::time::timeout(CONNECT_TIMEOUT, docker.ping()).await.map_or(true, |r| r.is_err()) {
                    return;
                }
            }
        }
    }
}

async fn on_event(runtime: &DockerRuntime, event: EventMessage) {
    let Some(id) = event.actor.and_then(|actor| actor.id) else {
        return;
    };
    if event.action.as_deref() == Some("oom") {
        lock(&runtime.inner.oom_events).insert(id.clone());
    }
    let watched = {
        let mut watched = lock(&runtime.inner.watched);
        watched.retain(|_, sender| sender.receiver_count() > 0);
        watched.contains_key(&id)
    };
    if watched {
        refresh(runtime, &id).await;
    }
}

/// Looks at a waited-on container again and tells its waiters.
async fn refresh(runtime: &DockerRuntime, id: &str) {
    let container = ContainerId {
        runtime: super::DOCKER,
        id: id.to_owned(),
    };
    let observed = match runtime.status(&container).await {
        Ok(status) => Observed::Status(status),
        // Gone only when Docker says so; an engine that stopped answering says nothing.
        Err(_) if matches!(runtime.inspect_found(id).await, Ok(None)) => Observed::Gone,
        Err(_) => return,
    };
    if let Some(sender) = lock(&runtime.inner.watched).get(id) {
        sender.send_replace(observed);
    }
}

impl DockerRuntime {
    /// The waiters' channel of container `id`.
    fn subscribe(&self, id: &str) -> watch::Receiver<Observed> {
        lock(&self.inner.watched)
            .entry(id.to_owned())
            .or_insert_with(|| watch::channel(Observed::Unknown).0)
            .subscribe()
    }

    /// Stops feeding the waiters of a removed container.
    pub(super) fn forget(&self, id: &str) {
        lock(&self.inner.last_seen).remove(id);
        lock(&self.inner.sandbox_owners).remove(id);
        lock(&self.inner.oom_events).remove(id);
        if let Some(sender) = lock(&self.inner.watched).remove(id) {
            sender.send_replace(Observed::Gone);
        }
    }

    /// Resolves when the sandbox no longer runs: at once if it does not (or is gone), else
    /// when the events stream (or a reconnection) says it died or went. While Docker is
    /// away it waits: a sandbox is not taken for dead because it cannot be looked at.
    pub(super) async fn wait_sandbox(&self, sandbox: &SandboxId) {
        let mut updates = self.subscribe(&sandbox.0);
        loop {
            match self.inspect_found(&sandbox.0).await {
                Ok(None) => return,
                Ok(Some(inspect))
                    if !inspect
                        .state
                        .as_ref()
                        .and_then(|s| s.running)
                        .unwrap_or(false) =>
                {
                    return;
                }
                _ => {}
            }
            if updates.changed().await.is_err() {
                // Forgotten: it was removed.
                return;
            }
        }
    }

    /// Resolves when the container has exited: at once if it has, else when the events
    /// stream (or a reconnection) says so. An error only for a container Docker says does
    /// not exist: while Docker does not answer (stopping, or before the connection task has
    /// seen it go) this waits for the reconnection, rather than failing at once and being
    /// called again at once by a worker that would then spin.
    pub(super) async fn wait(&self, id: &ContainerId) -> Result<ContainerStatus> {
        let mut updates = self.subscribe(&id.id);
        match self.status(id).await {
            Ok(status) if status.state.is_exited() => {
                return Ok(self.late_oom(status, &mut updates).await);
            }
            Ok(_) => {}
            Err(error) if matches!(self.inspect_found(&id.id).await, Ok(None)) => {
                return Err(error);
            }
            Err(_) => {}
        }
        loop {
            if updates.changed().await.is_err() {
                return Err(super::not_found(&id.id));
            }
            let exited = match &*updates.borrow_and_update() {
                Observed::Status(status) if status.state.is_exited() => status.clone(),
                Observed::Gone => return Err(super::not_found(&id.id)),
                _ => continue,
            };
            return Ok(self.late_oom(exited, &mut updates).await);
        }
    }

    /// An exited container as Docker will not say: killed by the OOM killer although Docker
    /// saw the exit first. Only a container with a memory limit killed by SIGKILL can be one;
    /// for it, the `oom` event is given [`OOM_GRACE`] to arrive.
    async fn late_oom(
        &self,
        mut status: ContainerStatus,
        updates: &mut watch::Receiver<Observed>,
    ) -> ContainerStatus {
        let ContainerState::Exited {
            exit_code: SIGKILLED,
            oom_killed: false,
            ..
        } = status.state
        else {
            return status;
        };
        let limited = self
            .inspect_found(&status.id.id)
            .await
            .ok()
            .flatten()
            .is_some_and(|inspect| {
                inspect
                    .host_config
                    .and_then(|host| host.memory)
                    .is_some_and(|bytes| bytes > 0)
            });
        if !limited {
            return status;
        }
        let seen = || lock(&self.inner.oom_events).contains(&status.id.id);
        let _ = tokio::time::timeout(OOM_GRACE, async {
            while !seen() && updates.changed().await.is_ok() {}
        })
        .await;
        if seen()
            && let ContainerState::Exited { oom_killed, .. } = &mut status.state
        {
            *oom_killed = true;
        }
        status
    }
}
