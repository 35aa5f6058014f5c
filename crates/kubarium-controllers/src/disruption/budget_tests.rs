//! The arithmetic of budgets: percentages round up, controllers count once, evicted pods
//! are not healthy until their entry expires.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;

fn pod(name: &str, owner: Option<&str>, ready: bool) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("shop".into()),
            owner_references: owner.map(|uid| {
                vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: format!("rs-{uid}"),
                    uid: uid.into(),
                    controller: Some(true),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        status: Some(PodStatus {
            phase: Some("Running".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
        ..Pod::default()
    }
}

fn spec(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudgetSpec {
    PodDisruptionBudgetSpec {
        min_available: min,
        max_unavailable: max,
        ..PodDisruptionBudgetSpec::default()
    }
}

/// Every controller has `replicas` replicas.
fn replicas(replicas: i32) -> impl Fn(&OwnerReference, &str) -> Result<Option<Scale>, String> {
    move |owner, _| {
        Ok(Some(Scale {
            uid: owner.uid.clone(),
            replicas,
        }))
    }
}

fn percent(s: &str) -> Option<IntOrString> {
    Some(IntOrString::String(s.into()))
}

#[test]
fn percentages_round_up() {
    assert_eq!(scaled(&IntOrString::String("50%".into()), 3), Ok(2));
    assert_eq!(scaled(&IntOrString::String("34%".into()), 3), Ok(2));
    assert_eq!(scaled(&IntOrString::String("33%".into()), 3), Ok(1));
    assert_eq!(scaled(&IntOrString::String("0%".into()), 3), Ok(0));
    assert_eq!(scaled(&IntOrString::String("100%".into()), 7), Ok(7));
    assert_eq!(scaled(&IntOrString::Int(4), 7), Ok(4));
    assert!(scaled(&IntOrString::String("half".into()), 7).is_err());
}

#[test]
fn an_integer_min_available_counts_the_pods_without_controllers() {
    let pods = [pod("a", None, true), pod("b", None, true)];
    let pods: Vec<&Pod> = pods.iter().collect();
    let counts = expected_pod_count(&spec(Some(IntOrString::Int(2)), None), &pods, |_, _| {
        Err("no finder is asked".into())
    });
    assert_eq!(
        counts,
        Ok(Counts {
            expected: 2,
            desired_healthy: 2,
            unmanaged: Vec::new()
        })
    );
}

#[test]
fn percentages_and_max_unavailable_use_the_controllers_scale() {
    // Three pods of one ReplicaSet of 4 (one pod missing): 4 expected.
    let pods = [
        pod("a", Some("rs1"), true),
        pod("b", Some("rs1"), true),
        pod("c", Some("rs1"), true),
    ];
    let pods: Vec<&Pod> = pods.iter().collect();
    let min = expected_pod_count(&spec(percent("50%"), None), &pods, replicas(4)).unwrap();
    assert_eq!((min.expected, min.desired_healthy), (4, 2));
    let max = expected_pod_count(&spec(None, percent("30%")), &pods, replicas(4)).unwrap();
    // 30% of 4 rounds up to 2 unavailable: 2 must stay healthy.
    assert_eq!((max.expected, max.desired_healthy), (4, 2));
    let max =
        expected_pod_count(&spec(None, Some(IntOrString::Int(9))), &pods, replicas(4)).unwrap();
    assert_eq!((max.expected, max.desired_healthy), (4, 0));
}

#[test]
fn two_controllers_add_up_and_unmanaged_pods_are_listed() {
    let pods = [
        pod("a", Some("rs1"), true),
        pod("b", Some("rs2"), true),
        pod("c", None, true),
    ];
    let pods: Vec<&Pod> = pods.iter().collect();
    let counts =
        expected_pod_count(&spec(None, Some(IntOrString::Int(1))), &pods, replicas(3)).unwrap();
    assert_eq!(counts.expected, 6);
    assert_eq!(counts.desired_healthy, 5);
    assert_eq!(counts.unmanaged, vec!["c".to_owned()]);
}

#[test]
fn a_missing_or_unscalable_controller_fails_as_upstream() {
    let pods = [pod("a", Some("rs1"), true)];
    let pods: Vec<&Pod> = pods.iter().collect();
    let missing = expected_pod_count(&spec(percent("50%"), None), &pods, |_, _| Ok(None));
    assert_eq!(missing, Err("found no controllers for pod \"a\"".into()));
    let job = expected_pod_count(&spec(None, Some(IntOrString::Int(1))), &pods, |_, _| {
        Err("jobs.batch does not implement the scale subresource".into())
    });
    assert_eq!(
        job,
        Err("jobs.batch does not implement the scale subresource".into())
    );
}

fn budget(allowed: i32, disrupted: &[(&str, Timestamp)]) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta {
            generation: Some(1),
            ..ObjectMeta::default()
        },
        status: Some(PodDisruptionBudgetStatus {
            disruptions_allowed: allowed,
            disrupted_pods: Some(
                disrupted
                    .iter()
                    .map(|(name, at)| ((*name).to_owned(), Time(*at)))
                    .collect(),
            ),
            ..PodDisruptionBudgetStatus::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

#[test]
fn evicted_pods_count_as_unhealthy_until_their_entry_expires() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let recent = now - jiff::SignedDuration::from_secs(30);
    let old = now - jiff::SignedDuration::from_secs(121);
    let pods = [
        pod("a", None, true),
        pod("b", None, true),
        pod("c", None, true),
    ];
    let pods: Vec<&Pod> = pods.iter().collect();
    let pdb = budget(0, &[("a", recent), ("b", old), ("gone", recent)]);
    let (kept, expired, recheck) = disrupted_pods(&pdb, &pods, now);
    assert_eq!(kept.keys().collect::<Vec<_>>(), vec!["a"]);
    assert_eq!(expired, vec!["b".to_owned()]);
    assert_eq!(recheck, Some(recent + DELETION_TIMEOUT));
    assert_eq!(healthy_pods(&pods, &kept, now), 2);
}

#[test]
fn the_status_allows_healthy_minus_desired_and_says_why() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let pdb = budget(0, &[]);
    let counts = Counts {
        expected: 3,
        desired_healthy: 2,
        unmanaged: Vec::new(),
    };
    let status = next_status(&pdb, 3, &counts, BTreeMap::new(), now).unwrap();
    assert_eq!(status.disruptions_allowed, 1);
    assert_eq!(status.observed_generation, Some(1));
    let condition = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("True", "SufficientPods")
    );

    // Written back, nothing changes.
    let mut written = pdb.clone();
    written.status = Some(status);
    assert_eq!(
        next_status(&written, 3, &counts, BTreeMap::new(), now),
        None
    );

    // One pod fewer: no disruption left.
    let status = next_status(&written, 2, &counts, BTreeMap::new(), now).unwrap();
    assert_eq!(status.disruptions_allowed, 0);
    let condition = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("False", "InsufficientPods")
    );

    // A budget expecting no pods allows nothing.
    let none = Counts {
        expected: 0,
        desired_healthy: 0,
        unmanaged: Vec::new(),
    };
    assert_eq!(
        next_status(&pdb, 0, &none, BTreeMap::new(), now)
            .unwrap()
            .disruptions_allowed,
        0
    );
}

#[test]
fn a_failed_sync_allows_nothing_and_keeps_the_observed_generation() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let pdb = budget(3, &[]);
    let status = failed_status(&pdb, "found no controllers for pod \"a\"".into(), now);
    assert_eq!(status.disruptions_allowed, 0);
    assert_eq!(status.observed_generation, None);
    let condition = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (
            condition.status.as_str(),
            condition.reason.as_str(),
            condition.message.as_str()
        ),
        ("False", "SyncFailed", "found no controllers for pod \"a\"")
    );
}
