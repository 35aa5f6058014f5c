//! What the collector's workers do for one item, against the API (upstream's
//! `attemptToDeleteItem`, `processDeletingDependentsItem` and `attemptToOrphanWorker`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, PropagationPolicy};
use serde_json::json;

use super::graph::{FOREGROUND, Identity, Node, ORPHAN};
use super::{Collector, Outcome, delete_params, dispatch, lock, owner_references_patch};

/// How an owner reference stands.
#[derive(Debug, PartialEq, Eq)]
enum Standing {
    /// The owner exists and is not waiting for its dependents.
    Solid,
    /// The owner is gone (or another object has its name).
    Dangling,
    /// The owner is being deleted in the foreground.
    Waiting,
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404)
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 409)
}

/// The object is gone: take it out of the graph if it was only virtual, and check who
/// depended on it.
fn gone(collector: &Collector, uid: &str) -> Outcome {
    let work = lock(&collector.graph).forget(uid, true);
    dispatch(collector, work);
    Outcome::Done
}

pub(super) async fn attempt_to_delete(collector: &Arc<Collector>, uid: &str) -> Outcome {
    let Some(node) = lock(&collector.graph).node(uid).cloned() else {
        return Outcome::Done;
    };
    // Being deleted is a one-way trip: wait for the final deletion.
    if node.being_deleted && !node.deleting_dependents {
        return Outcome::Done;
    }
    let identity = &node.identity;
    let Some((resource, namespaced)) = collector.resource(&identity.api_version, &identity.kind)
    else {
        // Not (yet) served: discovery may find it later.
        return Outcome::Retry(Duration::from_secs(5));
    };
    let namespace = namespaced.then_some(identity.namespace.as_str());
    let latest = match collector
        .metadata_api(&resource, namespace)
        .get(&identity.name)
        .await
    {
        Ok(latest) => latest,
        Err(error) if is_not_found(&error) => return gone(collector, uid),
        Err(error) => {
            tracing::debug!(%error, item = %identity, "garbage collector could not read an item");
            return Outcome::Retry(Duration::from_secs(1));
        }
    };
    if latest.metadata.uid.as_deref() != Some(uid) {
        return gone(collector, uid);
    }
    if node.deleting_dependents {
        return deleting_dependents(collector, &node).await;
    }
    let references = latest.metadata.owner_references.clone().unwrap_or_default();
    if references.is_empty() {
        return if node.virtual_ {
            // Wait until its own watch shows it, so its deletion is seen too.
            Outcome::Retry(Duration::from_secs(2))
        } else {
            Outcome::Done
        };
    }
    let mut solid = Vec::new();
    let mut dangling = Vec::new();
    let mut waiting = Vec::new();
    for reference in &references {
        match standing(collector, identity, reference).await {
            Ok(Standing::Solid) => solid.push(reference.clone()),
            Ok(Standing::Dangling) => dangling.push(reference.clone()),
            Ok(Standing::Waiting) => waiting.push(reference.clone()),
            // A cluster-scoped object cannot have a namespaced owner: retrying won't help.
            Err(None) => return Outcome::Done,
            Err(Some(wait)) => return Outcome::Retry(wait),
        }
    }
    let api = collector.api(&resource, namespace);
    let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
    if !solid.is_empty() {
        if dangling.is_empty() && waiting.is_empty() {
            return Outcome::Done;
        }
        // Drop the references that are gone or waiting (or the waiting owners would wait
        // forever for an object that stays).
        let remaining: Vec<OwnerReference> = references
            .iter()
            .filter(|r| !dangling.iter().chain(&waiting).any(|d| d.uid == r.uid))
            .cloned()
            .collect();
        return match api
            .patch(
                &identity.name,
                &PatchParams::default(),
                &owner_references_patch(uid, &remaining),
            )
            .await
        {
            Ok(_) => Outcome::Done,
            Err(error) if is_not_found(&error) => gone(collector, uid),
            Err(_) => Outcome::Retry(Duration::from_secs(1)),
        };
    }
    let policy = if !waiting.is_empty() && !node.dependents.is_empty() {
        // Its owner waits on it in the foreground, and it has dependents of its own: it goes
        // in the foreground too. A dependent already doing so could make a cycle; stop
        // blocking owners first, as upstream does.
        let cycle = {
            let graph = lock(&collector.graph);
            node.dependents
                .iter()
                .any(|d| graph.node(d).is_some_and(|d| d.deleting_dependents))
        };
        if cycle {
            let unblocked: Vec<OwnerReference> = references
                .iter()
                .cloned()
                .map(|mut r| {
                    r.block_owner_deletion = Some(false);
                    r
                })
                .collect();
            if api
                .patch(
                    &identity.name,
                    &PatchParams::default(),
                    &owner_references_patch(uid, &unblocked),
                )
                .await
                .is_err()
            {
                return Outcome::Retry(Duration::from_secs(1));
            }
        }
        PropagationPolicy::Foreground
    } else if finalizers.iter().any(|f| f == ORPHAN) {
        PropagationPolicy::Orphan
    } else if finalizers.iter().any(|f| f == FOREGROUND) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    match api
        .delete(&identity.name, &delete_params(uid, policy))
        .await
    {
        Ok(_) => Outcome::Done,
        Err(error) if is_not_found(&error) => gone(collector, uid),
        Err(error) => {
            tracing::debug!(%error, item = %identity, "garbage collector could not delete an item");
            Outcome::Retry(Duration::from_secs(1))
        }
    }
}

/// Whether `reference` (of `item`) points at an owner that exists, is gone, or waits for its
/// dependents. `Err(None)`: the reference can never be resolved; `Err(Some(wait))`: try again.
async fn standing(
    collector: &Collector,
    item: &Identity,
    reference: &OwnerReference,
) -> Result<Standing, Option<Duration>> {
    if collector.known_absent(reference, &item.namespace) {
        return Ok(Standing::Dangling);
    }
    let Some((resource, namespaced)) = collector.resource(&reference.api_version, &reference.kind)
    else {
        return Err(Some(Duration::from_secs(5)));
    };
    if namespaced && item.namespace.is_empty() {
        tracing::debug!(item = %item, "a cluster-scoped object refers to a namespaced owner");
        return Err(None);
    }
    let namespace = namespaced.then_some(item.namespace.as_str());
    let absent_namespace = if namespaced {
        item.namespace.as_str()
    } else {
        ""
    };
    match collector
        .metadata_api(&resource, namespace)
        .get(&reference.name)
        .await
    {
        Err(error) if is_not_found(&error) => {
            collector.remember_absent(reference, absent_namespace);
            Ok(Standing::Dangling)
        }
        Err(_) => Err(Some(Duration::from_secs(1))),
        Ok(owner) if owner.metadata.uid.as_deref() != Some(reference.uid.as_str()) => {
            collector.remember_absent(reference, absent_namespace);
            Ok(Standing::Dangling)
        }
        Ok(owner) => {
            let foreground = owner.metadata.deletion_timestamp.is_some()
                && owner
                    .metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == FOREGROUND);
            Ok(if foreground {
                Standing::Waiting
            } else {
                Standing::Solid
            })
        }
    }
}

/// An owner deleted in the foreground: done when no blocking dependent is left.
async fn deleting_dependents(collector: &Arc<Collector>, node: &Node) -> Outcome {
    let uid = &node.identity.uid;
    let blocking = lock(&collector.graph).blocking_dependents(uid);
    if blocking.is_empty() {
        return remove_finalizer(collector, &node.identity, FOREGROUND).await;
    }
    for dependent in blocking {
        if !dependent.deleting_dependents {
            collector.to_delete.push(dependent.identity.uid.clone());
        }
    }
    Outcome::Done
}

/// Removes `finalizer` from the object, guarded by its resourceVersion.
async fn remove_finalizer(collector: &Collector, identity: &Identity, finalizer: &str) -> Outcome {
    let Some((resource, namespaced)) = collector.resource(&identity.api_version, &identity.kind)
    else {
        return Outcome::Retry(Duration::from_secs(5));
    };
    let namespace = namespaced.then_some(identity.namespace.as_str());
    for _ in 0..5 {
        let latest = match collector
            .metadata_api(&resource, namespace)
            .get(&identity.name)
            .await
        {
            Ok(latest) => latest,
            Err(error) if is_not_found(&error) => return Outcome::Done,
            Err(_) => return Outcome::Retry(Duration::from_secs(1)),
        };
        if latest.metadata.uid.as_deref() != Some(identity.uid.as_str()) {
            return Outcome::Done;
        }
        let finalizers: Vec<String> = latest
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != finalizer)
            .cloned()
            .collect();
        if finalizers.len() == latest.metadata.finalizers.as_ref().map_or(0, Vec::len) {
            return Outcome::Done;
        }
        let patch = Patch::Merge(json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": latest.metadata.resource_version,
        }}));
        match collector
            .api(&resource, namespace)
            .patch(&identity.name, &PatchParams::default(), &patch)
            .await
        {
            Ok(_) => return Outcome::Done,
            Err(error) if is_not_found(&error) => return Outcome::Done,
            Err(error) if is_conflict(&error) => continue,
            Err(_) => return Outcome::Retry(Duration::from_secs(1)),
        }
    }
    Outcome::Retry(Duration::from_millis(200))
}

/// An owner deleted with the `orphan` finalizer: release every dependent, then the owner.
pub(super) async fn attempt_to_orphan(collector: &Arc<Collector>, uid: &str) -> Outcome {
    let (owner, dependents) = {
        let graph = lock(&collector.graph);
        let Some(owner) = graph.node(uid).cloned() else {
            return Outcome::Done;
        };
        let dependents: Vec<Identity> = owner
            .dependents
            .iter()
            .filter_map(|d| graph.node(d).map(|d| d.identity.clone()))
            .collect();
        (owner, dependents)
    };
    for dependent in dependents {
        if let Err(wait) = release(collector, &dependent, uid).await {
            return Outcome::Retry(wait);
        }
    }
    remove_finalizer(collector, &owner.identity, ORPHAN).await
}

/// Removes the reference to `owner` from `dependent`.
async fn release(collector: &Collector, dependent: &Identity, owner: &str) -> Result<(), Duration> {
    let Some((resource, namespaced)) = collector.resource(&dependent.api_version, &dependent.kind)
    else {
        return Err(Duration::from_secs(5));
    };
    let namespace = namespaced.then_some(dependent.namespace.as_str());
    let latest = match collector
        .metadata_api(&resource, namespace)
        .get(&dependent.name)
        .await
    {
        Ok(latest) => latest,
        Err(error) if is_not_found(&error) => return Ok(()),
        Err(_) => return Err(Duration::from_secs(1)),
    };
    if latest.metadata.uid.as_deref() != Some(dependent.uid.as_str()) {
        return Ok(());
    }
    let references = latest.metadata.owner_references.unwrap_or_default();
    if !references.iter().any(|r| r.uid == owner) {
        return Ok(());
    }
    let remaining: Vec<OwnerReference> =
        references.into_iter().filter(|r| r.uid != owner).collect();
    match collector
        .api(&resource, namespace)
        .patch(
            &dependent.name,
            &PatchParams::default(),
            &owner_references_patch(&dependent.uid, &remaining),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if is_not_found(&error) => Ok(()),
        Err(_) => Err(Duration::from_secs(1)),
    }
}
