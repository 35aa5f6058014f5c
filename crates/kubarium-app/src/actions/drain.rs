//! `kubectl cordon`/`uncordon` and `kubectl drain`: cordon the node, then evict its pods
//! through the Eviction subresource, so PodDisruptionBudgets are honoured. DaemonSet pods are
//! left (their controller ignores `unschedulable` and would put them straight back) and so
//! are mirror pods (the node's agent owns them); every pod's outcome is reported.

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kubarium_controllers::objects::Objects;
use kube::api::{EvictParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::ipc::AppError;
use crate::ipc::actions::{DrainOutcome, EvictionResult, PodEviction};
use crate::{Error, Result};

/// Evictions in flight at once.
const CONCURRENCY: usize = 8;

/// The annotation that marks a mirror pod (a static pod's reflection in the API).
const MIRROR: &str = "kubernetes.io/config.mirror";

/// Marks node `node` unschedulable (cordon) or schedulable again (uncordon).
pub async fn cordon(client: Client, node: &str, unschedulable: bool) -> Result<()> {
    // As kubectl's patch: an uncordoned node has no `unschedulable` field at all.
    let value = if unschedulable {
        Value::Bool(true)
    } else {
        Value::Null
    };
    Objects::<Node>::all(client)
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "unschedulable": value } })),
        )
        .await?;
    Ok(())
}

/// Cordons `node`, then evicts every pod on it but DaemonSet-owned and mirror pods.
/// Returns once every eviction was answered; evicted pods then terminate gracefully.
pub async fn drain(client: Client, node: &str) -> Result<DrainOutcome> {
    cordon(client.clone(), node, true).await?;
    let pods = Objects::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await?;
    let mut pods: Vec<Pod> = pods.items;
    pods.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    let outcomes = futures_util::stream::iter(pods)
        .map(|pod| {
            let client = client.clone();
            async move { evict(client, pod).await }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    Ok(DrainOutcome {
        node: node.to_owned(),
        pods: outcomes,
    })
}

/// Why `pod` is left on a drained node, if it is.
fn skip_reason(pod: &Pod) -> Option<String> {
    let meta = &pod.metadata;
    if meta
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR))
    {
        return Some("a mirror pod: the node's agent runs it, not the API".to_owned());
    }
    if let Some(owner) = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "DaemonSet")
    {
        return Some(format!(
            "managed by DaemonSet {}, which runs it on every node regardless",
            owner.name
        ));
    }
    if meta.deletion_timestamp.is_some() {
        return Some("already being deleted".to_owned());
    }
    None
}

async fn evict(client: Client, pod: Pod) -> PodEviction {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let outcome = |result, reason: Option<String>, error: Option<AppError>| PodEviction {
        namespace: namespace.clone(),
        name: name.clone(),
        result,
        reason,
        error,
    };
    if let Some(reason) = skip_reason(&pod) {
        return outcome(EvictionResult::Skipped, Some(reason), None);
    }
    let api = Api::<Pod>::namespaced(client, &namespace);
    match api.evict(&name, &EvictParams::default()).await {
        Ok(_) => outcome(EvictionResult::Evicted, None, None),
        // Gone already: nothing left to evict.
        Err(kube::Error::Api(status)) if status.code == 404 => outcome(
            EvictionResult::Evicted,
            Some("it was already gone".to_owned()),
            None,
        ),
        Err(kube::Error::Api(status)) if status.code == 429 => {
            let reason = blocked_reason(&status);
            let error = AppError::from(Error::Kube(kube::Error::Api(status)));
            outcome(EvictionResult::Blocked, Some(reason), Some(error))
        }
        Err(error) => {
            let error = AppError::from(Error::Kube(error));
            outcome(
                EvictionResult::Failed,
                Some(error.message.clone()),
                Some(error),
            )
        }
    }
}

/// Why a 429 left a pod, naming the budget: the API server's `DisruptionBudget` cause says
/// which budget and how far it is from allowing the eviction.
fn blocked_reason(status: &kube::core::Status) -> String {
    let budget = status
        .details
        .iter()
        .flat_map(|d| d.causes.iter())
        .find(|c| c.reason == "DisruptionBudget")
        .map(|c| c.message.as_str());
    match budget {
        Some(budget) => format!(
            "{budget}, so it cannot be evicted now; it is tried again until more replicas are ready elsewhere"
        ),
        None => format!(
            "a PodDisruptionBudget does not allow evicting it now ({}); it is tried again until more replicas are ready elsewhere",
            status.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;

    use super::super::testing::{Front, Hollow, eventually};
    use super::*;

    #[tokio::test]
    async fn cordon_then_drain_evicts_all_but_daemonset_pods() {
        let hollow = Hollow::start().await;
        let client = hollow.client.clone();
        let nodes = Api::<Node>::all(client.clone());
        let node = "kubarium-worker";
        cordon(client.clone(), node, true).await.unwrap();
        let unschedulable = |n: Node| n.spec.and_then(|s| s.unschedulable);
        assert_eq!(unschedulable(nodes.get(node).await.unwrap()), Some(true));
        cordon(client.clone(), node, false).await.unwrap();
        assert_eq!(unschedulable(nodes.get(node).await.unwrap()), None);

        // A pod pinned to the node, and a DaemonSet (which puts one there too).
        hollow
            .create::<Pod>(json!({
                "metadata": {"name": "pinned"},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx:1"}]}
            }))
            .await;
        hollow
            .create::<DaemonSet>(json!({
                "metadata": {"name": "agent"},
                "spec": {
                    "selector": {"matchLabels": {"app": "agent"}},
                    "template": {"metadata": {"labels": {"app": "agent"}},
                        "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}
                }
            }))
            .await;
        let pods = Api::<Pod>::namespaced(client.clone(), "default");
        let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
        eventually("the DaemonSet's pod on the node", || async {
            let list = pods.list(&on_node).await.ok()?;
            list.items
                .iter()
                .any(|p| {
                    p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("agent-"))
                })
                .then_some(())
        })
        .await;

        let outcome = drain(client.clone(), node).await.unwrap();
        assert_eq!(outcome.node, node);
        assert_eq!(unschedulable(nodes.get(node).await.unwrap()), Some(true));
        let pinned = outcome.pods.iter().find(|p| p.name == "pinned").unwrap();
        assert_eq!(pinned.result, EvictionResult::Evicted, "{pinned:?}");
        let agent = outcome
            .pods
            .iter()
            .find(|p| p.name.starts_with("agent-"))
            .unwrap();
        assert_eq!(agent.result, EvictionResult::Skipped);
        assert!(agent.reason.as_deref().unwrap().contains("DaemonSet agent"));
        eventually("the evicted pod gone", || async {
            pods.get_opt("pinned").await.ok()?.is_none().then_some(())
        })
        .await;

        let missing = drain(client, "no-such-node").await.unwrap_err();
        assert_eq!(
            AppError::from(missing).code,
            crate::ipc::ErrorCode::NotFound
        );
        hollow.stop().await;
    }

    /// Pod `guarded` on `node`, and budget `guard` that keeps it (minAvailable 1), counted.
    async fn guarded_pod(hollow: &Hollow, node: &str) -> Api<PodDisruptionBudget> {
        hollow
            .create::<Pod>(json!({
                "metadata": {"name": "guarded", "labels": {"app": "guarded"}},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx:1"}]}
            }))
            .await;
        let budgets = hollow
            .create::<PodDisruptionBudget>(json!({
                "metadata": {"name": "guard"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}
            }))
            .await;
        eventually("the budget to count the ready pod", || async {
            let status = budgets.get("guard").await.ok()?.status?;
            (status.current_healthy == 1 && status.observed_generation == Some(1)).then_some(())
        })
        .await;
        budgets
    }

    #[tokio::test]
    async fn a_pod_its_budget_protects_is_blocked_and_names_the_budget() {
        let hollow = Hollow::start().await;
        let client = hollow.client.clone();
        let node = "kubarium-worker";
        let budgets = guarded_pod(&hollow, node).await;

        let outcome = drain(client.clone(), node).await.unwrap();
        let guarded = outcome.pods.iter().find(|p| p.name == "guarded").unwrap();
        assert_eq!(guarded.result, EvictionResult::Blocked, "{guarded:?}");
        assert_eq!(
            guarded.reason.as_deref(),
            Some(
                "The disruption budget guard needs 1 healthy pods and has 1 currently, so it cannot be evicted now; it is tried again until more replicas are ready elsewhere"
            )
        );
        let error = guarded.error.as_ref().unwrap();
        assert_eq!(
            error.message,
            "Cannot evict pod as it would violate the pod's disruption budget."
        );
        let pods = Api::<Pod>::namespaced(client.clone(), "default");
        let pod = pods.get("guarded").await.unwrap();
        assert!(pod.metadata.deletion_timestamp.is_none());

        // Once the budget allows it, the same drain evicts it.
        budgets
            .patch(
                "guard",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"minAvailable": 0}})),
            )
            .await
            .unwrap();
        eventually("the budget to allow a disruption", || async {
            let status = budgets.get("guard").await.ok()?.status?;
            (status.disruptions_allowed == 1).then_some(())
        })
        .await;
        let outcome = drain(client, node).await.unwrap();
        let guarded = outcome.pods.iter().find(|p| p.name == "guarded").unwrap();
        assert_eq!(guarded.result, EvictionResult::Evicted, "{guarded:?}");
        hollow.stop().await;
    }

    /// A remote cluster's client (as `connect::client` builds it, over a socket) hands the
    /// budget's 429 back at once, as kubectl's does: the eviction is sent once, the pod is
    /// blocked. kube-rs's default retry layer sent it again for minutes (429 is one of the
    /// statuses it retries, with or without a `Retry-After`).
    #[tokio::test]
    async fn a_remote_clusters_drain_sends_a_refused_eviction_once() {
        let hollow = Hollow::start().await;
        let node = "kubarium-worker";
        guarded_pod(&hollow, node).await;
        let front = Front::start(hollow.client.clone()).await;
        let client = crate::clusters::connect::client("front", front.kubeconfig(), None)
            .await
            .unwrap();

        let outcome = tokio::select! {
            outcome = drain(client, node) => outcome.unwrap(),
            () = front.evictions_reach(2) => {
                panic!("the refused eviction was sent again: the client retried the 429 itself")
            }
        };
        let guarded = outcome.pods.iter().find(|p| p.name == "guarded").unwrap();
        assert_eq!(guarded.result, EvictionResult::Blocked, "{guarded:?}");
        assert!(
            guarded.reason.as_deref().unwrap().contains("budget guard"),
            "{guarded:?}"
        );
        assert_eq!(front.evictions(), 1);
        drop(front);
        hollow.stop().await;
    }

    #[test]
    fn mirror_and_terminating_pods_are_skipped() {
        let mirror: Pod = serde_json::from_value(json!({
            "metadata": {"name": "m", "annotations": {MIRROR: "abc"}}
        }))
        .unwrap();
        assert!(skip_reason(&mirror).unwrap().contains("mirror"));
        let leaving: Pod = serde_json::from_value(json!({
            "metadata": {"name": "l", "deletionTimestamp": "2026-11-28T10:00:00Z"}
        }))
        .unwrap();
        assert_eq!(skip_reason(&leaving).unwrap(), "already being deleted");
        let owned_by_rs: Pod = serde_json::from_value(json!({
            "metadata": {"name": "r", "ownerReferences": [{"apiVersion": "apps/v1",
                "kind": "ReplicaSet", "name": "web", "uid": "1", "controller": true}]}
        }))
        .unwrap();
        assert_eq!(skip_reason(&owned_by_rs), None);
    }
}
