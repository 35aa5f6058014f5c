//! What one sync of a StatefulSet does, decided from its pods alone (no cluster): which
//! ordinals to create, which pods to delete, and the status it reports — the order of
//! upstream's `updateStatefulSet` and `computeReplicaStatus`.
//!
//! OrderedReady creates ordinals in increasing order, each after its predecessors are
//! Running, Ready and available, and removes them in decreasing order; Parallel creates and
//! removes them all at once. A rolling update replaces pods from the highest ordinal down to
//! the partition, one at a time, each after the ones above are healthy again.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;

use super::identity::{ordinal, replicas, set_name, start_ordinal};
use crate::history::REVISION_LABEL;
use crate::podstate::{available, finished, running_and_ready, terminating, until_available};

/// One change to make, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Create the pod at `ordinal` (and its missing claims), at the current revision
    /// (`current`) or the update revision.
    Create { ordinal: i32, current: bool },
    /// Delete a pod that ended (`Failed` or `Succeeded`) so it is made anew.
    Recreate { name: String },
    /// Delete a pod past the replica count (scale down).
    Condemn { name: String },
    /// Delete a pod at an old revision (rolling update).
    Update { name: String },
}

/// The revisions the pods should be at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revisions<'a> {
    /// `status.currentRevision`: what pods below the partition keep.
    pub(crate) current: &'a str,
    /// The revision of the set's template now.
    pub(crate) update: &'a str,
}

/// A sync's steps, and when to look again if only time will change things.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub(crate) steps: Vec<Step>,
    pub(crate) requeue: Option<Duration>,
}

fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

fn revision(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_LABEL))
        .map_or("", String::as_str)
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// Whether a new pod at `ordinal` takes the current revision: below the partition of a
/// rolling update (or, without one, among the pods already current).
pub(crate) fn takes_current(set: &StatefulSet, ordinal: i32) -> bool {
    let Some(strategy) = set.spec.as_ref().and_then(|s| s.update_strategy.as_ref()) else {
        return false;
    };
    let start = start_ordinal(set);
    match &strategy.rolling_update {
        Some(rolling) => ordinal < start + rolling.partition.unwrap_or(0),
        None if strategy.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate" => {
            let current = set.status.as_ref().and_then(|s| s.current_replicas);
            ordinal < start + current.unwrap_or(0)
        }
        None => false,
    }
}

/// The steps of one sync of `set`, whose pods (those it controls) are `pods`.
pub(crate) fn plan(
    set: &StatefulSet,
    pods: &[&Pod],
    revisions: Revisions<'_>,
    now: jiff::Timestamp,
) -> Plan {
    let mut plan = Plan::default();
    if set.metadata.deletion_timestamp.is_some() {
        return plan;
    }
    let spec = set.spec.as_ref();
    let monotonic = spec.and_then(|s| s.pod_management_policy.as_deref()) != Some("Parallel");
    let min_ready = min_ready_seconds(set);
    let start = start_ordinal(set);
    let count = replicas(set).max(0);
    let end = start + count;

    let mut slots: Vec<Option<&Pod>> = vec![None; usize::try_from(count).unwrap_or(0)];
    let mut condemned: Vec<(i32, &Pod)> = Vec::new();
    for pod in pods {
        let Some(n) = ordinal(
            set_name(set),
            pod.metadata.name.as_deref().unwrap_or_default(),
        ) else {
            continue;
        };
        if (start..end).contains(&n) {
            if let Some(slot) = slots.get_mut(usize::try_from(n - start).unwrap_or(usize::MAX)) {
                *slot = Some(pod);
            }
        } else {
            condemned.push((n, pod));
        }
    }
    condemned.sort_by_key(|(n, _)| *n);

    let healthy =
        |pod: &Pod| running_and_ready(pod) && !terminating(pod) && available(pod, min_ready, now);
    let note_wait = |pod: &Pod, plan: &mut Plan| {
        if let Some(left) = until_available(pod, min_ready, now) {
            plan.requeue = Some(plan.requeue.map_or(left, |r| r.min(left)));
        }
    };
    // The lowest unhealthy pod, which scale down may remove without waiting for it.
    let first_unhealthy = slots
        .iter()
        .flatten()
        .chain(condemned.iter().map(|(_, p)| p))
        .find(|p| !healthy(p))
        .map(|p| name(p));

    for (index, slot) in slots.iter().enumerate() {
        let n = start + i32::try_from(index).unwrap_or(0);
        let Some(pod) = slot else {
            plan.steps.push(Step::Create {
                ordinal: n,
                current: takes_current(set, n),
            });
            if monotonic {
                return plan;
            }
            continue;
        };
        if finished(pod) {
            if !terminating(pod) {
                plan.steps.push(Step::Recreate { name: name(pod) });
            }
            if monotonic {
                return plan;
            }
            continue;
        }
        if monotonic && !healthy(pod) {
            note_wait(pod, &mut plan);
            return plan;
        }
    }

    for (_, pod) in condemned.iter().rev() {
        if terminating(pod) {
            if monotonic {
                return plan;
            }
            continue;
        }
        if monotonic && !healthy(pod) && first_unhealthy.as_deref() != Some(&name(pod)) {
            note_wait(pod, &mut plan);
            return plan;
        }
        plan.steps.push(Step::Condemn { name: name(pod) });
        if monotonic {
            return plan;
        }
    }
    if !plan.steps.is_empty() {
        return plan;
    }

    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("OnDelete") {
        return plan;
    }
    let partition = strategy
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
        .max(0);
    let low = usize::try_from(partition).unwrap_or(0);
    for slot in slots.iter().skip(low).rev() {
        let Some(pod) = slot else {
            return plan;
        };
        if revision(pod) != revisions.update && !terminating(pod) {
            plan.steps.push(Step::Update { name: name(pod) });
            return plan;
        }
        if !healthy(pod) {
            note_wait(pod, &mut plan);
            return plan;
        }
    }
    plan
}

/// The status of `set` with `pods`, as upstream computes it after a sync.
pub(crate) fn status(
    set: &StatefulSet,
    pods: &[&Pod],
    revisions: Revisions<'_>,
    collision_count: i32,
    now: jiff::Timestamp,
) -> StatefulSetStatus {
    let min_ready = min_ready_seconds(set);
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        collision_count: Some(collision_count),
        current_revision: Some(revisions.current.to_owned()),
        update_revision: Some(revisions.update.to_owned()),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
        ..StatefulSetStatus::default()
    };
    let (mut ready, mut available_count, mut current, mut updated) = (0, 0, 0, 0);
    for pod in pods {
        let created = pod.status.as_ref().is_some_and(|s| s.phase.is_some());
        if created {
            status.replicas += 1;
        }
        if running_and_ready(pod) {
            ready += 1;
            if available(pod, min_ready, now) {
                available_count += 1;
            }
        }
        if created && !terminating(pod) {
            if revision(pod) == revisions.current {
                current += 1;
            }
            if revision(pod) == revisions.update {
                updated += 1;
            }
        }
    }
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available_count);
    status.current_replicas = Some(current);
    status.updated_replicas = Some(updated);
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    // A rolling update is complete once every pod is updated and ready.
    if rolling && updated == status.replicas && ready == status.replicas {
        status.current_replicas = Some(updated);
        status.current_revision = Some(revisions.update.to_owned());
    }
    status
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
