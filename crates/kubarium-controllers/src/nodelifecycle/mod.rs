//! Node lifecycle, as kube-controller-manager runs it in three controllers:
//!
//! - [`monitor`], the node controller: a node whose Lease (renewed by its agent every few
//!   seconds) lapses for the grace period goes Unknown, its pods not ready; condition and
//!   cordon taints follow the node's status and spec ([`health`], [`taints`]).
//! - [`eviction`], the taint eviction controller: pods leave nodes with NoExecute taints
//!   they do not tolerate, at once or when their `tolerationSeconds` run out.
//! - [`podgc`], the pod garbage collector: pods of deleted nodes, of out-of-service nodes,
//!   and terminated pods beyond a threshold.
//!
//! The DefaultTolerationSeconds admission that gives every pod its `not-ready` and
//! `unreachable` tolerations is the API server's, at pod create.

mod eviction;
mod health;
mod monitor;
mod podgc;
mod taints;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use tokio::task::JoinSet;

use crate::objects::Objects;
use crate::{Context, Error, Result};

/// Sets the three controllers up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let by_node = ctx.informers.index::<Pod>(node_of);
    monitor::start(ctx, tasks, by_node.clone());
    eviction::start(ctx, tasks, by_node);
    podgc::start(ctx, tasks);
}

/// The node a pod is bound to: the key of the pods' index that the node controller and the
/// taint eviction controller share (upstream's `nodeName` indexer), so a pass over one node
/// reads that node's pods and not the cluster's.
fn node_of(pod: &Pod) -> Option<String> {
    pod.spec.as_ref()?.node_name.clone()
}

/// Patches `status` into `pod` (unless it is empty), then deletes it with `grace` (the pod's
/// own when `None`) if it is still the same pod (uid precondition). A pod already gone is
/// done; a conflict is the caller's to judge.
async fn mark_and_delete(
    api: &Objects<Pod>,
    pod: &Pod,
    status: serde_json::Value,
    grace: Option<u32>,
) -> Result<()> {
    let name = pod.name_any();
    let what = format!("pods {}/{name}", pod.namespace().unwrap_or_default());
    if status["status"].as_object().is_none_or(|s| !s.is_empty()) {
        let marked = api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(status))
            .await
            .map_err(Error::api("patch status", what.clone()));
        match marked {
            Err(e) if e.is_not_found() => return Ok(()),
            other => other?,
        };
    }
    let params = DeleteParams {
        grace_period_seconds: grace,
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api
        .delete(&name, &params)
        .await
        .map_err(Error::api("delete", what))
    {
        Err(e) if e.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
