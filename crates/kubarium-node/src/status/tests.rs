//! The kubelet's status rules, one case each.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    PodStatus,
};
use serde_json::json;

use super::*;

fn pod(policy: &str, init: &[&str], main: &[&str]) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "restartPolicy": policy,
            "initContainers": init.iter().map(|n| json!({"name": n, "image": "busybox"})).collect::<Vec<_>>(),
            "containers": main.iter().map(|n| json!({"name": n, "image": "nginx"})).collect::<Vec<_>>(),
        }
    }))
    .unwrap()
}

fn running(name: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        ready: true,
        started: Some(true),
        state: Some(ContainerState {
            running: Some(ContainerStateRunning { started_at: None }),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    }
}

fn exited(name: &str, code: i32) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        started: Some(false),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    }
}

fn waiting(name: &str, reason: &str, crashed_before: bool) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: None,
            }),
            ..ContainerState::default()
        }),
        last_state: crashed_before.then(|| exited(name, 1).state.unwrap()),
        ..ContainerStatus::default()
    }
}

#[test]
fn phases_follow_get_phase() {
    let web = pod("Always", &[], &["a", "b"]);
    assert_eq!(phase(&web, &[], &[], false), "Pending");
    assert_eq!(
        phase(
            &web,
            &[],
            &[waiting("a", "ContainerCreating", false), running("b")],
            false
        ),
        "Pending"
    );
    assert_eq!(
        phase(&web, &[], &[running("a"), running("b")], false),
        "Running"
    );
    // Crash looping under Always is still Running.
    assert_eq!(
        phase(
            &web,
            &[],
            &[waiting("a", "CrashLoopBackOff", true), running("b")],
            false
        ),
        "Running"
    );
    assert_eq!(
        phase(&web, &[], &[exited("a", 0), exited("b", 0)], false),
        "Running"
    );
    assert_eq!(
        phase(&web, &[], &[exited("a", 0), exited("b", 1)], true),
        "Failed"
    );

    let job = pod("Never", &[], &["a"]);
    assert_eq!(phase(&job, &[], &[exited("a", 0)], false), "Succeeded");
    assert_eq!(phase(&job, &[], &[exited("a", 2)], false), "Failed");
    let retry = pod("OnFailure", &[], &["a"]);
    assert_eq!(phase(&retry, &[], &[exited("a", 2)], false), "Running");
    assert_eq!(phase(&retry, &[], &[exited("a", 0)], false), "Succeeded");

    let init = pod("Never", &["setup"], &["a"]);
    let initializing = [waiting("a", "PodInitializing", false)];
    assert_eq!(
        phase(&init, &[running("setup")], &initializing, false),
        "Pending"
    );
    assert_eq!(
        phase(&init, &[exited("setup", 1)], &initializing, false),
        "Failed"
    );
    let init_always = pod("Always", &["setup"], &["a"]);
    assert_eq!(
        phase(&init_always, &[exited("setup", 1)], &initializing, false),
        "Pending"
    );
}

#[test]
fn conditions_name_unready_containers() {
    let web = pod("Always", &[], &["a", "b"]);
    let now = Timestamp::UNIX_EPOCH;
    let list = conditions(
        &web,
        None,
        &[],
        &[running("a"), waiting("b", "ContainerCreating", false)],
        "Pending",
        true,
        now,
    );
    let types: Vec<_> = list
        .iter()
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("PodReadyToStartContainers", "True"),
            ("Initialized", "True"),
            ("Ready", "False"),
            ("ContainersReady", "False"),
            ("PodScheduled", "True"),
        ]
    );
    assert_eq!(list[2].reason.as_deref(), Some("ContainersNotReady"));
    assert_eq!(
        list[2].message.as_deref(),
        Some("containers with unready status: [b]")
    );
    assert!(list.iter().all(|c| c.last_transition_time.is_some()));

    let ready = conditions(
        &web,
        None,
        &[],
        &[running("a"), running("b")],
        "Running",
        true,
        now,
    );
    assert!(ready.iter().all(|c| c.status == "True"));

    let job = pod("Never", &[], &["a"]);
    let done = conditions(&job, None, &[], &[exited("a", 0)], "Succeeded", false, now);
    assert_eq!(done[0].status, "False");
    assert_eq!(done[2].reason.as_deref(), Some("PodCompleted"));
    let failed = conditions(&job, None, &[], &[exited("a", 1)], "Failed", false, now);
    assert_eq!(failed[3].reason.as_deref(), Some("PodFailed"));
}

#[test]
fn init_containers_hold_initialized() {
    let init = pod("Always", &["one", "two"], &["a"]);
    let list = conditions(
        &init,
        None,
        &[exited("one", 0), waiting("two", "PodInitializing", false)],
        &[waiting("a", "PodInitializing", false)],
        "Pending",
        true,
        Timestamp::UNIX_EPOCH,
    );
    assert_eq!(list[1].status, "False");
    assert_eq!(list[1].reason.as_deref(), Some("ContainersNotInitialized"));
    assert_eq!(
        list[1].message.as_deref(),
        Some("containers with incomplete status: [two]")
    );
}

/// The conditions of `pod` with its one container `a` running, at the epoch.
fn running_conditions(pod: &Pod, posted: Option<&[PodCondition]>) -> Vec<PodCondition> {
    conditions(
        pod,
        posted,
        &[],
        &[running("a")],
        "Running",
        true,
        Timestamp::UNIX_EPOCH,
    )
}

#[test]
fn transition_times_survive_unchanged_conditions() {
    let web = pod("Always", &[], &["a"]);
    let first = running_conditions(&web, None);
    let later = Timestamp::from_second(100).unwrap();
    let second = conditions(
        &web,
        Some(&first),
        &[],
        &[waiting("a", "CrashLoopBackOff", true)],
        "Running",
        true,
        later,
    );
    assert_eq!(
        second[0].last_transition_time,
        first[0].last_transition_time
    );
    assert_eq!(second[2].last_transition_time, Some(Time(later)));
}

/// A pod whose status, as the API shows it, carries `conditions` (type, status).
fn with_conditions(mut pod: Pod, conditions: &[(&str, &str)]) -> Pod {
    pod.status = Some(k8s_openapi::api::core::v1::PodStatus {
        conditions: Some(
            conditions
                .iter()
                .map(|(type_, status)| PodCondition {
                    type_: (*type_).into(),
                    status: (*status).into(),
                    ..PodCondition::default()
                })
                .collect(),
        ),
        ..Default::default()
    });
    pod
}

#[test]
fn readiness_gates_hold_ready_until_their_conditions_are_true() {
    let mut gated = pod("Always", &[], &["a"]);
    gated.spec.as_mut().unwrap().readiness_gates = Some(
        ["example.com/lb", "example.com/dns"]
            .map(|kind| k8s_openapi::api::core::v1::PodReadinessGate {
                condition_type: kind.into(),
            })
            .into(),
    );
    let ready = |pod: &Pod, main: &[ContainerStatus]| {
        let list = conditions(pod, None, &[], main, "Running", true, Timestamp::UNIX_EPOCH);
        let ready = list.into_iter().find(|c| c.type_ == "Ready").unwrap();
        (ready.status, ready.reason, ready.message)
    };

    // Containers not ready: Ready says so, as ContainersReady does, gates or not.
    let (status, reason, _) = ready(&gated, &[waiting("a", "ContainerCreating", false)]);
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("False", Some("ContainersNotReady"))
    );

    // Containers ready, one gate's condition missing and the other False.
    let half = with_conditions(gated.clone(), &[("example.com/dns", "False")]);
    let (status, reason, message) = ready(&half, &[running("a")]);
    assert_eq!(status, "False");
    assert_eq!(reason.as_deref(), Some("ReadinessGatesNotReady"));
    assert_eq!(
        message.as_deref(),
        Some(
            "corresponding condition of pod readiness gate \"example.com/lb\" does not exist., \
             the status of pod readiness gate \"example.com/dns\" is not \"True\", but False"
        )
    );

    let open = with_conditions(
        gated,
        &[("example.com/dns", "True"), ("example.com/lb", "True")],
    );
    let (status, reason, message) = ready(&open, &[running("a")]);
    assert_eq!((status.as_str(), reason, message), ("True", None, None));
}

#[test]
fn conditions_others_own_come_from_the_api_not_from_the_last_write() {
    let web = pod("Always", &[], &["a"]);
    let posted = running_conditions(&web, None);
    // Since this kubelet's write, the scheduler's condition stayed and someone added theirs.
    let now = with_conditions(
        web,
        &[("PodScheduled", "True"), ("DisruptionTarget", "True")],
    );
    let list = running_conditions(&now, Some(&posted));
    let types: Vec<_> = list.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(
        types,
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
            "DisruptionTarget",
        ]
    );
}

#[test]
fn backoff_doubles_to_five_minutes_and_expires() {
    let recent = Duration::from_secs(1);
    let mut backoff = None;
    let mut seen = Vec::new();
    for _ in 0..7 {
        let next = next_backoff(backoff, recent);
        seen.push(go_duration(next));
        backoff = Some(next);
    }
    assert_eq!(
        seen,
        ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s"]
    );
    assert_eq!(
        next_backoff(backoff, Duration::from_secs(601)),
        BACKOFF_INITIAL
    );
    assert!(in_backoff(
        Some(BACKOFF_INITIAL),
        Duration::from_secs(3),
        recent
    ));
    assert!(!in_backoff(
        Some(BACKOFF_INITIAL),
        Duration::from_secs(11),
        recent
    ));
    assert!(!in_backoff(None, Duration::ZERO, recent));
    assert!(!in_backoff(
        Some(BACKOFF_MAX),
        Duration::ZERO,
        Duration::from_secs(601)
    ));
}

#[test]
fn restart_policies() {
    assert!(should_restart("Always", 0));
    assert!(should_restart("OnFailure", 1));
    assert!(!should_restart("OnFailure", 0));
    assert!(!should_restart("Never", 1));
    assert_eq!(format_pod(&pod("Always", &[], &["a"])), "web_default(u1)");
}

#[test]
fn a_deleted_pods_final_status_ends_every_container() {
    let code = |status: &ContainerStatus| {
        let terminated = status.state.as_ref().and_then(|s| s.terminated.as_ref());
        terminated.map(|t| (t.exit_code, t.reason.clone().unwrap_or_default()))
    };
    // Stopped ones keep how they ended; one never seen to end is unknown, 137.
    let web = pod("Always", &[], &["a", "b"]);
    let mut main = [exited("a", 143), waiting("b", "ContainerCreating", false)];
    let phase = terminate(&web, &mut [], &mut main, "Pending");
    assert_eq!(phase, "Failed");
    assert_eq!(code(&main[0]), Some((143, String::new())));
    assert_eq!(
        code(&main[1]),
        Some((137, "ContainerStatusUnknown".to_owned()))
    );
    // All ended well: the phase the containers give stays.
    let mut main = [exited("a", 0), exited("b", 0)];
    assert_eq!(
        terminate(&web, &mut [], &mut main, "Succeeded"),
        "Succeeded"
    );
    // Not initialized: app containers keep waiting, and so do the init containers that
    // never started; the one that ran is ended.
    let init_pod = pod("Always", &["i1", "i2"], &["a"]);
    let mut init = [running("i1"), waiting("i2", "PodInitializing", false)];
    let mut main = [waiting("a", "PodInitializing", false)];
    let phase = terminate(&init_pod, &mut init, &mut main, "Pending");
    assert_eq!(phase, "Failed");
    assert_eq!(code(&init[0]).map(|c| c.0), Some(137));
    assert_eq!(code(&init[1]), None);
    assert_eq!(code(&main[0]), None);
}

#[test]
fn only_what_the_kubelet_owns_drifts_and_its_own_echo_does_not() {
    let at = |s: &str| Some(Time(s.parse::<Timestamp>().unwrap()));
    let mut posted = PodStatus {
        phase: Some("Running".into()),
        pod_ip: Some("10.244.1.5".into()),
        start_time: at("2026-12-01T07:00:00.25Z"),
        conditions: Some(vec![
            PodCondition {
                last_transition_time: at("2026-12-01T07:00:01.75Z"),
                ..condition("Ready", true, None, None)
            },
            condition("PodScheduled", true, None, None),
        ]),
        container_statuses: Some(vec![ContainerStatus {
            state: Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: at("2026-12-01T07:00:01.5Z"),
                }),
                ..ContainerState::default()
            }),
            ..running("app")
        }]),
        ..PodStatus::default()
    };
    to_seconds(&mut posted);
    assert_eq!(posted.start_time, at("2026-12-01T07:00:00Z"));
    // The echo of the write, as the API stores it and the watch decodes it.
    let echo: PodStatus = serde_json::from_value(serde_json::to_value(&posted).unwrap()).unwrap();
    assert!(!drifted(Some(&echo), &posted));

    let others = |change: &dyn Fn(&mut PodStatus)| {
        let mut api = echo.clone();
        change(&mut api);
        drifted(Some(&api), &posted)
    };
    // Others' fields and conditions are theirs.
    assert!(!others(&|api| api.qos_class = Some("BestEffort".into())));
    assert!(!others(
        &|api| api.nominated_node_name = Some("elsewhere".into())
    ));
    assert!(!others(&|api| {
        let conditions = api.conditions.as_mut().unwrap();
        conditions[1].status = "False".into();
        conditions.push(condition("example.com/Checked", true, None, None));
    }));
    // What the kubelet owns is its to put back.
    assert!(others(&|api| api.pod_ip = Some("10.1.2.3".into())));
    assert!(others(&|api| api.phase = Some("Failed".into())));
    assert!(others(
        &|api| api.conditions.as_mut().unwrap()[0].status = "False".into()
    ));
    assert!(others(
        &|api| api.container_statuses.as_mut().unwrap()[0].ready = false
    ));
    assert!(others(&|api| api.conditions = None));
    assert!(drifted(None, &posted));
}
