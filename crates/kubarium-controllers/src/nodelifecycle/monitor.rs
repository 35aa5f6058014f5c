//! The node controller (`node-controller`): watches each node's Lease and Ready condition,
//! marks a node that stopped reporting Unknown (and its pods not ready), and keeps the
//! node's condition taints — NoSchedule for scheduling, NoExecute `not-ready`/`unreachable`
//! for the taint eviction controller.
//!
//! Keyed by node and driven by node and Lease changes. A healthy node is looked at again
//! when its grace would run out (`Action::requeue` at the Lease's expiry), so there is one
//! pending timer per node and nothing scans every node on a clock. A renewal of a node that
//! is Ready and carries no taint of a failed node wakes nothing ([`settled`]): the look
//! already due when its last grace runs out finds the renewal then, so a node is looked at
//! once a grace period rather than at each of the four renewals in it, as upstream's monitor
//! looks at each node once a period rather than at each renewal. The zones' counts that
//! a down node's taints depend on are taken from the node cache at most every
//! [`CENSUS_MAX_AGE`] (upstream takes them once per monitor period), not once per down node:
//! with thousands of nodes down, a count per pass cost time quadratic in the nodes, enough
//! to starve the agents' Lease renewals and take down the nodes still up.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinSet;

use super::health::{self, Census, Evictions, Health};
use super::taints::{self, NoExecute};
use crate::events::Recorder;
use crate::informers::{HasSynced, Index};
use crate::objects::Objects;
use crate::{Context, Error, Result};

/// The component its events come from.
const COMPONENT: &str = "node-controller";
/// Where node agents keep their Leases.
const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How often a node that is down is looked at again (upstream's `--node-monitor-period`),
/// so a change elsewhere (another node back, ending a full disruption) reaches its taints.
const DOWN_RECHECK: Duration = Duration::from_secs(5);
/// How old the zones' counts may be when a down node's taints are decided.
const CENSUS_MAX_AGE: Duration = Duration::from_millis(500);

struct State {
    client: Client,
    grace: Duration,
    /// When the controller started; no node is judged on silence from before it.
    started: Timestamp,
    nodes: Store<Node>,
    leases: Store<Lease>,
    leases_synced: HasSynced,
    /// Whether the pods are listed (they are read through `by_node`).
    pods_synced: HasSynced,
    /// The pods by node.
    by_node: Index<Pod>,
    recorder: Recorder,
    /// Nodes seen since this controller started (upstream's `knownNodeSet`).
    known: Mutex<HashSet<String>>,
    /// The zones' counts and when they were taken.
    census: Mutex<Option<(Instant, Arc<Census>)>>,
}

impl State {
    /// The zones' counts, taken again if older than [`CENSUS_MAX_AGE`].
    fn census(&self) -> Arc<Census> {
        let mut census = self.census.lock().unwrap_or_else(|e| e.into_inner());
        match census.as_ref() {
            Some((taken, counts)) if taken.elapsed() < CENSUS_MAX_AGE => counts.clone(),
            _ => {
                let counts = Arc::new(Census::take(self.nodes.state().iter().map(|n| &**n)));
                *census = Some((Instant::now(), counts.clone()));
                counts
            }
        }
    }
}

/// Sets the controller up on `tasks`.
pub(super) fn start(ctx: &Context, tasks: &mut JoinSet<()>, by_node: Index<Pod>) {
    let node_events = ctx.informers.subscribe::<Node>();
    let lease_events = ctx.informers.subscribe::<Lease>();
    let nodes = ctx.informers.store::<Node>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        grace: ctx.config.node_monitor_grace,
        started: Timestamp::now(),
        nodes: nodes.clone(),
        leases: ctx.informers.store::<Lease>(),
        leases_synced: ctx.informers.has_synced::<Lease>(),
        pods_synced: ctx.informers.has_synced::<Pod>(),
        by_node,
        recorder: ctx.recorder(COMPONENT),
        known: Mutex::new(HashSet::new()),
        census: Mutex::new(None),
    });
    let cached = nodes.clone();
    let lease_to_node = move |lease: Arc<Lease>| {
        if lease.namespace().as_deref() != Some(LEASE_NAMESPACE) {
            return None;
        }
        let node = ObjectRef::<Node>::new(&lease.name_any());
        match cached.get(&node) {
            Some(held) if settled(&held) => None,
            _ => Some(node),
        }
    };
    tasks.spawn(async move {
        Controller::for_shared_stream(node_events, nodes)
            .watches_shared_stream(lease_events, lease_to_node)
            .run(reconcile, error_policy, state)
            .for_each(|_| async {})
            .await;
    });
}

/// Whether a renewal of `node`'s Lease can wait for the look its last pass scheduled at the
/// end of its grace: it is Ready and has neither `not-ready` nor `unreachable` taint, so a
/// renewal now changes nothing. Every pass over such a node ends in a requeue at its Lease's
/// expiry at the latest (or a retry, on error), and that pass reads the Lease as it is then.
fn settled(node: &Node) -> bool {
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[]);
    health::ready_status(node) == Some("True")
        && !taints::has_key(taints, taints::NOT_READY)
        && !taints::has_key(taints, taints::UNREACHABLE)
}

async fn reconcile(node: Arc<Node>, state: Arc<State>) -> Result<Action> {
    // Judge no node before the Leases and pods are known (upstream waits for its caches).
    state.leases_synced.wait().await;
    state.pods_synced.wait().await;
    let name = node.name_any();
    if node.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let first_seen = state
        .known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.clone());
    if first_seen {
        state.recorder.normal(
            &*node,
            "RegisteredNode",
            format!("Node {name} event: Registered Node {name} in Controller"),
        );
    }
    let lease = state
        .leases
        .get(&ObjectRef::new(&name).within(LEASE_NAMESPACE));
    let now = Timestamp::now();
    let next = match health::assess(&node, lease.as_deref(), now, state.started, state.grace) {
        Health::Lapsing { conditions } => {
            let was_ready = health::ready_status(&node) == Some("True");
            let mut updated = (*node).clone();
            updated.status.get_or_insert_default().conditions = Some(conditions);
            Objects::<Node>::all(state.client.clone())
                .replace_status(&name, &PostParams::default(), &updated)
                .await
                .map_err(Error::api("update status", format!("nodes {name}")))?;
            if was_ready {
                state.recorder.normal(
                    &*node,
                    "NodeNotReady",
                    format!("Node {name} status is now: NodeNotReady"),
                );
                mark_pods_not_ready(&state, &name).await?;
            }
            // The write comes back as a change; taints follow from it.
            return Ok(Action::await_change());
        }
        Health::Fresh { expires } => {
            Duration::try_from(expires.duration_since(now)).unwrap_or_default()
                + Duration::from_millis(100)
        }
        Health::Lapsed => {
            // Pods a failed pass left ready (upstream's `nodesToRetry`), or that became
            // ready since: none of them can be while their node is silent.
            mark_pods_not_ready(&state, &name).await?;
            DOWN_RECHECK
        }
    };
    reconcile_taints(&state, &node, now).await?;
    Ok(match health::ready_status(&node) {
        Some("True") => Action::requeue(next),
        _ => Action::requeue(next.min(DOWN_RECHECK)),
    })
}

/// Brings the node's condition and unschedulable taints in line with its status.
async fn reconcile_taints(state: &State, node: &Node, now: Timestamp) -> Result<()> {
    let ready = health::ready_status(node);
    let no_execute = match NoExecute::for_ready(ready) {
        NoExecute::Neither => NoExecute::Neither,
        failed => match state.census().evictions(node) {
            Evictions::Proceed => failed,
            Evictions::Paused => NoExecute::Keep,
            Evictions::Halted => NoExecute::Neither,
        },
    };
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[]);
    let spec = node.spec.as_ref();
    let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let current = spec.and_then(|s| s.taints.as_deref()).unwrap_or(&[]);
    let no_schedule = taints::no_schedule_keys(conditions, unschedulable);
    let Some(new) = taints::reconcile(current, &no_schedule, no_execute, now) else {
        return Ok(());
    };
    let name = node.name_any();
    let mut updated = node.clone();
    updated.spec.get_or_insert_default().taints = (!new.is_empty()).then_some(new);
    // A replace carries the cached resourceVersion: a concurrent change (a cordon, the
    // agent's own update) makes it fail with 409, and the next pass starts from that.
    Objects::<Node>::all(state.client.clone())
        .replace(&name, &PostParams::default(), &updated)
        .await
        .map_err(Error::api("update", format!("nodes {name}")))?;
    Ok(())
}

/// Sets the Ready condition of every pod on the node to False, as upstream's
/// `MarkPodsNotReady`: their agent cannot, and Services should stop sending them traffic.
async fn mark_pods_not_ready(state: &State, node: &str) -> Result<()> {
    let now = Time(Timestamp::now());
    for pod in state.by_node.get(node) {
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        if ready.is_none_or(|c| c.status == "False") {
            continue;
        }
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let patch = json!({"status": {"conditions": [{
            "type": "Ready",
            "status": "False",
            "lastTransitionTime": now,
        }]}});
        let result = Objects::<Pod>::namespaced(state.client.clone(), &namespace)
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map_err(Error::api(
                "patch status",
                format!("pods {namespace}/{name}"),
            ));
        match result {
            Ok(_) => state
                .recorder
                .warning(&*pod, "NodeNotReady", "Node is not ready".to_owned()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn error_policy(_node: Arc<Node>, error: &Error, _state: Arc<State>) -> Action {
    tracing::debug!(%error, "node health update failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: &str, taints: &[&str]) -> Node {
        let taints: Vec<_> = taints
            .iter()
            .map(|key| json!({"key": key, "effect": taints::NO_SCHEDULE}))
            .collect();
        serde_json::from_value(json!({
            "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}]},
        }))
        .unwrap()
    }

    #[test]
    fn only_a_ready_untainted_nodes_renewals_wait_for_its_requeue() {
        assert!(settled(&node("True", &[])));
        // A cordon or a pressure taint is the node's own business, not its health's.
        assert!(settled(&node("True", &[taints::UNSCHEDULABLE])));
        assert!(!settled(&node("Unknown", &[])));
        assert!(!settled(&node("False", &[])));
        // Ready again with its failure's taints still on: its renewals wake it until a pass
        // clears them.
        assert!(!settled(&node("True", &[taints::UNREACHABLE])));
        assert!(!settled(&node("True", &[taints::NOT_READY])));
        assert!(!settled(&Node::default()));
    }
}
