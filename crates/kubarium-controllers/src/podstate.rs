//! What the workload controllers read from a pod, as upstream's `podutil` reads it: whether
//! it is terminating, running, ready, and available (ready for `minReadySeconds`); and how
//! they wait for their own writes to reach the shared caches, which upstream's controllers
//! do with "expectations".

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

/// Whether the pod is being deleted.
pub(crate) fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The pod's phase (`Pending` when not reported yet).
pub(crate) fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Whether the pod ran to an end (`Succeeded` or `Failed`).
pub(crate) fn finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// When the pod's `Ready` condition last became `True`, if it is true.
fn ready_since(pod: &Pod) -> Option<Option<jiff::Timestamp>> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .filter(|c| c.status == "True")
        .map(|c| c.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether the pod's `Ready` condition is true.
pub(crate) fn ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod is `Running` and ready.
pub(crate) fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && ready(pod)
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now`.
pub(crate) fn available(pod: &Pod, min_ready_seconds: i32, now: jiff::Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => {
            since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds)) <= now
        }
    }
}

/// How long until a ready pod becomes available, if it is ready but not yet available.
pub(crate) fn until_available(
    pod: &Pod,
    min_ready_seconds: i32,
    now: jiff::Timestamp,
) -> Option<std::time::Duration> {
    let since = ready_since(pod)??;
    let at = since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds));
    let left = now.duration_until(at);
    (left.is_positive()).then(|| left.unsigned_abs())
}

/// Whether `owner` (by uid) is the object's controller.
pub(crate) fn controlled_by(references: Option<&Vec<OwnerReference>>, uid: &str) -> bool {
    references
        .into_iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// A controller reference to `owner`, as `metav1.NewControllerRef` makes one.
pub(crate) fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// How long a loop waits for the cache to show its own write before it goes on anyway.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Waits until the cached object `name` in `namespace` satisfies `done` (given `None` when
/// it is absent), or [`SETTLE`] has passed: so the next sync does not act twice on a stale
/// cache (e.g. create a second pod for a node).
pub(crate) async fn settle<K>(
    store: &kube::runtime::reflector::Store<K>,
    namespace: &str,
    name: &str,
    done: impl Fn(Option<&K>) -> bool,
) where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let key = kube::runtime::reflector::ObjectRef::<K>::new(name).within(namespace);
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !done(store.get(&key).as_deref()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod(phase: &str, ready_at: Option<jiff::Timestamp>) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some(phase.to_owned()),
                conditions: ready_at.map(|at| {
                    vec![PodCondition {
                        type_: "Ready".to_owned(),
                        status: "True".to_owned(),
                        last_transition_time: Some(Time(at)),
                        ..PodCondition::default()
                    }]
                }),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn availability_waits_min_ready_seconds() {
        let now = jiff::Timestamp::from_second(1_000).unwrap();
        let since = jiff::Timestamp::from_second(995).unwrap();
        let p = pod("Running", Some(since));
        assert!(running_and_ready(&p));
        assert!(available(&p, 0, now));
        assert!(available(&p, 5, now));
        assert!(!available(&p, 10, now));
        assert_eq!(
            until_available(&p, 10, now),
            Some(std::time::Duration::from_secs(5))
        );
        assert!(!running_and_ready(&pod("Pending", None)));
        assert!(!available(&pod("Running", None), 0, now));
    }
}
