//! Stale `DisruptionTarget` conditions, as upstream's disruption controller clears them: a
//! pod the eviction subresource marked but that was not deleted within two minutes (the
//! delete failed, or a precondition stopped it) gets the condition back to `False`, so
//! nothing reads it as about to go.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::PostParams;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::objects::Objects;
use crate::{Context, podstate};

/// How long a `DisruptionTarget` condition waits for its pod to be deleted (upstream's
/// `stalePodDisruptionTimeout`).
pub(super) const STALE_AFTER: Duration = Duration::from_secs(2 * 60);

/// The kubelet's reason, whose conditions are never stale (the pod may take any time).
const BY_KUBELET: &str = "TerminationByKubelet";

/// Upstream's `nonTerminatingPodHasStaleDisruptionCondition`: how long until the pod's
/// `DisruptionTarget` condition is stale (zero once it is), or `None` when it has none that
/// can be.
pub(super) fn stale_in(pod: &Pod, now: Timestamp) -> Option<Duration> {
    if podstate::terminating(pod) || podstate::finished(pod) {
        return None;
    }
    let condition = disruption_target(pod)?;
    if condition.status != "True" || condition.reason.as_deref() == Some(BY_KUBELET) {
        return None;
    }
    let since = condition.last_transition_time.as_ref().map_or(now, |t| t.0);
    let waited = now.duration_since(since).unsigned_abs();
    Some(STALE_AFTER.saturating_sub(if now < since { Duration::ZERO } else { waited }))
}

fn disruption_target(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "DisruptionTarget")
}

/// Sets the loop up on `tasks`: every pod change is looked at, and a pod with a condition
/// that can go stale is looked at again when it does (one task, so shutdown stops it all).
pub(super) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let mut changes = ctx.informers.subscribe::<Pod>();
    let pods = ctx.informers.store::<Pod>();
    let client = ctx.client.clone();
    tasks.spawn(async move {
        let mut due: BTreeSet<(Instant, String)> = BTreeSet::new();
        let mut waiting: HashMap<String, ObjectRef<Pod>> = HashMap::new();
        loop {
            let next = due.first().map(|(at, _)| *at);
            tokio::select! {
                pod = changes.next() => {
                    let Some(pod) = pod else { return };
                    let Some(wait) = stale_in(&pod, Timestamp::now()) else { continue };
                    let key = ObjectRef::from_obj(pod.as_ref());
                    let name = key.to_string();
                    if let std::collections::hash_map::Entry::Vacant(entry) = waiting.entry(name.clone()) {
                        due.insert((Instant::now() + wait, name));
                        entry.insert(key);
                    }
                }
                () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    while let Some((at, name)) = due.first().cloned() {
                        if at > Instant::now() {
                            break;
                        }
                        due.pop_first();
                        if let Some(key) = waiting.remove(&name) {
                            clear(&pods, &client, &key).await;
                        }
                    }
                }
            }
        }
    });
}

/// Sets the pod's stale condition to `False` (reason and message cleared, as upstream's
/// `UpdatePodCondition` with a bare condition), if it still is stale in the cache.
async fn clear(pods: &Store<Pod>, client: &Client, key: &ObjectRef<Pod>) {
    let Some(pod) = pods.get(key) else { return };
    let now = Timestamp::now();
    if stale_in(&pod, now) != Some(Duration::ZERO) {
        return;
    }
    let mut updated = (*pod).clone();
    if let Some(condition) = updated
        .status
        .as_mut()
        .and_then(|s| s.conditions.as_mut())
        .and_then(|c| c.iter_mut().find(|c| c.type_ == "DisruptionTarget"))
    {
        *condition = PodCondition {
            type_: "DisruptionTarget".to_owned(),
            status: "False".to_owned(),
            last_transition_time: Some(Time(now)),
            ..PodCondition::default()
        };
    }
    let namespace = pod.namespace().unwrap_or_default();
    // A conflict means the pod changed: that change is looked at anew.
    if let Err(error) = Objects::<Pod>::namespaced(client.clone(), &namespace)
        .replace_status(&pod.name_any(), &PostParams::default(), &updated)
        .await
    {
        tracing::debug!(pod = %key, %error, "stale DisruptionTarget not cleared");
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn pod(status: &str, reason: &str, at: Timestamp, phase: &str, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                deletion_timestamp: deleting.then_some(Time(at)),
                ..ObjectMeta::default()
            },
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "DisruptionTarget".into(),
                    status: status.into(),
                    reason: Some(reason.into()),
                    last_transition_time: Some(Time(at)),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn an_eviction_mark_goes_stale_two_minutes_after_it_was_set() {
        let at = Timestamp::from_second(1_700_000_000).unwrap();
        let later = at + jiff::SignedDuration::from_secs(30);
        let evicted = pod("True", "EvictionByEvictionAPI", at, "Running", false);
        assert_eq!(stale_in(&evicted, later), Some(Duration::from_secs(90)));
        let much_later = at + jiff::SignedDuration::from_secs(600);
        assert_eq!(stale_in(&evicted, much_later), Some(Duration::ZERO));
    }

    #[test]
    fn kubelet_marks_terminating_and_finished_pods_are_never_stale() {
        let at = Timestamp::from_second(1_700_000_000).unwrap();
        let later = at + jiff::SignedDuration::from_secs(600);
        for pod in [
            pod("True", BY_KUBELET, at, "Running", false),
            pod("True", "EvictionByEvictionAPI", at, "Running", true),
            pod("True", "EvictionByEvictionAPI", at, "Failed", false),
            pod("False", "", at, "Running", false),
        ] {
            assert_eq!(stale_in(&pod, later), None, "{pod:?}");
        }
    }
}
