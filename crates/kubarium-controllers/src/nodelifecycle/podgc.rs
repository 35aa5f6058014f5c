//! The pod garbage collector (`pod-garbage-collector`), as kube-controller-manager's podgc:
//! force-deletes pods bound to a node that no longer exists (after a short quarantine and a
//! GET that confirms the node is gone), terminating pods on a not-ready node tainted
//! `node.kubernetes.io/out-of-service`, terminating pods that were never scheduled, and the
//! oldest terminated pods above a threshold.
//!
//! Pods on a node that is merely unreachable stay Terminating, as upstream: their agent may
//! still be running them. They are force-deleted when the node is deleted or marked
//! out-of-service, or finish when the node returns. (Their controllers replace them at once
//! either way: ReplicaSets do not count terminating pods.)

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinSet;

use super::health;
use super::taints::{self, OUT_OF_SERVICE};
use crate::objects::Objects;
use crate::{Context, Result};

/// How often the collector looks (upstream: 20 s; shorter so a deleted node's pods go
/// within seconds). Each pass reads the shared caches only.
const PERIOD: Duration = Duration::from_secs(5);
/// How long a missing node stays missing before it is checked with a GET (upstream: 40 s).
const QUARANTINE: Duration = Duration::from_secs(5);
/// Terminated pods kept before the oldest are deleted (upstream's
/// `--terminated-pod-gc-threshold`).
const TERMINATED_THRESHOLD: usize = 12_500;

/// Why a pod is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Succeeded or Failed, beyond the threshold.
    Terminated,
    /// Terminating on an out-of-service node that is not ready.
    OutOfService,
    /// Terminating without ever being scheduled.
    Unscheduled,
    /// Its node is gone.
    Orphaned,
}

/// Whether a pod has finished (upstream counts every phase but Pending, Running, Unknown).
fn terminated(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !matches!(phase, Some("Pending" | "Running" | "Unknown"))
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

/// The pods to collect now, and the names of nodes that pods are bound to but that are not
/// in `nodes` (candidates for [`Reason::Orphaned`] once their quarantine is over).
pub(crate) fn plan(
    pods: &[Arc<Pod>],
    nodes: &HashMap<String, Arc<Node>>,
    threshold: usize,
) -> (Vec<(Arc<Pod>, Reason)>, HashSet<String>) {
    let mut collect = Vec::new();
    let mut missing = HashSet::new();
    let mut finished: Vec<&Arc<Pod>> = pods.iter().filter(|p| terminated(p)).collect();
    if finished.len() > threshold {
        // Evicted pods first, then the oldest, names breaking ties.
        finished.sort_by_key(|p| {
            let evicted = p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted");
            (
                !evicted,
                p.metadata.creation_timestamp.as_ref().map(|t| t.0),
                p.name_any(),
            )
        });
        let excess = finished.len() - threshold;
        collect.extend(
            finished
                .into_iter()
                .take(excess)
                .map(|p| (p.clone(), Reason::Terminated)),
        );
    }
    for pod in pods {
        let node = node_name(pod);
        let terminating = pod.metadata.deletion_timestamp.is_some();
        if node.is_empty() {
            if terminating {
                collect.push((pod.clone(), Reason::Unscheduled));
            }
            continue;
        }
        match nodes.get(node) {
            None => {
                missing.insert(node.to_owned());
            }
            Some(n) if terminating => {
                let out_of_service = n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_deref())
                    .is_some_and(|t| taints::has_key(t, OUT_OF_SERVICE));
                if out_of_service && health::ready_status(n) != Some("True") {
                    collect.push((pod.clone(), Reason::OutOfService));
                }
            }
            Some(_) => {}
        }
    }
    (collect, missing)
}

/// Sets the collector up on `tasks`.
pub(super) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let pods = ctx.informers.store::<Pod>();
    let nodes = ctx.informers.store::<Node>();
    let synced = (
        ctx.informers.synced::<Pod>(),
        ctx.informers.synced::<Node>(),
    );
    let client = ctx.client.clone();
    tasks.spawn(async move {
        futures_util::future::join(synced.0, synced.1).await;
        run(client, pods, nodes).await;
    });
}

async fn run(client: Client, pods: Store<Pod>, nodes: Store<Node>) {
    // Nodes found missing, and since when.
    let mut quarantine: HashMap<String, Instant> = HashMap::new();
    let mut ticks = tokio::time::interval(PERIOD);
    loop {
        // The tick's own instant, not when it was noticed: a node found missing at one pass
        // has been missing a whole period at the next, however late either woke.
        let now = ticks.tick().await.into_std();
        let all_nodes: HashMap<String, Arc<Node>> = nodes
            .state()
            .into_iter()
            .map(|n| (n.name_any(), n))
            .collect();
        let all_pods = pods.state();
        let (mut collect, missing) = plan(&all_pods, &all_nodes, TERMINATED_THRESHOLD);
        quarantine.retain(|node, _| missing.contains(node));
        let mut gone = HashSet::new();
        for node in missing {
            let since = *quarantine.entry(node.clone()).or_insert_with(|| {
                tracing::debug!(
                    node,
                    "pods are bound to a node the cache lacks; quarantined"
                );
                now
            });
            if now.duration_since(since) < QUARANTINE {
                continue;
            }
            match Objects::<Node>::all(client.clone()).get_opt(&node).await {
                Ok(None) => {
                    gone.insert(node);
                }
                Ok(Some(_)) => tracing::debug!(node, "a quarantined node still exists"),
                Err(error) => tracing::debug!(%error, node, "could not check a node"),
            }
        }
        collect.extend(
            all_pods
                .iter()
                .filter(|p| gone.contains(node_name(p)))
                .map(|p| (p.clone(), Reason::Orphaned)),
        );
        for (pod, reason) in collect {
            if let Err(error) = force_delete(&client, &pod, reason).await {
                tracing::debug!(%error, "pod garbage collection failed; next pass retries");
            }
        }
    }
}

/// Marks the pod Failed (with a `DisruptionTarget` condition when its node is gone) unless
/// it has finished, then deletes it with grace period 0, as upstream's
/// `markFailedAndDeletePod`: with no agent left, nobody else would move its phase on.
async fn force_delete(client: &Client, pod: &Pod, reason: Reason) -> Result<()> {
    let namespace = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let what = format!("pods {namespace}/{name}");
    tracing::info!(
        pod = what,
        ?reason,
        "pod garbage collector force-deleting a pod"
    );
    let api = Objects::<Pod>::namespaced(client.clone(), &namespace);
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let mut status = json!({});
    if !matches!(phase, Some("Succeeded" | "Failed")) {
        status["phase"] = json!("Failed");
        if reason == Reason::Orphaned {
            status["conditions"] = json!([{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByPodGC",
                "message": "PodGC: node no longer exists",
                "lastTransitionTime": Time(Timestamp::now()),
            }]);
        }
    }
    match super::mark_and_delete(&api, pod, json!({"status": status}), Some(0)).await {
        // Replaced by a pod of the same name, or changed: not ours to force any more.
        Err(e) if e.is_conflict() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(name: &str, node: &str, phase: &str, created: i64, terminating: bool) -> Arc<Pod> {
        let mut pod: Pod = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "namespace": "default",
                "creationTimestamp": Time(Timestamp::from_second(1_800_000_000 + created).unwrap()),
            },
            "spec": {"containers": [{"name": "c"}], "nodeName": node},
            "status": {"phase": phase},
        }))
        .unwrap();
        if terminating {
            pod.metadata.deletion_timestamp = pod.metadata.creation_timestamp.clone();
        }
        Arc::new(pod)
    }

    fn node(name: &str, ready: &str, taint: Option<&str>) -> (String, Arc<Node>) {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"taints": taint.map(|k| vec![json!({"key": k, "effect": "NoExecute"})])},
            "status": {"conditions": [{"type": "Ready", "status": ready}]},
        }))
        .unwrap();
        (name.to_owned(), Arc::new(node))
    }

    fn names(collect: &[(Arc<Pod>, Reason)]) -> Vec<(String, Reason)> {
        collect.iter().map(|(p, r)| (p.name_any(), *r)).collect()
    }

    #[test]
    fn pods_on_missing_nodes_are_candidates_and_terminating_ones_on_out_of_service_nodes_go() {
        let nodes: HashMap<_, _> = [
            node("up", "True", None),
            node("down", "Unknown", None),
            node("retired", "Unknown", Some(OUT_OF_SERVICE)),
        ]
        .into_iter()
        .collect();
        let pods = [
            pod("on-up", "up", "Running", 0, true),
            pod("on-down", "down", "Running", 0, true),
            pod("on-retired", "retired", "Running", 0, true),
            pod("running-on-retired", "retired", "Running", 0, false),
            pod("orphan", "gone", "Running", 0, false),
            pod("never-scheduled", "", "Pending", 0, true),
        ];
        let (collect, missing) = plan(&pods, &nodes, 10);
        assert_eq!(
            names(&collect),
            [
                ("on-retired".to_owned(), Reason::OutOfService),
                ("never-scheduled".to_owned(), Reason::Unscheduled),
            ]
        );
        assert_eq!(missing, HashSet::from(["gone".to_owned()]));
    }

    #[test]
    fn terminated_pods_above_the_threshold_go_oldest_first() {
        let nodes: HashMap<_, _> = [node("up", "True", None)].into_iter().collect();
        let pods = [
            pod("new", "up", "Succeeded", 30, false),
            pod("old", "up", "Failed", 10, false),
            pod("middle", "up", "Succeeded", 20, false),
            pod("running", "up", "Running", 0, false),
        ];
        let (collect, _) = plan(&pods, &nodes, 1);
        assert_eq!(
            names(&collect),
            [
                ("old".to_owned(), Reason::Terminated),
                ("middle".to_owned(), Reason::Terminated),
            ]
        );
    }
}
