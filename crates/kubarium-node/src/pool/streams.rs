//! What the streaming subresources (`log`, `exec`, `attach`) need of the node agents: which
//! runtime container a pod's container name means now, and before its last restart.
//!
//! Pod workers publish their containers' ids into [`Containers`] as they start and replace
//! them; [`PodStreams`] reads it, falling back to the ids in the pod's status (a pod adopted
//! after a restart), and refuses as the kubelet's `validateContainerLogStatus` does when
//! there is nothing to read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{ContainerStatus as ApiStatus, Pod};

use super::{Shared, lock};
use crate::runtime::{ByteStream, ContainerId, ExecConfig, ExecSession, LogOptions};

/// A runtime container of a pod's container: the one now, and the one before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Instances {
    pub(crate) current: Option<ContainerId>,
    pub(crate) previous: Option<ContainerId>,
}

/// Every pod's containers, by pod uid then container name.
#[derive(Debug, Default)]
pub(crate) struct Containers(Mutex<HashMap<String, HashMap<String, Instances>>>);

impl Containers {
    /// Records pod `uid`'s containers as its worker sees them now.
    pub(crate) fn publish(
        &self,
        uid: &str,
        containers: impl IntoIterator<Item = (String, Instances)>,
    ) {
        let containers: HashMap<String, Instances> = containers.into_iter().collect();
        let mut map = lock(&self.0);
        if map.get(uid) != Some(&containers) {
            map.insert(uid.to_owned(), containers);
        }
    }

    /// Forgets a pod that is gone.
    pub(crate) fn forget(&self, uid: &str) {
        lock(&self.0).remove(uid);
    }

    fn get(&self, uid: &str, container: &str) -> Option<Instances> {
        lock(&self.0).get(uid)?.get(container).cloned()
    }
}

/// Why a stream could not be had; each becomes a `Status` of its own code.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// There is no such container to read or run in (404).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be served in the container's state (400).
    #[error("{0}")]
    BadRequest(String),
    /// The pod's node agent is not running (503).
    #[error("{0}")]
    Unavailable(String),
    /// The container runtime failed.
    #[error(transparent)]
    Runtime(#[from] crate::Error),
}

/// The node agents' side of `kubectl logs`, `exec` and `attach`; cheap to clone.
#[derive(Clone)]
pub struct PodStreams {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for PodStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodStreams").finish_non_exhaustive()
    }
}

impl PodStreams {
    /// The log of `container` of `pod` (its `previous` instance if asked), as the runtime
    /// streams it.
    pub async fn logs(
        &self,
        pod: &Pod,
        container: &str,
        previous: bool,
        options: LogOptions,
    ) -> Result<ByteStream, StreamError> {
        self.agent_running(pod)?;
        let id = self.log_container(pod, container, previous)?;
        Ok(self.shared.runtime.logs(&id, options).await?)
    }

    /// Runs a command in `container` of `pod`, or attaches to it (an empty command).
    pub async fn exec(
        &self,
        pod: &Pod,
        container: &str,
        config: ExecConfig,
    ) -> Result<ExecSession, StreamError> {
        self.agent_running(pod)?;
        let runtime = &self.shared.runtime;
        if runtime.name() == "hollow" {
            return Err(StreamError::BadRequest(
                crate::runtime::HOLLOW_EXEC.to_owned(),
            ));
        }
        let not_found = || StreamError::NotFound(format!("container not found ({container:?})"));
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let id = match self.shared.containers.get(uid, container) {
            Some(instances) => instances.current,
            None => find_status(pod, container)
                .filter(|s| s.state.as_ref().is_some_and(|s| s.running.is_some()))
                .and_then(|s| self.id_of(s.container_id.as_deref())),
        }
        .ok_or_else(not_found)?;
        match runtime.container_status(&id).await {
            Ok(status) if !status.state.is_exited() => {}
            _ => return Err(not_found()),
        }
        Ok(runtime.exec(&id, config).await?)
    }

    /// 503 when the pod's node has no running agent here (stopped, like a crashed kubelet).
    fn agent_running(&self, pod: &Pod) -> Result<(), StreamError> {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        let state = lock(&self.shared.state);
        match state.agents.get(node) {
            Some(agent) if *agent.running.borrow() => Ok(()),
            Some(_) => Err(StreamError::Unavailable(format!(
                "the agent of node {node} is stopped; start it with `kubariumd node start {node}` and try again"
            ))),
            None => Err(StreamError::Unavailable(format!(
                "no node agent of this cluster runs node {node:?}, so its containers cannot be reached"
            ))),
        }
    }

    /// The container whose log to read, as the kubelet's `validateContainerLogStatus`
    /// chooses it.
    fn log_container(
        &self,
        pod: &Pod,
        container: &str,
        previous: bool,
    ) -> Result<ContainerId, StreamError> {
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let bad = |message: String| StreamError::BadRequest(message);
        let known = self.shared.containers.get(uid, container);
        let status = find_status(pod, container);
        if known.is_none() && status.is_none() {
            return Err(bad(format!(
                "container {container:?} in pod {pod_name:?} is not available"
            )));
        }
        let last_terminated = status
            .and_then(|s| s.last_state.as_ref())
            .and_then(|s| s.terminated.as_ref());
        if previous {
            return known
                .and_then(|k| k.previous)
                .or_else(|| self.id_of(last_terminated.and_then(|t| t.container_id.as_deref())))
                .ok_or_else(|| {
                    bad(format!(
                        "previous terminated container {container:?} in pod {pod_name:?} not found"
                    ))
                });
        }
        if let Some(id) = known.as_ref().and_then(|k| k.current.clone()) {
            return Ok(id);
        }
        let state = status.and_then(|s| s.state.as_ref());
        let from_status = if state.is_some_and(|s| s.running.is_some()) {
            status.and_then(|s| s.container_id.as_deref())
        } else {
            state
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.container_id.as_deref())
                .or_else(|| last_terminated.and_then(|t| t.container_id.as_deref()))
        };
        if let Some(id) = self
            .id_of(from_status)
            .or_else(|| known.and_then(|k| k.previous))
        {
            return Ok(id);
        }
        let waiting = state.and_then(|s| s.waiting.as_ref());
        Err(bad(match waiting.and_then(|w| w.reason.as_deref()) {
            Some("ErrImagePull") => format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: image can't be pulled"
            ),
            Some("ImagePullBackOff") => format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: trying and failing to pull image"
            ),
            Some(reason) => {
                format!("container {container:?} in pod {pod_name:?} is waiting to start: {reason}")
            }
            None if state.is_some_and(|s| s.terminated.is_some()) => {
                format!("container {container:?} in pod {pod_name:?} is terminated")
            }
            None => format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: ContainerCreating"
            ),
        }))
    }

    /// A `containerID` from a pod's status (`docker://…`) as this pool's runtime names it.
    fn id_of(&self, uri: Option<&str>) -> Option<ContainerId> {
        let runtime = self.shared.runtime.name();
        let id = uri?.strip_prefix(runtime)?.strip_prefix("://")?;
        (!id.is_empty()).then(|| ContainerId {
            runtime,
            id: id.to_owned(),
        })
    }
}

fn find_status<'a>(pod: &'a Pod, container: &str) -> Option<&'a ApiStatus> {
    let status = pod.status.as_ref()?;
    [
        &status.container_statuses,
        &status.init_container_statuses,
        &status.ephemeral_container_statuses,
    ]
    .into_iter()
    .flatten()
    .flatten()
    .find(|s| s.name == container)
}
