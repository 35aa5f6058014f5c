//! A pod's status from its containers' statuses, as the kubelet computes it: the phase
//! (`getPhase`), the conditions it owns (`PodReadyToStartContainers`, `Initialized`, `Ready`,
//! `ContainersReady`, and `PodScheduled` for pods bound without a scheduler) with their
//! reasons and messages, and the restart back-off. Pure functions of typed objects, so each
//! rule is tested without a cluster.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

mod drift;

pub(crate) use drift::{drifted, to_seconds};

/// The first back-off before a crashed container is restarted again.
pub(crate) const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// The longest back-off.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Conditions the kubelet owns; any other condition on a pod is kept as it is.
const KUBELET_CONDITIONS: [&str; 4] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

/// The pod's phase as the API shows it, if terminal: a pod never leaves `Succeeded` or
/// `Failed`, whoever wrote it (the kubelet's guard against an illegal phase transition).
pub(crate) fn terminal_phase(pod: &Pod) -> Option<&'static str> {
    match pod.status.as_ref()?.phase.as_deref()? {
        "Succeeded" => Some("Succeeded"),
        "Failed" => Some("Failed"),
        _ => None,
    }
}

/// Whether a container that exited with `exit_code` is restarted under `policy`.
pub(crate) fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// The back-off after `current` (none yet: the first restart is immediate, then 10 s,
/// doubling to 5 min), as the kubelet's per-container back-off does. An entry not touched
/// for twice the maximum has expired and starts over.
pub(crate) fn next_backoff(current: Option<Duration>, since_last_restart: Duration) -> Duration {
    match current {
        Some(current) if since_last_restart <= 2 * BACKOFF_MAX => (current * 2).min(BACKOFF_MAX),
        _ => BACKOFF_INITIAL,
    }
}

/// Whether a restart must wait: the container finished less than `backoff` ago.
pub(crate) fn in_backoff(
    backoff: Option<Duration>,
    since_finished: Duration,
    since_last_restart: Duration,
) -> bool {
    match backoff {
        Some(backoff) if since_last_restart <= 2 * BACKOFF_MAX => since_finished < backoff,
        _ => false,
    }
}

/// A duration as Go prints one: `10s`, `1m20s`, `5m0s`.
pub(crate) fn go_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

/// `name_namespace(uid)`, the kubelet's way of naming a pod in messages.
pub(crate) fn format_pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

fn status_of<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|status| status.name == name)
}

fn terminated_code(status: &ContainerStatus) -> Option<i32> {
    status
        .state
        .as_ref()
        .and_then(|state| state.terminated.as_ref())
        .map(|terminated| terminated.exit_code)
}

fn is_running(status: &ContainerStatus) -> bool {
    status
        .state
        .as_ref()
        .is_some_and(|state| state.running.is_some())
}

fn has_last_termination(status: &ContainerStatus) -> bool {
    status
        .last_state
        .as_ref()
        .is_some_and(|state| state.terminated.is_some())
}

fn any_regular_started(pod: &Pod, main: &[ContainerStatus]) -> bool {
    let spec = pod.spec.as_ref();
    spec.map(|spec| spec.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|container| status_of(main, &container.name))
        .any(|status| {
            status.started == Some(true)
                || is_running(status)
                || terminated_code(status).is_some()
                || has_last_termination(status)
        })
}

/// The pod's phase from its containers' statuses, as the kubelet's `getPhase`. `terminal`
/// says the pod will run nothing more (its containers are not restarted whatever the policy).
pub(crate) fn phase(
    pod: &Pod,
    init: &[ContainerStatus],
    main: &[ContainerStatus],
    terminal: bool,
) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "Pending";
    };
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let (mut pending_init, mut failed_init) = (0, 0);
    for container in spec.init_containers.as_deref().unwrap_or_default() {
        let Some(status) = status_of(init, &container.name) else {
            pending_init += 1;
            continue;
        };
        match terminated_code(status) {
            _ if is_running(status) => pending_init += 1,
            Some(0) => {}
            Some(_) => failed_init += 1,
            None if has_last_termination(status) => failed_init += 1,
            None => pending_init += 1,
        }
    }
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for container in &spec.containers {
        let Some(status) = status_of(main, &container.name) else {
            unknown += 1;
            continue;
        };
        if is_running(status) {
            running += 1;
        } else if let Some(code) = terminated_code(status) {
            stopped += 1;
            if code == 0 {
                succeeded += 1;
            }
        } else if status.state.as_ref().is_some_and(|s| s.waiting.is_some()) {
            if has_last_termination(status) {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if (pending_init > 0 && !any_regular_started(pod, main)) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

/// The kubelet's reason for a container whose end it did not see.
const STATUS_UNKNOWN: &str = "ContainerStatusUnknown";

fn waiting(status: &ContainerStatus) -> bool {
    status
        .state
        .as_ref()
        .is_none_or(|state| state.waiting.is_some())
}

fn unknown_end() -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: 137,
            reason: Some(STATUS_UNKNOWN.to_owned()),
            message: Some(
                "The container could not be located when the pod was terminated".to_owned(),
            ),
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    }
}

/// A deleted pod's final statuses, once its containers were stopped, as the kubelet's status
/// manager `TerminatePod` leaves them: a container that did not end visibly is terminated
/// with `ContainerStatusUnknown` and exit code 137 (an app container only once the pod
/// initialized; an init container unless it and every one after it never left waiting), and
/// a phase that is not terminal becomes `Failed`.
pub(crate) fn terminate(
    pod: &Pod,
    init: &mut [ContainerStatus],
    main: &mut [ContainerStatus],
    phase: &'static str,
) -> &'static str {
    let has_init = pod
        .spec
        .as_ref()
        .is_some_and(|s| s.init_containers.as_ref().is_some_and(|c| !c.is_empty()));
    let initialized = !has_init
        || main
            .iter()
            .any(|status| has_last_termination(status) || !waiting(status))
        || init
            .last()
            .is_some_and(|last| terminated_code(last) == Some(0));
    if initialized {
        for status in main.iter_mut().filter(|s| terminated_code(s).is_none()) {
            status.state = Some(unknown_end());
        }
    }
    let attempted = init
        .iter()
        .rposition(|status| !waiting(status) || has_last_termination(status))
        .map_or(0, |last| last + 1);
    for status in init[..attempted]
        .iter_mut()
        .filter(|s| terminated_code(s).is_none())
    {
        status.state = Some(unknown_end());
    }
    match phase {
        "Succeeded" | "Failed" => phase,
        _ => "Failed",
    }
}

/// A condition without a transition time yet; [`conditions`] fills it in.
fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        ..PodCondition::default()
    }
}

/// Condition `type_`: true unless there are `messages`, then false with `reason` and the
/// messages joined as the kubelet joins them.
fn unless(type_: &str, reason: &str, messages: &[String]) -> PodCondition {
    if messages.is_empty() {
        condition(type_, true, None, None)
    } else {
        condition(type_, false, Some(reason), Some(messages.join(", ")))
    }
}

/// `[a b]`, as Go prints a slice of names.
fn names(list: &[String]) -> String {
    format!("[{}]", list.join(" "))
}

fn containers_ready(pod: &Pod, main: &[ContainerStatus], phase: &str) -> PodCondition {
    const TYPE: &str = "ContainersReady";
    let spec_containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let mut unknown = Vec::new();
    let mut unready = Vec::new();
    for container in spec_containers {
        match status_of(main, &container.name) {
            Some(status) if !status.ready => unready.push(container.name.clone()),
            Some(_) => {}
            None => unknown.push(container.name.clone()),
        }
    }
    if phase == "Succeeded" && unknown.is_empty() {
        return condition(TYPE, false, Some("PodCompleted"), None);
    }
    if phase == "Failed" {
        return condition(TYPE, false, Some("PodFailed"), None);
    }
    let mut messages = Vec::new();
    if !unknown.is_empty() {
        messages.push(format!(
            "containers with unknown status: {}",
            names(&unknown)
        ));
    }
    if !unready.is_empty() {
        messages.push(format!(
            "containers with unready status: {}",
            names(&unready)
        ));
    }
    unless(TYPE, "ContainersNotReady", &messages)
}

fn initialized(
    pod: &Pod,
    init: &[ContainerStatus],
    main: &[ContainerStatus],
    phase: &str,
) -> PodCondition {
    const TYPE: &str = "Initialized";
    let init_containers = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.init_containers.as_deref())
        .unwrap_or_default();
    if init_containers.is_empty() {
        return condition(TYPE, true, None, None);
    }
    let mut unknown = Vec::new();
    let mut incomplete = Vec::new();
    for container in init_containers {
        match status_of(init, &container.name) {
            None => unknown.push(container.name.clone()),
            Some(status) if terminated_code(status) != Some(0) => {
                incomplete.push(container.name.clone());
            }
            Some(_) => {}
        }
    }
    if phase == "Succeeded" && unknown.is_empty() {
        return condition(TYPE, true, Some("PodCompleted"), None);
    }
    if any_regular_started(pod, main) {
        return condition(TYPE, true, None, None);
    }
    let mut messages = Vec::new();
    if !unknown.is_empty() {
        messages.push(format!(
            "containers with unknown status: {}",
            names(&unknown)
        ));
    }
    if !incomplete.is_empty() {
        messages.push(format!(
            "containers with incomplete status: {}",
            names(&incomplete)
        ));
    }
    unless(TYPE, "ContainersNotInitialized", &messages)
}

/// `Ready`: `ContainersReady`'s status, reason and message while that is not true; then
/// each of the pod's readiness gates names a condition that others set in `current` (the
/// pod's conditions as the API last showed them), and `Ready` waits for all of them to be
/// `True` (`GeneratePodReadyCondition`).
fn ready(pod: &Pod, containers_ready: &PodCondition, current: &[PodCondition]) -> PodCondition {
    const TYPE: &str = "Ready";
    if containers_ready.status != "True" {
        let mut ready = containers_ready.clone();
        TYPE.clone_into(&mut ready.type_);
        return ready;
    }
    let gates = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.readiness_gates.as_deref())
        .unwrap_or_default();
    let unready: Vec<String> = gates
        .iter()
        .filter_map(|gate| {
            let kind = &gate.condition_type;
            match current.iter().find(|c| &c.type_ == kind) {
                None => Some(format!(
                    "corresponding condition of pod readiness gate {kind:?} does not exist."
                )),
                Some(c) if c.status != "True" => Some(format!(
                    "the status of pod readiness gate {kind:?} is not \"True\", but {}",
                    c.status
                )),
                Some(_) => None,
            }
        })
        .collect();
    unless(TYPE, "ReadinessGatesNotReady", &unready)
}

/// The pod's conditions: the kubelet's own, computed here, then `PodScheduled` and every
/// condition others own as the API last showed them (`True` for `PodScheduled` if the pod
/// was bound without a scheduler). A kubelet condition whose status did not change since
/// `posted` (what this kubelet last wrote, which the watch may not have delivered yet; the
/// API's copy before its first write) keeps its `lastTransitionTime`.
pub(crate) fn conditions(
    pod: &Pod,
    posted: Option<&[PodCondition]>,
    init: &[ContainerStatus],
    main: &[ContainerStatus],
    phase: &str,
    sandbox_ready: bool,
    now: Timestamp,
) -> Vec<PodCondition> {
    let current = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let previous = posted.unwrap_or(current);
    let containers_ready = containers_ready(pod, main, phase);
    let mut computed = vec![
        condition("PodReadyToStartContainers", sandbox_ready, None, None),
        initialized(pod, init, main, phase),
        ready(pod, &containers_ready, current),
        containers_ready,
    ];
    for condition in &mut computed {
        let before = previous.iter().find(|c| c.type_ == condition.type_);
        condition.last_transition_time = match before {
            Some(before) if before.status == condition.status => {
                before.last_transition_time.clone()
            }
            _ => condition.last_transition_time.clone().or(Some(Time(now))),
        };
    }
    let scheduled =
        |list: &[PodCondition]| list.iter().find(|c| c.type_ == "PodScheduled").cloned();
    // A pod bound without a scheduler has only the condition this kubelet posted, which
    // the API's copy may not show yet.
    match scheduled(current).or_else(|| scheduled(previous)) {
        Some(scheduled) => computed.push(scheduled),
        None => computed.push(PodCondition {
            last_transition_time: Some(Time(now)),
            ..condition("PodScheduled", true, None, None)
        }),
    }
    computed.extend(
        current
            .iter()
            .filter(|c| {
                c.type_ != "PodScheduled" && !KUBELET_CONDITIONS.contains(&c.type_.as_str())
            })
            .cloned(),
    );
    computed
}

#[cfg(test)]
mod tests;
