//! The kubelet's status against the API's copy of it: what was posted is kept as the API
//! stores it (times to the second), so its own echo compares equal and a write by anyone
//! else to what the kubelet owns shows, for the worker to put its status back, as
//! upstream's status manager does on its periodic sync (`needsReconcile`).

use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::KUBELET_CONDITIONS;

/// Truncates every time in `status` to the second, as the API's timestamps are.
pub(crate) fn to_seconds(status: &mut PodStatus) {
    fn time(time: &mut Option<Time>) {
        if let Some(Time(at)) = time
            && let Ok(whole) = jiff::Timestamp::from_second(at.as_second())
        {
            *at = whole;
        }
    }
    fn state(state: &mut Option<ContainerState>) {
        let Some(state) = state else { return };
        if let Some(running) = &mut state.running {
            time(&mut running.started_at);
        }
        if let Some(terminated) = &mut state.terminated {
            time(&mut terminated.started_at);
            time(&mut terminated.finished_at);
        }
    }
    time(&mut status.start_time);
    for condition in status.conditions.iter_mut().flatten() {
        time(&mut condition.last_probe_time);
        time(&mut condition.last_transition_time);
    }
    let containers = [
        &mut status.init_container_statuses,
        &mut status.container_statuses,
        &mut status.ephemeral_container_statuses,
    ];
    for container in containers.into_iter().flatten().flatten() {
        state(&mut container.state);
        state(&mut container.last_state);
    }
}

/// Whether the API's copy of a pod's status differs from what this kubelet last `posted`
/// in what the kubelet owns: the phase, reason and message, the IPs, the start time, the
/// containers' statuses and the kubelet's conditions. Others' conditions and fields (the
/// scheduler's `PodScheduled` and nominated node, the API server's QoS class) are theirs.
pub(crate) fn drifted(api: Option<&PodStatus>, posted: &PodStatus) -> bool {
    let Some(api) = api else {
        return true;
    };
    fn owned(status: &PodStatus) -> Vec<&PodCondition> {
        let conditions = status.conditions.iter().flatten();
        conditions
            .filter(|c| KUBELET_CONDITIONS.contains(&c.type_.as_str()))
            .collect()
    }
    fn containers(list: &Option<Vec<ContainerStatus>>) -> &[ContainerStatus] {
        list.as_deref().unwrap_or_default()
    }
    api.phase != posted.phase
        || api.reason != posted.reason
        || api.message != posted.message
        || api.host_ip != posted.host_ip
        || api.host_ips != posted.host_ips
        || api.pod_ip != posted.pod_ip
        || api.pod_ips != posted.pod_ips
        || api.start_time != posted.start_time
        || containers(&api.init_container_statuses) != containers(&posted.init_container_statuses)
        || containers(&api.container_statuses) != containers(&posted.container_statuses)
        || owned(api) != owned(posted)
}
