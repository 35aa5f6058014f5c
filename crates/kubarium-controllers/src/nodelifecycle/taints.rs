//! The taints the node controller keeps on nodes, as kube-controller-manager's node lifecycle
//! controller does: NoSchedule taints that mirror node conditions and `spec.unschedulable`
//! (TaintNodesByCondition), and the NoExecute `not-ready`/`unreachable` taints that make the
//! taint eviction controller move pods off a failed node. Pure functions, no I/O.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The node's Ready condition is False.
pub(crate) const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The node's Ready condition is Unknown: it stopped reporting.
pub(crate) const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// `spec.unschedulable` is set (`kubectl cordon`).
pub(crate) const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// Set by an administrator on a node that is shut down for good; the pod GC then
/// force-deletes the pods terminating there.
pub(crate) const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";
pub(crate) const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub(crate) const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub(crate) const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub(crate) const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

pub(crate) const NO_SCHEDULE: &str = "NoSchedule";
pub(crate) const NO_EXECUTE: &str = "NoExecute";

/// Which condition in which status calls for which NoSchedule taint.
const CONDITION_TAINTS: [(&str, &str, &str); 6] = [
    ("Ready", "False", NOT_READY),
    ("Ready", "Unknown", UNREACHABLE),
    ("MemoryPressure", "True", MEMORY_PRESSURE),
    ("DiskPressure", "True", DISK_PRESSURE),
    ("NetworkUnavailable", "True", NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", PID_PRESSURE),
];

/// The NoExecute taint a node should carry for its Ready condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoExecute {
    /// Ready is False: `not-ready:NoExecute`, and no `unreachable`.
    NotReady,
    /// Ready is Unknown: `unreachable:NoExecute`, and no `not-ready`.
    Unreachable,
    /// Ready is True (or every node is down, when upstream stops evicting): neither.
    Neither,
    /// Leave what is there (evictions paused in a partially disrupted small zone).
    Keep,
}

impl NoExecute {
    /// The taint for a Ready condition status.
    pub(crate) fn for_ready(status: Option<&str>) -> Self {
        match status {
            Some("True") => NoExecute::Neither,
            Some("False") => NoExecute::NotReady,
            _ => NoExecute::Unreachable,
        }
    }

    fn key(self) -> Option<&'static str> {
        match self {
            NoExecute::NotReady => Some(NOT_READY),
            NoExecute::Unreachable => Some(UNREACHABLE),
            NoExecute::Neither | NoExecute::Keep => None,
        }
    }
}

/// Whether a taint is one the node controller owns: a condition or unschedulable taint with
/// effect NoSchedule, or a not-ready/unreachable one with effect NoExecute.
fn owned(taint: &Taint) -> bool {
    match taint.effect.as_str() {
        NO_SCHEDULE => {
            taint.key == UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == taint.key)
        }
        NO_EXECUTE => taint.key == NOT_READY || taint.key == UNREACHABLE,
        _ => false,
    }
}

/// The NoSchedule taint keys a node's conditions and `spec.unschedulable` call for.
pub(crate) fn no_schedule_keys(
    conditions: &[NodeCondition],
    unschedulable: bool,
) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = conditions
        .iter()
        .filter_map(|c| {
            CONDITION_TAINTS
                .iter()
                .find(|(kind, status, _)| *kind == c.type_ && *status == c.status)
                .map(|(_, _, key)| *key)
        })
        .collect();
    if unschedulable {
        keys.push(UNSCHEDULABLE);
    }
    keys
}

/// The node's taints after the node controller's pass, or `None` when they stay as they
/// are. Taints it does not own are kept in place; taints it keeps keep their `timeAdded`;
/// taints it adds get `timeAdded` = `now`, as upstream's controller stamps every taint it
/// adds.
pub(crate) fn reconcile(
    current: &[Taint],
    no_schedule: &[&str],
    no_execute: NoExecute,
    now: Timestamp,
) -> Option<Vec<Taint>> {
    let wanted = |taint: &Taint| -> bool {
        match taint.effect.as_str() {
            NO_SCHEDULE => no_schedule.contains(&taint.key.as_str()),
            _ => match no_execute {
                NoExecute::Keep => true,
                other => other.key() == Some(taint.key.as_str()),
            },
        }
    };
    let mut taints: Vec<Taint> = current
        .iter()
        .filter(|t| !owned(t) || wanted(t))
        .cloned()
        .collect();
    let has = |taints: &[Taint], key: &str, effect: &str| {
        taints.iter().any(|t| t.key == key && t.effect == effect)
    };
    let mut added = Vec::new();
    for key in no_schedule {
        if !has(&taints, key, NO_SCHEDULE) && !added.iter().any(|(k, _)| k == key) {
            added.push((*key, NO_SCHEDULE));
        }
    }
    if let Some(key) = no_execute.key()
        && !has(&taints, key, NO_EXECUTE)
    {
        added.push((key, NO_EXECUTE));
    }
    for (key, effect) in added {
        taints.push(Taint {
            key: key.to_owned(),
            effect: effect.to_owned(),
            time_added: Some(Time(now)),
            value: None,
        });
    }
    (taints != current).then_some(taints)
}

/// Whether `taints` has a taint with `key` (any effect).
pub(crate) fn has_key(taints: &[Taint], key: &str) -> bool {
    taints.iter().any(|t| t.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(kind: &str, status: &str) -> NodeCondition {
        NodeCondition {
            type_: kind.to_owned(),
            status: status.to_owned(),
            ..NodeCondition::default()
        }
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.to_owned(),
            effect: effect.to_owned(),
            ..Taint::default()
        }
    }

    fn keys(taints: &[Taint]) -> Vec<String> {
        taints
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect()
    }

    #[test]
    fn conditions_and_cordon_call_for_no_schedule_taints() {
        let conditions = [
            condition("Ready", "Unknown"),
            condition("MemoryPressure", "Unknown"),
            condition("DiskPressure", "True"),
        ];
        assert_eq!(
            no_schedule_keys(&conditions, true),
            [UNREACHABLE, DISK_PRESSURE, UNSCHEDULABLE]
        );
        assert_eq!(
            no_schedule_keys(&[condition("Ready", "True")], false),
            Vec::<&str>::new()
        );
        assert_eq!(
            no_schedule_keys(&[condition("Ready", "False")], false),
            [NOT_READY]
        );
    }

    #[test]
    fn an_unreachable_node_gets_both_taints_stamped_now() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let control_plane = taint("node-role.kubernetes.io/control-plane", NO_SCHEDULE);
        let taints = reconcile(
            std::slice::from_ref(&control_plane),
            &[UNREACHABLE],
            NoExecute::Unreachable,
            now,
        )
        .unwrap();
        assert_eq!(
            keys(&taints),
            [
                "node-role.kubernetes.io/control-plane:NoSchedule",
                "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute",
            ]
        );
        assert_eq!(
            taints[0].time_added, None,
            "a taint it does not own is untouched"
        );
        assert_eq!(taints[2].time_added, Some(Time(now)));
        // A second pass changes nothing, so timeAdded stays.
        let later = now + jiff::SignedDuration::from_secs(30);
        assert_eq!(
            reconcile(&taints, &[UNREACHABLE], NoExecute::Unreachable, later),
            None
        );
    }

    #[test]
    fn not_ready_replaces_unreachable_and_ready_removes_both() {
        let now = Timestamp::now();
        let current = [
            taint(UNREACHABLE, NO_SCHEDULE),
            taint(UNREACHABLE, NO_EXECUTE),
        ];
        let taints = reconcile(&current, &[NOT_READY], NoExecute::NotReady, now).unwrap();
        assert_eq!(
            keys(&taints),
            [
                "node.kubernetes.io/not-ready:NoSchedule",
                "node.kubernetes.io/not-ready:NoExecute"
            ]
        );
        assert_eq!(
            reconcile(&taints, &[], NoExecute::Neither, now),
            Some(vec![])
        );
    }

    #[test]
    fn keep_leaves_no_execute_taints_and_others_own_theirs() {
        let now = Timestamp::now();
        let current = [
            taint(UNREACHABLE, NO_EXECUTE),
            taint(OUT_OF_SERVICE, NO_EXECUTE),
            taint("example.com/gpu", NO_SCHEDULE),
        ];
        assert_eq!(reconcile(&current, &[], NoExecute::Keep, now), None);
        let taints = reconcile(&current, &[], NoExecute::Neither, now).unwrap();
        assert_eq!(
            keys(&taints),
            [
                "node.kubernetes.io/out-of-service:NoExecute",
                "example.com/gpu:NoSchedule"
            ]
        );
    }
}
