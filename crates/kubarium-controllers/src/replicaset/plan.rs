//! A ReplicaSet's decisions as functions of what the caches show: which pods it claims,
//! how many pods to create or which to delete, and its status. No I/O here; `mod.rs`
//! carries the decisions out.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::core::{Selector, SelectorExt};

use super::pods;
use crate::claim::{self, Claim};

/// At most this many pods created or deleted in one sync (upstream's `BurstReplicas`).
pub(crate) const BURST_REPLICAS: usize = 500;

/// The condition a ReplicaSet carries while it cannot create or delete pods.
pub(crate) const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The pods of a ReplicaSet's namespace, as the ReplicaSet claims them.
#[derive(Debug, Default)]
pub(crate) struct Claimed<'a> {
    /// Active pods it controls whose labels its selector matches.
    pub(crate) owned: Vec<&'a Pod>,
    /// Active orphans its selector matches.
    pub(crate) adopt: Vec<&'a Pod>,
    /// Active pods it controls whose labels its selector no longer matches.
    pub(crate) release: Vec<&'a Pod>,
}

/// Claims the active pods among `pods` (all of the ReplicaSet's namespace).
pub(crate) fn claim_pods<'a>(
    rs: &ReplicaSet,
    selector: &Selector,
    pods: &'a [&'a Pod],
) -> Claimed<'a> {
    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
    let deleting = rs.metadata.deletion_timestamp.is_some();
    let mut claimed = Claimed::default();
    for pod in pods.iter().copied().filter(|p| pods::is_active(p)) {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        match claim::claim(uid, deleting, selector.matches(&labels), &pod.metadata) {
            Claim::Owned => claimed.owned.push(pod),
            Claim::Adopt => claimed.adopt.push(pod),
            Claim::Release => claimed.release.push(pod),
            Claim::Ignore => {}
        }
    }
    claimed
}

/// What a sync does about the number of pods.
#[derive(Debug, PartialEq)]
pub(crate) enum Manage<'a> {
    /// The count is right.
    Nothing,
    /// Create this many pods.
    Create(usize),
    /// Delete these pods.
    Delete(Vec<&'a Pod>),
}

impl Manage<'_> {
    /// A line for the logs.
    pub(crate) fn summary(&self) -> String {
        match self {
            Manage::Nothing => "nothing".to_owned(),
            Manage::Create(count) => format!("create {count}"),
            Manage::Delete(pods) => {
                let names: Vec<&str> = pods
                    .iter()
                    .filter_map(|p| p.metadata.name.as_deref())
                    .collect();
                format!("delete {}", names.join(","))
            }
        }
    }
}

/// The desired replica count (`spec.replicas`, default 1).
pub(crate) fn replicas(rs: &ReplicaSet) -> usize {
    let wanted = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    usize::try_from(wanted).unwrap_or(0)
}

/// Creates or deletes toward `spec.replicas`, at most [`BURST_REPLICAS`] at a time.
/// `filtered` are the pods the ReplicaSet claimed; `related` the active pods of every
/// ReplicaSet under the same controller (for doubled-up ranking).
pub(crate) fn manage<'a>(
    rs: &ReplicaSet,
    filtered: &[&'a Pod],
    related: &[&Pod],
    now: Timestamp,
) -> Manage<'a> {
    let wanted = replicas(rs);
    if filtered.len() < wanted {
        return Manage::Create((wanted - filtered.len()).min(BURST_REPLICAS));
    }
    let excess = (filtered.len() - wanted).min(BURST_REPLICAS);
    if excess == 0 {
        return Manage::Nothing;
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for pod in related.iter().filter(|p| pods::is_active(p)) {
        *on_node.entry(node_of(pod)).or_default() += 1;
    }
    let mut ranked: Vec<(&Pod, usize)> = filtered
        .iter()
        .map(|p| (*p, on_node.get(node_of(p)).copied().unwrap_or(0)))
        .collect();
    if excess < ranked.len() {
        ranked.sort_by(|(a, ra), (b, rb)| pods::deletion_order(a, *ra, b, *rb, now));
    }
    Manage::Delete(ranked.into_iter().take(excess).map(|(p, _)| p).collect())
}

fn node_of(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

/// Batch sizes for `count` creations: 1, 2, 4, … (upstream's slow start), so a failing
/// template fails once, not `count` times.
pub(crate) fn slow_start(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let (mut remaining, mut size) = (count, 1.min(count));
    while remaining > 0 {
        batches.push(size);
        remaining -= size;
        size = (2 * size).min(remaining);
    }
    batches
}

/// A new pod for `rs` from its template: `generateName: <rs>-`, controlled by `rs`.
pub(crate) fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: rs.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: Some(vec![claim::controller_ref(rs)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Why the last manage step failed: whether it was creating, and the error's message.
#[derive(Debug, Clone)]
pub(crate) struct ManageError {
    pub(crate) creating: bool,
    pub(crate) message: String,
}

/// The status a ReplicaSet should show (upstream's `calculateStatus` plus
/// `observedGeneration`).
pub(crate) fn status(
    rs: &ReplicaSet,
    filtered: &[&Pod],
    error: Option<&ManageError>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let mut status = rs.status.clone().unwrap_or_default();
    let template_labels = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let (mut labelled, mut ready, mut available) = (0, 0, 0);
    for pod in filtered {
        let labels = pod.metadata.labels.as_ref();
        if template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        {
            labelled += 1;
        }
        if pods::is_ready(pod) {
            ready += 1;
            if pods::is_available(pod, min_ready, now) {
                available += 1;
            }
        }
    }
    let failing = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == REPLICA_FAILURE);
    match error {
        Some(error) if !failing => {
            let reason = if error.creating {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            let mut conditions = status.conditions.take().unwrap_or_default();
            conditions.push(ReplicaSetCondition {
                type_: REPLICA_FAILURE.to_owned(),
                status: "True".to_owned(),
                reason: Some(reason.to_owned()),
                message: Some(error.message.clone()),
                last_transition_time: Some(Time(seconds(now))),
            });
            status.conditions = Some(conditions);
        }
        None if failing => {
            let conditions: Vec<_> = status
                .conditions
                .take()
                .into_iter()
                .flatten()
                .filter(|c| c.type_ != REPLICA_FAILURE)
                .collect();
            status.conditions = (!conditions.is_empty()).then_some(conditions);
        }
        _ => {}
    }
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    status.replicas = count(filtered.len());
    status.fully_labeled_replicas = Some(count(labelled));
    status.ready_replicas = Some(count(ready));
    status.available_replicas = Some(count(available));
    status.observed_generation = rs.metadata.generation;
    status
}

/// `status` with zero counts as absent, as they are when the API server omits them.
pub(crate) fn normalized(status: &ReplicaSetStatus) -> ReplicaSetStatus {
    let zero = |n: Option<i32>| n.filter(|n| *n != 0);
    ReplicaSetStatus {
        available_replicas: zero(status.available_replicas),
        fully_labeled_replicas: zero(status.fully_labeled_replicas),
        ready_replicas: zero(status.ready_replicas),
        terminating_replicas: zero(status.terminating_replicas),
        observed_generation: status.observed_generation.filter(|g| *g != 0),
        conditions: status.conditions.clone().filter(|c| !c.is_empty()),
        replicas: status.replicas,
    }
}

/// `now` to the second, as the API server stores times.
pub(crate) fn seconds(now: Timestamp) -> Timestamp {
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicaset::pods::tests::pod;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn rs(replicas: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("rs-uid".into()),
                generation: Some(3),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                selector: LabelSelector::default(),
                ..ReplicaSetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn slow_start_doubles() {
        assert_eq!(slow_start(0), Vec::<usize>::new());
        assert_eq!(slow_start(1), [1]);
        assert_eq!(slow_start(10), [1, 2, 4, 3]);
        assert_eq!(slow_start(100), [1, 2, 4, 8, 16, 32, 37]);
    }

    #[test]
    fn creates_the_missing_and_deletes_the_least_valuable() {
        let now = Timestamp::from_second(10_000).unwrap();
        let a = pod("a", "n1", "Running", Some(100));
        let b = pod("b", "", "Pending", None);
        let c = pod("c", "n1", "Running", None);
        assert_eq!(manage(&rs(5), &[&a, &b], &[], now), Manage::Create(3));
        assert_eq!(manage(&rs(3), &[&a, &b, &c], &[], now), Manage::Nothing);
        let Manage::Delete(gone) = manage(&rs(1), &[&a, &b, &c], &[&a, &b, &c], now) else {
            panic!("expected deletions");
        };
        let names: Vec<_> = gone
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect();
        assert_eq!(names, ["b", "c"]);
    }

    #[test]
    fn status_counts_ready_and_available_and_reports_failures() {
        let now = Timestamp::from_second(10_000).unwrap();
        let a = pod("a", "n1", "Running", Some(100));
        let b = pod("b", "n1", "Running", None);
        let error = ManageError {
            creating: true,
            message: "pods \"web-x\" is forbidden: quota".into(),
        };
        let s = status(&rs(3), &[&a, &b], Some(&error), now);
        assert_eq!(
            (
                s.replicas,
                s.ready_replicas,
                s.available_replicas,
                s.observed_generation
            ),
            (2, Some(1), Some(1), Some(3))
        );
        let failure = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(failure.reason.as_deref(), Some("FailedCreate"));
        let mut recovered = rs(3);
        recovered.status = Some(s);
        assert_eq!(status(&recovered, &[&a, &b], None, now).conditions, None);
    }
}
