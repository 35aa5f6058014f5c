//! What a pod worker reports: each container's status as the kubelet shows it (state,
//! lastState, ready, started, restartCount, image, containerID), and the pod's status —
//! phase, conditions, IPs, start time — posted through `pods/status` when it changes.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState as ApiState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus as ApiStatus, HostIP, Pod, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::api::{Patch, PatchParams};

use super::{Slot, Worker};
use crate::post::{Posted, post};
use crate::runtime::{ContainerState, ContainerStatus};
use crate::status;

impl Worker {
    fn api_status(&self, slot: &Slot, initializing: bool) -> ApiStatus {
        let terminated = |status: &ContainerStatus| match status.state {
            ContainerState::Exited {
                started_at,
                finished_at,
                exit_code,
                oom_killed,
            } => Some(ApiState {
                terminated: Some(ContainerStateTerminated {
                    exit_code,
                    reason: Some(
                        match (oom_killed, exit_code) {
                            (true, _) => "OOMKilled",
                            (false, 0) => "Completed",
                            (false, _) => "Error",
                        }
                        .to_owned(),
                    ),
                    started_at: Some(Time(started_at)),
                    finished_at: Some(Time(finished_at)),
                    container_id: Some(status.id.uri()),
                    ..ContainerStateTerminated::default()
                }),
                ..ApiState::default()
            }),
            _ => None,
        };
        let waiting = |reason: &str, message: Option<String>| ApiState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.to_owned()),
                message,
            }),
            ..ApiState::default()
        };
        let (state, last_state) = match (&slot.crash_loop, &slot.current) {
            (None, None) if slot.waiting.is_some() => {
                let (reason, message) = slot.waiting.clone().unwrap_or_default();
                (
                    waiting(reason, Some(message)),
                    slot.last.as_ref().and_then(terminated),
                )
            }
            (Some(message), current) => (
                waiting("CrashLoopBackOff", Some(message.clone())),
                current.as_ref().and_then(terminated),
            ),
            (None, Some(current)) => (
                match current.state {
                    ContainerState::Running { started_at } => ApiState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(Time(started_at)),
                        }),
                        ..ApiState::default()
                    },
                    ContainerState::Exited { .. } => terminated(current).unwrap_or_default(),
                    ContainerState::Created => waiting("ContainerCreating", None),
                },
                slot.last.as_ref().and_then(terminated),
            ),
            (None, None) => match &slot.adopted {
                Some(adopted) => (
                    adopted.state.clone().unwrap_or_default(),
                    adopted.last_state.clone(),
                ),
                None => (
                    waiting(
                        if initializing {
                            "PodInitializing"
                        } else {
                            "ContainerCreating"
                        },
                        None,
                    ),
                    None,
                ),
            },
        };
        let is_running = state.running.is_some();
        let succeeded = state.terminated.as_ref().is_some_and(|t| t.exit_code == 0);
        let shown = slot.current.as_ref().or(slot.last.as_ref());
        ApiStatus {
            name: slot.name.clone(),
            image: shown.map_or_else(|| slot.image.clone(), |s| s.image.clone()),
            image_id: shown.map(|s| s.image_id.clone()).unwrap_or_default(),
            container_id: shown
                .map(|s| s.id.uri())
                .or_else(|| slot.adopted.as_ref().and_then(|a| a.container_id.clone())),
            ready: if slot.init {
                succeeded
            } else {
                is_running && self.probe_says(slot, true)
            },
            started: Some(is_running && (slot.init || self.probe_says(slot, false))),
            restart_count: slot.restarts,
            state: Some(state),
            last_state: Some(last_state.unwrap_or_default()),
            ..ApiStatus::default()
        }
    }

    /// Posts the pod's status if it changed; `false` if that failed.
    pub(super) async fn report(&mut self) -> bool {
        let initializing = !self.init.is_empty();
        let mut init: Vec<ApiStatus> = self
            .init
            .iter()
            .map(|s| self.api_status(s, initializing))
            .collect();
        let mut main: Vec<ApiStatus> = self
            .main
            .iter()
            .map(|s| self.api_status(s, initializing))
            .collect();
        let mut phase = status::phase(&self.pod, &init, &main, self.finished);
        if self.terminated {
            phase = status::terminate(&self.pod, &mut init, &mut main, phase);
        }
        if let Some(terminal) = status::terminal_phase(&self.pod) {
            phase = terminal;
        }
        let now = Timestamp::now();
        let conditions = status::conditions(
            &self.pod,
            self.posted.as_ref().and_then(|s| s.conditions.as_deref()),
            &init,
            &main,
            phase,
            self.sandbox.is_some(),
            now,
        );
        let host_network = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let previous = self.pod.status.as_ref();
        let ip = if host_network {
            Some(self.node.internal_ip)
        } else if self.sandbox.is_some() || self.ip.is_some() {
            let earlier = previous
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok());
            let ip = match self.ip {
                Some(ip) => ip,
                None => self.node.pod_ip(&self.uid(), earlier),
            };
            self.ip = Some(ip);
            Some(ip)
        } else {
            previous
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok())
        };
        let host_ip = self.node.internal_ip.to_string();
        let mut status = PodStatus {
            phase: Some(phase.to_owned()),
            conditions: Some(conditions),
            host_ip: Some(host_ip.clone()),
            host_ips: Some(vec![HostIP { ip: host_ip }]),
            pod_ip: ip.map(|ip| ip.to_string()),
            pod_ips: ip.map(|ip| vec![PodIP { ip: ip.to_string() }]),
            start_time: self
                .posted
                .as_ref()
                .and_then(|s| s.start_time.clone())
                .or_else(|| previous.and_then(|s| s.start_time.clone()))
                .or(Some(Time(now))),
            init_container_statuses: (!init.is_empty()).then_some(init),
            container_statuses: Some(main),
            ..PodStatus::default()
        };
        // As the API will store it, so that its echo compares equal (see `drifted`).
        status::to_seconds(&mut status);
        if self.posted.as_deref() == Some(&status) {
            return true;
        }
        /// A merge patch of the status alone, encoded straight from the typed status.
        #[derive(serde::Serialize)]
        struct StatusOnly<'a> {
            status: &'a PodStatus,
        }
        let patch = Patch::Merge(StatusOnly { status: &status });
        let namespace = self.pod.metadata.namespace.as_deref().unwrap_or("default");
        let request = kube::core::Request::new(Pod::url_path(&(), Some(namespace)))
            .patch_subresource("status", self.name(), &PatchParams::default(), &patch);
        match post(&self.shared.client, request).await {
            Posted::Stored => {
                self.posted = Some(Box::new(status));
                true
            }
            Posted::Gone => true,
            Posted::Failed(error) => {
                tracing::debug!(pod = self.name(), %error, "could not post the pod's status");
                false
            }
        }
    }
}
