//! The taint eviction controller (`taint-eviction-controller`): pods on a node with a
//! NoExecute taint they do not tolerate are deleted at once; pods that tolerate it for
//! `tolerationSeconds` are deleted when that runs out, counted from the taint's `timeAdded`.
//! Each is first given the `DisruptionTarget` condition, as upstream does.
//!
//! Keyed by node: a node is looked at when its taints change, when a pod on a tainted node
//! changes, and again at its next eviction time (`Action::requeue`), so no timer runs for a
//! node without NoExecute taints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinSet;

use super::taints::NO_EXECUTE;
use crate::events::{EventType, Recorder};
use crate::informers::{HasSynced, Index};
use crate::objects::Objects;
use crate::{Context, Error, Result};

/// The component its events come from.
const COMPONENT: &str = "taint-eviction-controller";

/// When a pod on a tainted node must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eviction {
    /// It tolerates every NoExecute taint on its node for ever (or there are none).
    Never,
    /// At this time (now or earlier: at once).
    At(Timestamp),
}

/// Whether `toleration` tolerates `taint`, as upstream's `ToleratesTaint`: the effect
/// matches or is empty, the key matches or is empty (with `Exists`), and the value matches
/// (`Equal`, the default) or is not looked at (`Exists`).
pub(crate) fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// When a pod with `tolerations` must leave a node with the NoExecute `taints`, at `now`.
/// A taint without `timeAdded` counts from `noticed`, when the controller first saw it.
pub(crate) fn decide(
    tolerations: &[Toleration],
    taints: &[Taint],
    noticed: Timestamp,
    now: Timestamp,
) -> Eviction {
    let mut at: Option<Timestamp> = None;
    for taint in taints {
        let Some(toleration) = tolerations.iter().find(|t| tolerates(t, taint)) else {
            return Eviction::At(now);
        };
        let Some(seconds) = toleration.toleration_seconds else {
            continue;
        };
        if seconds <= 0 {
            return Eviction::At(now);
        }
        let start = taint.time_added.as_ref().map_or(noticed, |t| t.0);
        let end = start.saturating_add(SignedDuration::from_secs(seconds));
        let end = end.unwrap_or(Timestamp::MAX);
        at = Some(at.map_or(end, |at| at.min(end)));
    }
    at.map_or(Eviction::Never, Eviction::At)
}

/// The NoExecute taints of a node.
fn no_execute_taints(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|taints| {
            taints
                .iter()
                .filter(|t| t.effect == NO_EXECUTE)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// A pod by namespace and name.
type PodKey = (String, String);

struct State {
    client: Client,
    /// Whether the pods are listed (they are read through `by_node`).
    pods_synced: HasSynced,
    /// The pods by node.
    by_node: Index<Pod>,
    recorder: Recorder,
    /// Per node, the pods whose eviction is scheduled and when their countdown started.
    scheduled: Mutex<HashMap<String, HashMap<PodKey, Timestamp>>>,
}

impl State {
    fn scheduled(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<PodKey, Timestamp>>> {
        self.scheduled.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn event(&self, (namespace, name): &PodKey, message: String) {
        let reference = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Pod".to_owned()),
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            ..Default::default()
        };
        self.recorder.record(
            reference,
            EventType::Normal,
            "TaintManagerEviction",
            message,
        );
    }

    fn cancelled(&self, key: &PodKey) {
        self.event(
            key,
            format!("Cancelling deletion of Pod {}/{}", key.0, key.1),
        );
    }
}

/// Sets the controller up on `tasks`.
pub(super) fn start(ctx: &Context, tasks: &mut JoinSet<()>, by_node: Index<Pod>) {
    let node_events = ctx.informers.subscribe::<Node>();
    let pod_events = ctx.informers.subscribe::<Pod>();
    let nodes = ctx.informers.store::<Node>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        pods_synced: ctx.informers.has_synced::<Pod>(),
        by_node,
        recorder: ctx.recorder(COMPONENT),
        scheduled: Mutex::new(HashMap::new()),
    });
    let mapper_state = state.clone();
    let mapper_nodes = nodes.clone();
    // A pod matters only where its node has NoExecute taints or evictions are pending.
    let pod_to_node = move |pod: Arc<Pod>| {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone())?;
        let reference = ObjectRef::<Node>::new(&node);
        let tainted = mapper_nodes
            .get(&reference)
            .is_some_and(|n| !no_execute_taints(&n).is_empty());
        (tainted || mapper_state.scheduled().contains_key(&node)).then_some(reference)
    };
    tasks.spawn(async move {
        Controller::for_shared_stream(node_events, nodes)
            .watches_shared_stream(pod_events, pod_to_node)
            .run(reconcile, error_policy, state)
            .for_each(|_| async {})
            .await;
    });
}

async fn reconcile(node: Arc<Node>, state: Arc<State>) -> Result<Action> {
    state.pods_synced.wait().await;
    let name = node.name_any();
    let taints = no_execute_taints(&node);
    if taints.is_empty() {
        // Taints gone: every pending eviction on the node is cancelled.
        let pending = state.scheduled().remove(&name).unwrap_or_default();
        for key in pending.keys() {
            state.cancelled(key);
        }
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    let mut due = Vec::new();
    let mut next: Option<Timestamp> = None;
    {
        let mut all = state.scheduled();
        let before = all.remove(&name).unwrap_or_default();
        let mut after = HashMap::new();
        for pod in state.by_node.get(&name) {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let key = (pod.namespace().unwrap_or_default(), pod.name_any());
            let noticed = before.get(&key).copied().unwrap_or(now);
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.as_deref())
                .unwrap_or(&[]);
            match decide(tolerations, &taints, noticed, now) {
                Eviction::Never => {}
                Eviction::At(at) if at <= now => due.push(pod),
                Eviction::At(at) => {
                    next = Some(next.map_or(at, |n| n.min(at)));
                    after.insert(key, noticed);
                }
            }
        }
        // Pending evictions no longer called for (tolerated for ever, or the pod is gone).
        for key in before.keys() {
            let evicting = due
                .iter()
                .any(|p| p.namespace().as_deref() == Some(key.0.as_str()) && p.name_any() == key.1);
            if !after.contains_key(key) && !evicting {
                state.cancelled(key);
            }
        }
        if !after.is_empty() {
            all.insert(name.clone(), after);
        }
    }
    for pod in due {
        evict(&state, &pod).await?;
    }
    Ok(match next {
        Some(at) => {
            let wait = at.duration_since(now);
            Action::requeue(
                Duration::try_from(wait).unwrap_or_default() + Duration::from_millis(50),
            )
        }
        None => Action::await_change(),
    })
}

/// Gives `pod` the `DisruptionTarget` condition, then deletes it (gracefully: its node's
/// agent, if it is still there, stops it).
async fn evict(state: &State, pod: &Pod) -> Result<()> {
    let namespace = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    state.event(
        &(namespace.clone(), name.clone()),
        format!("Marking for deletion Pod {namespace}/{name}"),
    );
    let api = Objects::<Pod>::namespaced(state.client.clone(), &namespace);
    let condition = json!({"status": {"conditions": [{
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint",
        "lastTransitionTime": Time(Timestamp::now()),
    }]}});
    // A conflict (the pod changed under the API server, or was replaced by one of the same
    // name) is retried: the next pass decides again from the cache.
    super::mark_and_delete(&api, pod, condition, None).await
}

fn error_policy(_node: Arc<Node>, error: &Error, _state: Arc<State>) -> Action {
    tracing::debug!(%error, "taint eviction failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn unreachable(added: Option<i64>) -> Taint {
        Taint {
            key: "node.kubernetes.io/unreachable".to_owned(),
            effect: "NoExecute".to_owned(),
            time_added: added.map(|s| Time(at(s))),
            value: None,
        }
    }

    fn toleration(key: Option<&str>, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: key.map(str::to_owned),
            operator: Some("Exists".to_owned()),
            effect: Some("NoExecute".to_owned()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    #[test]
    fn an_untolerated_taint_evicts_at_once() {
        let other = toleration(Some("example.com/gpu"), None);
        assert_eq!(
            decide(&[other], &[unreachable(Some(0))], at(5), at(10)),
            Eviction::At(at(10))
        );
    }

    #[test]
    fn toleration_seconds_count_from_the_taints_time_added() {
        let tolerations = [
            toleration(Some("node.kubernetes.io/not-ready"), Some(30)),
            toleration(Some("node.kubernetes.io/unreachable"), Some(5)),
        ];
        assert_eq!(
            decide(&tolerations, &[unreachable(Some(100))], at(101), at(102)),
            Eviction::At(at(105))
        );
        // Without timeAdded, from when the controller noticed it.
        assert_eq!(
            decide(&tolerations, &[unreachable(None)], at(101), at(102)),
            Eviction::At(at(106))
        );
    }

    #[test]
    fn tolerating_for_ever_never_evicts_and_zero_seconds_evicts_at_once() {
        assert_eq!(
            decide(
                &[toleration(None, None)],
                &[unreachable(Some(0))],
                at(0),
                at(1)
            ),
            Eviction::Never
        );
        assert_eq!(
            decide(
                &[toleration(None, Some(0))],
                &[unreachable(Some(0))],
                at(0),
                at(1)
            ),
            Eviction::At(at(1))
        );
        assert_eq!(decide(&[], &[], at(0), at(1)), Eviction::Never);
    }

    #[test]
    fn toleration_matching_follows_upstream() {
        let taint = Taint {
            key: "dedicated".to_owned(),
            value: Some("db".to_owned()),
            effect: "NoExecute".to_owned(),
            time_added: None,
        };
        let equal = |value: &str, effect: Option<&str>| Toleration {
            key: Some("dedicated".to_owned()),
            operator: None,
            value: Some(value.to_owned()),
            effect: effect.map(str::to_owned),
            toleration_seconds: None,
        };
        assert!(tolerates(&equal("db", None), &taint));
        assert!(!tolerates(&equal("web", None), &taint));
        assert!(!tolerates(&equal("db", Some("NoSchedule")), &taint));
        let everything = Toleration {
            operator: Some("Exists".to_owned()),
            ..Toleration::default()
        };
        assert!(tolerates(&everything, &taint));
    }
}
