//! The disruption controller's arithmetic, as upstream's `getExpectedPodCount`,
//! `buildDisruptedPodMap`, `countHealthyPods` and `updatePdbStatus`: pure functions from a
//! budget, its pods and its pods' controllers' scale to the budget's next status.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::podstate;

/// How long an eviction's entry in `disruptedPods` waits for the pod to go before the
/// controller counts the pod again (upstream's `DeletionTimeout`).
pub(crate) const DELETION_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// What a budget needs: its expected pods, how many must be healthy, and the pods it
/// selects that no controller manages (which it could not count).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) expected: i32,
    pub(crate) desired_healthy: i32,
    pub(crate) unmanaged: Vec<String>,
}

/// A pod's controller and its scale (`spec.replicas`), as the finders report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scale {
    pub(crate) uid: String,
    pub(crate) replicas: i32,
}

/// Upstream's `getExpectedPodCount`. `find` answers a pod's controller reference with its
/// scale, `Ok(None)` when no such controller exists, or the error upstream's finders give.
pub(crate) fn expected_pod_count(
    spec: &PodDisruptionBudgetSpec,
    pods: &[&Pod],
    find: impl Fn(&OwnerReference, &str) -> Result<Option<Scale>, String>,
) -> Result<Counts, String> {
    if let Some(max_unavailable) = &spec.max_unavailable {
        let (expected, unmanaged) = expected_scale(pods, find)?;
        let max_unavailable = scaled(max_unavailable, expected)?;
        return Ok(Counts {
            expected,
            desired_healthy: (expected - max_unavailable).max(0),
            unmanaged,
        });
    }
    match &spec.min_available {
        None => Ok(Counts::default()),
        Some(IntOrString::Int(n)) => Ok(Counts {
            expected: i32::try_from(pods.len()).unwrap_or(i32::MAX),
            desired_healthy: *n,
            unmanaged: Vec::new(),
        }),
        Some(percent) => {
            let (expected, unmanaged) = expected_scale(pods, find)?;
            Ok(Counts {
                expected,
                desired_healthy: scaled(percent, expected)?,
                unmanaged,
            })
        }
    }
}

/// Upstream's `getExpectedScale`: the sum of the scales of the pods' controllers, each
/// counted once; pods without a controller are listed apart.
fn expected_scale(
    pods: &[&Pod],
    find: impl Fn(&OwnerReference, &str) -> Result<Option<Scale>, String>,
) -> Result<(i32, Vec<String>), String> {
    let mut scales: BTreeMap<String, i32> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(owner) = crate::claim::controller_of(&pod.metadata) else {
            unmanaged.push(name);
            continue;
        };
        if !seen.insert(owner.uid.clone()) {
            continue;
        }
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        match find(owner, namespace)? {
            Some(scale) => {
                scales.insert(scale.uid, scale.replicas);
            }
            None => return Err(format!("found no controllers for pod {name:?}")),
        }
    }
    Ok((scales.values().sum(), unmanaged))
}

/// Upstream's `GetScaledValueFromIntOrPercent` rounding up: an integer as it is, a percent
/// of `total`, rounded up.
pub(crate) fn scaled(value: &IntOrString, total: i32) -> Result<i32, String> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|digits| digits.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let scaled = (percent * i64::from(total) + 99).div_euclid(100);
            Ok(i32::try_from(scaled).unwrap_or(i32::MAX))
        }
    }
}

/// Upstream's `buildDisruptedPodMap`: the budget's `disruptedPods` entries still waiting for
/// their pod to go, the pods whose entry expired (for a `NotDeleted` event), and when the
/// next entry expires.
pub(crate) fn disrupted_pods(
    budget: &PodDisruptionBudget,
    pods: &[&Pod],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Vec<String>, Option<Timestamp>) {
    let mut kept = BTreeMap::new();
    let mut expired = Vec::new();
    let mut recheck: Option<Timestamp> = None;
    let Some(disrupted) = budget
        .status
        .as_ref()
        .and_then(|s| s.disrupted_pods.as_ref())
    else {
        return (kept, expired, recheck);
    };
    for pod in pods {
        if podstate::terminating(pod) {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(at) = disrupted.get(&name) else {
            continue;
        };
        let deadline = at.0 + DELETION_TIMEOUT;
        if deadline < now {
            expired.push(name);
        } else {
            recheck = Some(recheck.map_or(deadline, |r| r.min(deadline)));
            kept.insert(name, at.clone());
        }
    }
    (kept, expired, recheck)
}

/// Upstream's `countHealthyPods`: ready pods neither terminating nor about to be evicted.
pub(crate) fn healthy_pods(
    pods: &[&Pod],
    disrupted: &BTreeMap<String, Time>,
    now: Timestamp,
) -> i32 {
    let count = pods
        .iter()
        .filter(|pod| !podstate::terminating(pod))
        .filter(|pod| {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            disrupted
                .get(name)
                .is_none_or(|at| at.0 + DELETION_TIMEOUT <= now)
        })
        .filter(|pod| podstate::ready(pod))
        .count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// Upstream's `updatePdbStatus`: the status to write, or `None` when the stored one is
/// already it.
pub(crate) fn next_status(
    budget: &PodDisruptionBudget,
    current_healthy: i32,
    counts: &Counts,
    disrupted: BTreeMap<String, Time>,
    now: Timestamp,
) -> Option<PodDisruptionBudgetStatus> {
    // A budget that expects no pods allows nothing, so pods that appear before the next
    // sync are safe.
    let allowed = if counts.expected <= 0 {
        0
    } else {
        (current_healthy - counts.desired_healthy).max(0)
    };
    let generation = budget.metadata.generation.unwrap_or(0);
    let old = budget.status.clone().unwrap_or_default();
    let old_disrupted = old.disrupted_pods.clone().unwrap_or_default();
    if old.current_healthy == current_healthy
        && old.desired_healthy == counts.desired_healthy
        && old.expected_pods == counts.expected
        && old.disruptions_allowed == allowed
        && old_disrupted == disrupted
        && old.observed_generation.unwrap_or(0) == generation
        && conditions_up_to_date(&old, generation)
    {
        return None;
    }
    let mut status = PodDisruptionBudgetStatus {
        current_healthy,
        desired_healthy: counts.desired_healthy,
        expected_pods: counts.expected,
        disruptions_allowed: allowed,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: Some(generation),
        conditions: old.conditions,
    };
    let (state, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    set_condition(&mut status, state, reason, String::new(), now);
    Some(status)
}

/// Upstream's `failSafe`: no disruptions, and why the budget could not be computed.
pub(crate) fn failed_status(
    budget: &PodDisruptionBudget,
    message: String,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut status = budget.status.clone().unwrap_or_default();
    status.disruptions_allowed = 0;
    set_condition(&mut status, "False", "SyncFailed", message, now);
    status
}

/// Upstream's `ConditionsAreUpToDate`.
fn conditions_up_to_date(status: &PodDisruptionBudgetStatus, generation: i64) -> bool {
    let Some(condition) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "DisruptionAllowed")
    else {
        return false;
    };
    if status.observed_generation.unwrap_or(0) != generation {
        return false;
    }
    if status.disruptions_allowed > 0 {
        condition.status == "True" && condition.reason == "SufficientPods"
    } else {
        condition.status == "False" && condition.reason == "InsufficientPods"
    }
}

/// apimachinery's `SetStatusCondition` for `DisruptionAllowed`: the transition time moves
/// only when the status does.
fn set_condition(
    status: &mut PodDisruptionBudgetStatus,
    state: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    let observed_generation = status.observed_generation;
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions
        .iter_mut()
        .find(|c| c.type_ == "DisruptionAllowed")
    {
        Some(c) => {
            if c.status != state {
                c.status = state.to_owned();
                c.last_transition_time = Time(now);
            }
            c.reason = reason.to_owned();
            c.message = message;
            c.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: "DisruptionAllowed".to_owned(),
            status: state.to_owned(),
            reason: reason.to_owned(),
            message,
            last_transition_time: Time(now),
            observed_generation,
        }),
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
