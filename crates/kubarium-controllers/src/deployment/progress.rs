//! A Deployment's status: its counts from its ReplicaSets, the Available condition, and
//! the Progressing condition that tracks a rollout against `progressDeadlineSeconds`
//! (upstream's `calculateStatus`, `syncRolloutStatus` and `deployment/util` conditions).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::replicasets::{self as rs, max_unavailable, replicas};

/// Condition types and reasons, as upstream names them.
pub(crate) const AVAILABLE: &str = "Available";
pub(crate) const PROGRESSING: &str = "Progressing";
pub(crate) const REPLICA_FAILURE: &str = "ReplicaFailure";
pub(crate) const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub(crate) const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub(crate) const RS_UPDATED: &str = "ReplicaSetUpdated";
pub(crate) const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub(crate) const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub(crate) const PAUSED: &str = "DeploymentPaused";
pub(crate) const RESUMED: &str = "DeploymentResumed";
pub(crate) const RS_CREATE_ERROR: &str = "ReplicaSetCreateError";

/// A condition with both times `now`.
pub(crate) fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// The condition of `type_`, if the status has one.
pub(crate) fn get<'a>(
    status: &'a DeploymentStatus,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Sets a condition unless one with the same status and reason is there; keeps the
/// transition time when the status does not change (upstream's `SetDeploymentCondition`).
pub(crate) fn set(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get(status, &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, &condition.type_.clone());
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
}

/// Removes the condition of `type_`.
pub(crate) fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// Whether the Deployment has a progress deadline (`progressDeadlineSeconds` set and not
/// MaxInt32).
pub(crate) fn has_progress_deadline(d: &Deployment) -> bool {
    deadline(d).is_some()
}

fn deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()?
        .progress_deadline_seconds
        .filter(|s| *s != i32::MAX)
}

/// Counts and the Available condition from the ReplicaSets (upstream's `calculateStatus`);
/// other conditions are carried over from `status`.
pub(crate) fn calculate(
    d: &Deployment,
    status: &DeploymentStatus,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available = rs::available_replicas(all.iter().copied());
    let total = rs::spec_replicas(all.iter().copied());
    let mut next = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(rs::actual_replicas(all.iter().copied())),
        updated_replicas: Some(rs::actual_replicas(new)),
        ready_replicas: Some(rs::status_count(all.iter().copied(), |s| s.ready_replicas)),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: status.collision_count,
        conditions: status.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        let message = "Deployment has minimum availability.".to_owned();
        set(
            &mut next,
            condition(AVAILABLE, "True", "MinimumReplicasAvailable", message, now),
        );
    } else {
        let message = "Deployment does not have minimum availability.".to_owned();
        set(
            &mut next,
            condition(
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                message,
                now,
            ),
        );
    }
    next
}

/// Whether every replica is updated and available, and the spec observed.
pub(crate) fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Whether `next` shows progress over the Deployment's current status.
fn progressing(d: &Deployment, next: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(next.replicas) - n(next.updated_replicas);
    n(next.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(next.ready_replicas) > n(old.ready_replicas)
        || n(next.available_replicas) > n(old.available_replicas)
}

/// Whether the Progressing condition went without an update for longer than the deadline.
fn timed_out(d: &Deployment, next: &DeploymentStatus, now: Timestamp) -> bool {
    let (Some(seconds), Some(condition)) = (deadline(d), get(next, PROGRESSING)) else {
        return false;
    };
    match condition.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => condition
            .last_update_time
            .as_ref()
            .is_some_and(|from| from.0 + jiff::SignedDuration::from_secs(seconds.into()) < now),
    }
}

/// The status after a rollout step: counts, then the Progressing condition estimated
/// against the deadline, then the ReplicaSets' failures (upstream's `syncRolloutStatus`).
pub(crate) fn rollout_status(
    d: &Deployment,
    status: &DeploymentStatus,
    all: &[&ReplicaSet],
    new: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let mut next = calculate(d, status, all, new, now);
    if !has_progress_deadline(d) {
        remove(&mut next, PROGRESSING);
    }
    let current = get(status, PROGRESSING);
    let finished = next.replicas == next.updated_replicas
        && current.is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let subject = |rs_says: &str, d_says: &str| match new {
        Some(rs) => format!(
            "ReplicaSet {:?} {rs_says}",
            rs.metadata.name.as_deref().unwrap_or_default()
        ),
        None => format!("Deployment {name:?} {d_says}"),
    };
    if has_progress_deadline(d) && !finished {
        if complete(d, &next) {
            let message = subject(
                "has successfully progressed.",
                "has successfully progressed.",
            );
            set(
                &mut next,
                condition(PROGRESSING, "True", NEW_RS_AVAILABLE, message, now),
            );
        } else if progressing(d, &next) {
            let message = subject("is progressing.", "is progressing.");
            let mut updated = condition(PROGRESSING, "True", RS_UPDATED, message, now);
            // Progress moves lastUpdateTime even when the reason stays the same.
            if let Some(current) = current {
                if current.status == "True" {
                    updated.last_transition_time = current.last_transition_time.clone();
                }
                remove(&mut next, PROGRESSING);
            }
            set(&mut next, updated);
        } else if timed_out(d, &next, now) {
            let message = subject("has timed out progressing.", "has timed out progressing.");
            set(
                &mut next,
                condition(PROGRESSING, "False", TIMED_OUT, message, now),
            );
        }
    }
    let failure = new
        .into_iter()
        .chain(all.iter().copied())
        .flat_map(|rs| rs.status.iter().flat_map(|s| s.conditions.iter().flatten()))
        .find(|c| c.type_ == REPLICA_FAILURE);
    match failure {
        Some(c) => set(
            &mut next,
            DeploymentCondition {
                type_: REPLICA_FAILURE.to_owned(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            },
        ),
        None => remove(&mut next, REPLICA_FAILURE),
    }
    next
}

/// When to look at a stuck rollout again: just after its Progressing condition would pass
/// the deadline (upstream's `requeueStuckDeployment`).
pub(crate) fn recheck_after(
    d: &Deployment,
    next: &DeploymentStatus,
    now: Timestamp,
) -> Option<Duration> {
    let seconds = deadline(d)?;
    let condition = get(next, PROGRESSING)?;
    if complete(d, next) || condition.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let from = condition.last_update_time.as_ref()?.0;
    let after = (from + jiff::SignedDuration::from_secs(seconds.into())).duration_since(now);
    if after < jiff::SignedDuration::from_secs(1) {
        return Some(Duration::from_secs(1));
    }
    Some(Duration::try_from(after).unwrap_or_default() + Duration::from_secs(1))
}

/// `status` with zero counts as absent, as the API server may store them.
pub(crate) fn normalized(status: &DeploymentStatus) -> DeploymentStatus {
    let zero = |n: Option<i32>| n.filter(|n| *n != 0);
    DeploymentStatus {
        available_replicas: zero(status.available_replicas),
        collision_count: status.collision_count,
        conditions: status.conditions.clone().filter(|c| !c.is_empty()),
        observed_generation: status.observed_generation.filter(|g| *g != 0),
        ready_replicas: zero(status.ready_replicas),
        replicas: zero(status.replicas),
        terminating_replicas: zero(status.terminating_replicas),
        unavailable_replicas: zero(status.unavailable_replicas),
        updated_replicas: zero(status.updated_replicas),
    }
}
