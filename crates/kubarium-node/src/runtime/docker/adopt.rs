//! What Docker already runs for a pod, found by the containers' labels, so an agent that
//! restarted adopts it ([`ContainerRuntime::pod_containers`]), and the pods this cluster has
//! containers for, so those whose pod is gone can be removed
//! ([`ContainerRuntime::pod_uids`]).
//!
//! [`ContainerRuntime::pod_containers`]: crate::runtime::ContainerRuntime::pod_containers
//! [`ContainerRuntime::pod_uids`]: crate::runtime::ContainerRuntime::pod_uids

use std::collections::{BTreeSet, HashMap};

use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptions;

use super::{DOCKER, DockerRuntime, pods, spec};
use crate::runtime::{
    ContainerId, ContainerState, PodContainer, PodContainers, Sandbox, SandboxId,
};
use crate::{Error, Result};

impl DockerRuntime {
    /// Deletes the cluster from Docker (an explicit action, `kubariumd delete`): removes
    /// every container labelled with it, its volumes (pods' memory emptyDirs) and its
    /// network. Returns how many containers went.
    pub async fn delete_cluster(&self) -> Result<usize> {
        let mut ready = self.watch_ready();
        // `start` tried once already; a reconnect in flight gets a moment.
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), ready.wait_for(|up| *up)).await;
        let docker = self.docker()?;
        let containers = self.labelled(&[]).await?;
        for summary in &containers {
            if let Some(id) = &summary.id {
                self.force_remove(&docker, id).await?;
            }
        }
        self.remove_volumes(&docker, &[]).await?;
        match docker.remove_network(self.network()).await {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(error) => {
                return Err(Error::Runtime {
                    reason: format!("remove network {}: {error}", self.network()),
                });
            }
        }
        Ok(containers.len())
    }

    /// Every container of this cluster (running or not) whose labels match `labels`.
    async fn labelled(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>> {
        let docker = self.docker()?;
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
            .map_err(|error| Error::Runtime {
                reason: format!("list containers: {error}"),
            })
    }

    /// The sandbox and containers of pod `uid`, from their labels; `None` when it has none.
    pub(super) async fn containers_of_pod(&self, uid: &str) -> Result<Option<PodContainers>> {
        let found = self.labelled(&[(spec::POD_UID_LABEL, uid)]).await?;
        if found.is_empty() {
            return Ok(None);
        }
        let mut sandbox: Option<(Sandbox, bool)> = None;
        let mut containers = Vec::new();
        for summary in found {
            let (Some(id), Some(labels)) = (summary.id, summary.labels) else {
                continue;
            };
            let id = ContainerId {
                runtime: DOCKER,
                id,
            };
            if labels.get(spec::TYPE_LABEL).map(String::as_str) == Some(spec::TYPE_SANDBOX) {
                let Ok(inspect) = self.inspect(&id.id).await else {
                    continue;
                };
                let running = matches!(spec::state(&inspect), ContainerState::Running { .. });
                // Of two sandboxes (one left from before), the running one is the pod's.
                if sandbox.as_ref().is_none_or(|(_, up)| !up) {
                    let ip = pods::ip_on(&inspect, &self.inner.network);
                    sandbox = Some((
                        Sandbox {
                            id: SandboxId(id.id),
                            ip,
                        },
                        running,
                    ));
                }
                continue;
            }
            if labels.get(spec::TYPE_LABEL).map(String::as_str) == Some(spec::TYPE_KEEPER) {
                // Not one of the pod's containers; it goes with the sandbox.
                continue;
            }
            let Some(name) = labels.get(spec::CONTAINER_NAME_LABEL) else {
                continue;
            };
            let attempt = labels
                .get(spec::ATTEMPT_LABEL)
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            if let Ok(status) = self.status(&id).await {
                containers.push(PodContainer {
                    name: name.clone(),
                    attempt,
                    status,
                });
            }
        }
        Ok(Some(PodContainers {
            sandbox,
            containers,
        }))
    }

    /// The uids of every pod this cluster has containers for.
    pub(super) async fn pods_with_containers(&self) -> Result<Vec<String>> {
        let uids: BTreeSet<String> = self
            .labelled(&[])
            .await?
            .into_iter()
            .filter_map(|c| c.labels?.get(spec::POD_UID_LABEL).cloned())
            .filter(|uid| !uid.is_empty())
            .collect();
        Ok(uids.into_iter().collect())
    }
}
