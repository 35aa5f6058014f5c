//! What controllers ask of a pod (active, ready, available) and the order in which a
//! ReplicaSet gives pods up when it scales down, as upstream's `controller_utils.go` and
//! `podutil` answer them.

use std::cmp::Ordering;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The annotation that tells a ReplicaSet which pods to delete first (lower first).
pub(crate) const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Not finished (Succeeded/Failed) and not being deleted: the pods that count.
pub(crate) fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Succeeded" | "Failed")) && pod.metadata.deletion_timestamp.is_none()
}

/// When the pod's Ready condition last turned True, if it is ready.
pub(crate) fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    let ready = pod
        .status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    (ready.status == "True").then(|| ready.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether the pod's Ready condition is True.
pub(crate) fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Ready for at least `min_ready_seconds` by `now` (upstream's `IsPodAvailable`).
pub(crate) fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => {
            since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds)) < now
        }
    }
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|cost| cost.parse().ok())
        .unwrap_or(0)
}

/// The most restarts of any regular container, then of any sidecar (restartable init
/// container).
fn restarts(pod: &Pod) -> (i32, i32) {
    let Some(status) = pod.status.as_ref() else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    let sidecars: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|spec| spec.init_containers.iter().flatten())
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let sidecar = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| sidecars.contains(&c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

/// `int64(math.Log2(now - t))` over nanoseconds, -1 when `t` is not before `now`.
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let nanos = now.duration_since(t).as_nanos();
    if nanos <= 0 {
        -1
    } else {
        // Truncation as upstream's int64(math.Log2(float64(d))).
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let rank = (nanos as f64).log2() as i64;
        rank
    }
}

/// Orders two times so that the more recent (or missing) one comes first, in buckets of
/// powers of two of their age, the pods' UIDs breaking ties within a bucket (upstream's
/// LogarithmicScaleDown).
fn newer_first(
    a: (Option<Timestamp>, &str),
    b: (Option<Timestamp>, &str),
    now: Timestamp,
) -> Ordering {
    match (a.0, b.0) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => match log_rank(x, now).cmp(&log_rank(y, now)) {
            Ordering::Equal => a.1.cmp(b.1),
            other => other,
        },
    }
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

fn created(pod: &Pod) -> Option<Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|t: &Time| t.0)
}

/// Upstream's `ActivePodsWithRanks.Less`: the pods a ReplicaSet deletes first sort first.
/// `rank_a`/`rank_b` count the active pods of the same owner on each pod's node.
pub(crate) fn deletion_order(
    a: &Pod,
    rank_a: usize,
    b: &Pod,
    rank_b: usize,
    now: Timestamp,
) -> Ordering {
    let node = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty())
    };
    // 1. Unassigned < assigned.
    node(a)
        .cmp(&node(b))
        // 2. Pending < Unknown < Running.
        .then_with(|| phase_rank(a).cmp(&phase_rank(b)))
        // 3. Not ready < ready.
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        // 4. Lower deletion cost < higher.
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        // 5. Doubled up (more pods on the node) < not doubled up.
        .then_with(|| rank_b.cmp(&rank_a))
        // 6. Ready for less time < more time.
        .then_with(|| match (ready_since(a), ready_since(b)) {
            (Some(x), Some(y)) if x != y => newer_first((x, uid(a)), (y, uid(b)), now),
            _ => Ordering::Equal,
        })
        // 7. More restarts < fewer.
        .then_with(|| restarts(b).cmp(&restarts(a)))
        // 8. Newer < older.
        .then_with(|| {
            let (x, y) = (created(a), created(b));
            if x == y {
                Ordering::Equal
            } else {
                newer_first((x, uid(a)), (y, uid(b)), now)
            }
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    pub(crate) fn pod(name: &str, node: &str, phase: &str, ready_at: Option<i64>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(Timestamp::from_second(1_000).unwrap())),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: (!node.is_empty()).then(|| node.to_owned()),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.to_owned()),
                conditions: ready_at.map(|at| {
                    vec![PodCondition {
                        type_: "Ready".to_owned(),
                        status: "True".to_owned(),
                        last_transition_time: Some(Time(Timestamp::from_second(at).unwrap())),
                        ..PodCondition::default()
                    }]
                }),
                ..PodStatus::default()
            }),
        }
    }

    #[test]
    fn available_after_min_ready_seconds() {
        let p = pod("a", "n", "Running", Some(100));
        let at = |s| Timestamp::from_second(s).unwrap();
        assert!(is_available(&p, 0, at(100)));
        assert!(!is_available(&p, 10, at(105)));
        assert!(is_available(&p, 10, at(111)));
        assert!(!is_available(&pod("b", "n", "Running", None), 0, at(111)));
    }

    #[test]
    fn deletes_unassigned_pending_unready_pods_first() {
        let now = Timestamp::from_second(10_000).unwrap();
        let mut pods = [
            pod("ready", "n1", "Running", Some(500)),
            pod("running", "n1", "Running", None),
            pod("pending", "n1", "Pending", None),
            pod("unassigned", "", "Pending", None),
        ];
        pods.sort_by(|a, b| deletion_order(a, 1, b, 1, now));
        let names: Vec<_> = pods
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["unassigned", "pending", "running", "ready"]);
    }

    #[test]
    fn doubled_up_and_recently_ready_pods_go_first() {
        let now = Timestamp::from_second(100_000).unwrap();
        let a = pod("a", "n1", "Running", Some(1_000));
        let b = pod("b", "n2", "Running", Some(1_000));
        assert_eq!(deletion_order(&a, 2, &b, 1, now), Ordering::Less);
        let recent = pod("recent", "n1", "Running", Some(99_990));
        assert_eq!(deletion_order(&recent, 1, &a, 1, now), Ordering::Less);
    }
}
