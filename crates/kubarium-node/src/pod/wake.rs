//! What wakes a pod worker: each new copy of its pod reaches it, and only some call for a
//! pass, as the kubelet's pod config tells an update from a mere reconcile.

use k8s_openapi::api::core::v1::Pod;

/// Whether a pod's new copy is something for its worker to act on, as the kubelet's pod
/// config tells an update from a reconcile (`podsDifferSemantically`): its spec, labels,
/// annotations or deletion changed; or, for a pod with readiness gates, its conditions,
/// which decide its `Ready` (`NeedToReconcilePodReadiness`). Any other change to the status
/// (the echo of the worker's own write above all) only replaces the worker's copy.
pub(crate) fn acts_on(before: &Pod, after: &Pod) -> bool {
    let (was, is) = (&before.metadata, &after.metadata);
    if before.spec != after.spec
        || was.labels != is.labels
        || was.annotations != is.annotations
        || was.deletion_timestamp != is.deletion_timestamp
        || was.deletion_grace_period_seconds != is.deletion_grace_period_seconds
    {
        return true;
    }
    let gated = after
        .spec
        .as_ref()
        .and_then(|spec| spec.readiness_gates.as_ref())
        .is_some_and(|gates| !gates.is_empty());
    gated && conditions(before) != conditions(after)
}

fn conditions(pod: &Pod) -> Option<&Vec<k8s_openapi::api::core::v1::PodCondition>> {
    pod.status.as_ref()?.conditions.as_ref()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodReadinessGate, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    use super::*;

    fn condition(type_: &str) -> PodCondition {
        PodCondition {
            type_: type_.into(),
            status: "True".into(),
            ..PodCondition::default()
        }
    }

    #[test]
    fn a_worker_wakes_for_what_the_kubelet_acts_on() {
        let before: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "uid": "u1", "resourceVersion": "1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "a", "image": "nginx"}]},
        }))
        .unwrap();
        let wakes = |change: &dyn Fn(&mut Pod)| {
            let mut after = before.clone();
            change(&mut after);
            acts_on(&before, &after)
        };
        // The echo of the worker's own status write, and any other status-only change.
        assert!(!wakes(&|pod| {
            pod.metadata.resource_version = Some("2".into());
            pod.status = Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![condition("Ready")]),
                ..PodStatus::default()
            });
        }));
        assert!(wakes(&|pod| {
            pod.metadata.labels = Some([("app".into(), "api".into())].into());
        }));
        assert!(wakes(&|pod| {
            pod.metadata.annotations = Some([("a".into(), "b".into())].into());
        }));
        assert!(wakes(&|pod| {
            pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        }));
        assert!(wakes(&|pod| {
            pod.spec.as_mut().unwrap().active_deadline_seconds = Some(5);
        }));

        // With a readiness gate, a condition's change wakes the worker: it decides `Ready`.
        let gated = |pod: &mut Pod| {
            pod.spec.as_mut().unwrap().readiness_gates = Some(vec![PodReadinessGate {
                condition_type: "example.com/lb".into(),
            }]);
        };
        let mut before = before.clone();
        gated(&mut before);
        let mut after = before.clone();
        after.status = Some(PodStatus {
            conditions: Some(vec![condition("example.com/lb")]),
            ..PodStatus::default()
        });
        assert!(acts_on(&before, &after));
    }
}
