//! The sync decisions, one scenario each.

use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::*;

const A: Revisions<'static> = Revisions {
    current: "web-a",
    update: "web-a",
};
const AB: Revisions<'static> = Revisions {
    current: "web-a",
    update: "web-b",
};

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_000_000).unwrap()
}

fn set(replicas: i32, policy: &str, partition: Option<i32>) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            name: Some("web".to_owned()),
            generation: Some(3),
            ..ObjectMeta::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(replicas),
            pod_management_policy: Some(policy.to_owned()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    partition,
                    max_unavailable: None,
                }),
            }),
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

fn pod(ordinal: i32, revision: &str, phase: &str, ready: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("web-{ordinal}")),
            labels: Some([(REVISION_LABEL.to_owned(), revision.to_owned())].into()),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(PodStatus {
            phase: Some(phase.to_owned()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".to_owned(),
                status: if ready { "True" } else { "False" }.to_owned(),
                last_transition_time: Some(Time(jiff::Timestamp::from_second(1).unwrap())),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    }
}

fn up(ordinal: i32, revision: &str) -> Pod {
    pod(ordinal, revision, "Running", true)
}

fn steps(set: &StatefulSet, pods: &[Pod], revisions: Revisions<'_>) -> Vec<Step> {
    let refs: Vec<&Pod> = pods.iter().collect();
    plan(set, &refs, revisions, now()).steps
}

fn create(ordinal: i32) -> Step {
    Step::Create {
        ordinal,
        current: false,
    }
}

#[test]
fn ordered_ready_creates_one_ordinal_after_the_previous_is_ready() {
    let s = set(3, "OrderedReady", Some(0));
    assert_eq!(steps(&s, &[], A), vec![create(0)]);
    assert_eq!(steps(&s, &[pod(0, "web-a", "Pending", false)], A), vec![]);
    assert_eq!(steps(&s, &[pod(0, "web-a", "Running", false)], A), vec![]);
    assert_eq!(steps(&s, &[up(0, "web-a")], A), vec![create(1)]);
    assert_eq!(
        steps(&s, &[up(0, "web-a"), up(1, "web-a")], A),
        vec![create(2)]
    );
    // A lost pod comes back under its own name before anything above it.
    assert_eq!(steps(&s, &[up(1, "web-a")], A), vec![create(0)]);
}

#[test]
fn parallel_creates_every_missing_ordinal_at_once() {
    let s = set(3, "Parallel", Some(0));
    assert_eq!(steps(&s, &[], A), vec![create(0), create(1), create(2)]);
    assert_eq!(
        steps(&s, &[pod(1, "web-a", "Pending", false)], A),
        vec![create(0), create(2)]
    );
}

#[test]
fn scale_down_removes_the_highest_ordinal_first_and_waits() {
    let s = set(1, "OrderedReady", Some(0));
    let pods = [up(0, "web-a"), up(1, "web-a"), up(2, "web-a")];
    assert_eq!(
        steps(&s, &pods, A),
        vec![Step::Condemn {
            name: "web-2".to_owned()
        }]
    );
    let mut going = up(2, "web-a");
    going.metadata.deletion_timestamp = Some(Time(now()));
    assert_eq!(
        steps(&s, &[up(0, "web-a"), up(1, "web-a"), going], A),
        vec![]
    );
    // An unhealthy pod that stays halts scale down; an unhealthy condemned pod, the
    // lowest unhealthy one, may go.
    let halted = [
        pod(0, "web-a", "Pending", false),
        up(1, "web-a"),
        up(2, "web-a"),
    ];
    assert_eq!(steps(&s, &halted, A), vec![]);
    let sick = [
        up(0, "web-a"),
        up(1, "web-a"),
        pod(2, "web-a", "Pending", false),
    ];
    assert_eq!(
        steps(&s, &sick, A),
        vec![Step::Condemn {
            name: "web-2".to_owned()
        }]
    );
    let parallel = set(1, "Parallel", Some(0));
    assert_eq!(
        steps(&parallel, &pods, A),
        vec![
            Step::Condemn {
                name: "web-2".to_owned()
            },
            Step::Condemn {
                name: "web-1".to_owned()
            }
        ]
    );
}

#[test]
fn rolling_update_goes_down_from_the_top_to_the_partition() {
    let s = set(3, "OrderedReady", Some(1));
    let update = |name: &str| Step::Update {
        name: name.to_owned(),
    };
    let old = [up(0, "web-a"), up(1, "web-a"), up(2, "web-a")];
    assert_eq!(steps(&s, &old, AB), vec![update("web-2")]);
    let waiting = [
        up(0, "web-a"),
        up(1, "web-a"),
        pod(2, "web-b", "Pending", false),
    ];
    assert_eq!(steps(&s, &waiting, AB), vec![]);
    let next = [up(0, "web-a"), up(1, "web-a"), up(2, "web-b")];
    assert_eq!(steps(&s, &next, AB), vec![update("web-1")]);
    let done = [up(0, "web-a"), up(1, "web-b"), up(2, "web-b")];
    assert_eq!(steps(&s, &done, AB), vec![]);
    // Below the partition, a recreated pod keeps the current revision.
    assert_eq!(
        steps(&s, &[up(1, "web-b"), up(2, "web-b")], AB),
        vec![Step::Create {
            ordinal: 0,
            current: true
        }]
    );
}

#[test]
fn on_delete_leaves_old_pods_alone() {
    let mut s = set(2, "OrderedReady", None);
    if let Some(spec) = s.spec.as_mut() {
        spec.update_strategy = Some(StatefulSetUpdateStrategy {
            type_: Some("OnDelete".to_owned()),
            rolling_update: None,
        });
    }
    assert_eq!(steps(&s, &[up(0, "web-a"), up(1, "web-a")], AB), vec![]);
    assert_eq!(steps(&s, &[up(0, "web-a")], AB), vec![create(1)]);
}

#[test]
fn an_ended_pod_is_recreated() {
    let s = set(2, "OrderedReady", Some(0));
    assert_eq!(
        steps(&s, &[pod(0, "web-a", "Failed", false), up(1, "web-a")], A),
        vec![Step::Recreate {
            name: "web-0".to_owned()
        }]
    );
}

#[test]
fn min_ready_seconds_holds_the_next_ordinal_and_asks_for_a_requeue() {
    let mut s = set(2, "OrderedReady", Some(0));
    if let Some(spec) = s.spec.as_mut() {
        spec.min_ready_seconds = Some(10);
    }
    let mut fresh = up(0, "web-a");
    if let Some(c) = fresh
        .status
        .as_mut()
        .and_then(|s| s.conditions.as_mut())
        .and_then(|c| c.first_mut())
    {
        c.last_transition_time = Some(Time(now() - jiff::SignedDuration::from_secs(4)));
    }
    let refs = [&fresh];
    let planned = plan(&s, &refs, A, now());
    assert_eq!(planned.steps, vec![]);
    assert_eq!(planned.requeue, Some(Duration::from_secs(6)));
}

#[test]
fn status_counts_pods_and_completes_a_rollout() {
    let s = set(3, "OrderedReady", Some(0));
    let pods = [
        up(0, "web-a"),
        up(1, "web-b"),
        pod(2, "web-b", "Pending", false),
    ];
    let refs: Vec<&Pod> = pods.iter().collect();
    let st = status(&s, &refs, AB, 0, now());
    assert_eq!(st.replicas, 3);
    assert_eq!(st.ready_replicas, Some(2));
    assert_eq!(st.available_replicas, Some(2));
    assert_eq!(st.current_replicas, Some(1));
    assert_eq!(st.updated_replicas, Some(2));
    assert_eq!(st.observed_generation, Some(3));
    assert_eq!(st.current_revision.as_deref(), Some("web-a"));
    let pods = [up(0, "web-b"), up(1, "web-b"), up(2, "web-b")];
    let refs: Vec<&Pod> = pods.iter().collect();
    let st = status(&s, &refs, AB, 0, now());
    assert_eq!(st.current_revision.as_deref(), Some("web-b"));
    assert_eq!(st.current_replicas, Some(3));
}
