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

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::Store;
use tokio::task::JoinSet;

use crate::Context;

/// Sets the three controllers up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    monitor::start(ctx, tasks);
    eviction::start(ctx, tasks);
    podgc::start(ctx, tasks);
}

/// The pods bound to `node`, from the shared cache.
fn pods_on(pods: &Store<Pod>, node: &str) -> Vec<Arc<Pod>> {
    pods.state()
        .into_iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .collect()
}
