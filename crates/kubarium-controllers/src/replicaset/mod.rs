//! The ReplicaSet controller, as kube-controller-manager's: keeps `spec.replicas` pods
//! matching the selector running — creating them from the template in slow-start batches,
//! deleting the least valuable first — adopts matching orphans, releases pods that no
//! longer match, and reports `replicas`, `fullyLabeledReplicas`, `readyReplicas`,
//! `availableReplicas` and the `ReplicaFailure` condition.
//!
//! Decisions are in [`plan`] (pure); this module reads the caches, asks `plan`, and makes
//! the API calls, with [`expectations`] guarding against a cache behind its own writes.

mod expectations;
pub(crate) mod plan;
pub(crate) mod pods;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinSet;

use crate::claim;
use crate::events::Recorder;
use crate::objects::Objects;
use crate::{Context, Error, Result};
use expectations::Expectations;
use plan::{Manage, ManageError};

/// Component name on the events this controller records.
const COMPONENT: &str = "replicaset-controller";

/// A resync for safety: objects whose deletion the watch missed across a re-list.
const RESYNC: Duration = Duration::from_secs(5 * 60);

struct State {
    client: Client,
    pods: Store<Pod>,
    replicasets: Store<ReplicaSet>,
    recorder: Recorder,
    expectations: Expectations,
}

/// Sets the loop up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let replicasets = ctx.informers.store::<ReplicaSet>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        pods: ctx.informers.store::<Pod>(),
        replicasets: replicasets.clone(),
        recorder: ctx.recorder(COMPONENT),
        expectations: Expectations::default(),
    });
    let changed = state.clone();
    let deleted = state.clone();
    let controller =
        Controller::for_shared_stream(ctx.informers.subscribe::<ReplicaSet>(), replicasets)
            .watches_shared_stream(ctx.informers.subscribe::<Pod>(), move |pod| {
                owners_of(&changed, &pod, false)
            })
            .watches_shared_stream(ctx.informers.deletions::<Pod>(), move |pod| {
                owners_of(&deleted, &pod, true)
            });
    tasks.spawn(async move {
        controller
            .run(reconcile, error_policy, state)
            .for_each(|_| async {})
            .await;
    });
}

/// The ReplicaSets a pod event concerns: its controller, or for an orphan every
/// ReplicaSet of its namespace whose selector matches it (to adopt it). Records the event
/// against the controller's expectations.
fn owners_of(state: &State, pod: &Pod, gone: bool) -> Vec<ObjectRef<ReplicaSet>> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    if let Some(owner) = claim::controller_of(&pod.metadata) {
        if owner.kind != "ReplicaSet" || owner.api_version != "apps/v1" {
            return Vec::new();
        }
        let gone = gone || pod.metadata.deletion_timestamp.is_some();
        state.expectations.observed(
            &format!("{namespace}/{}", owner.name),
            &pod.name_any(),
            pod.metadata.uid.as_deref().unwrap_or_default(),
            gone,
        );
        return vec![ObjectRef::new(&owner.name).within(&namespace)];
    }
    if gone {
        return Vec::new();
    }
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    state
        .replicasets
        .state()
        .iter()
        .filter(|rs| rs.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|rs| {
            selector_of(rs)
                .map(|s| !s.selects_all() && s.matches(&labels))
                .unwrap_or(false)
        })
        .map(|rs| ObjectRef::from_obj(rs.as_ref()))
        .collect()
}

fn selector_of(rs: &ReplicaSet) -> Option<Selector> {
    rs.spec.as_ref()?.selector.clone().try_into().ok()
}

fn error_policy(rs: Arc<ReplicaSet>, error: &Error, _: Arc<State>) -> Action {
    if error.is_conflict() {
        tracing::debug!(replicaset = %rs.name_any(), %error, "conflict; retrying");
        Action::requeue(Duration::from_millis(100))
    } else {
        tracing::warn!(replicaset = %rs.name_any(), %error, "sync failed; retrying");
        Action::requeue(Duration::from_secs(1))
    }
}

async fn reconcile(rs: Arc<ReplicaSet>, state: Arc<State>) -> Result<Action> {
    let namespace = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let key = format!("{namespace}/{name}");
    let Some(selector) = selector_of(&rs) else {
        // Validation forbids it; nothing sensible to do until the spec changes.
        tracing::warn!(replicaset = %key, "invalid selector");
        return Ok(Action::await_change());
    };
    let now = Timestamp::now();
    let all: Vec<Arc<Pod>> = state
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .collect();
    let needs_sync = rs.metadata.deletion_timestamp.is_none()
        && state.expectations.satisfied(
            &key,
            |created| {
                all.iter()
                    .any(|p| p.metadata.name.as_deref() == Some(created))
            },
            |uid| {
                all.iter().any(|p| {
                    p.metadata.uid.as_deref() == Some(uid)
                        && p.metadata.deletion_timestamp.is_none()
                })
            },
        );

    let pods_api = Objects::<Pod>::namespaced(state.client.clone(), &namespace);
    let refs: Vec<&Pod> = all.iter().map(AsRef::as_ref).collect();
    let claimed = plan::claim_pods(&rs, &selector, &refs);
    let mut filtered: Vec<Pod> = claimed.owned.iter().map(|p| (*p).clone()).collect();
    if !claimed.adopt.is_empty() {
        let rs_api = Objects::<ReplicaSet>::namespaced(state.client.clone(), &namespace);
        claim::can_adopt(&rs_api, rs.as_ref()).await?;
        let adopted = join_all(
            claimed
                .adopt
                .iter()
                .map(|p| claim::adopt(&pods_api, rs.as_ref(), *p)),
        )
        .await;
        for result in adopted {
            match result {
                Ok(pod) => filtered.push(pod),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    for result in join_all(
        claimed
            .release
            .iter()
            .map(|p| claim::release(&pods_api, &uid, *p)),
    )
    .await
    {
        match result {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }

    let filtered_refs: Vec<&Pod> = filtered.iter().collect();
    if !needs_sync {
        tracing::debug!(replicaset = %key, pods = filtered.len(), "waiting for expectations");
    }
    let mut error = None;
    if needs_sync {
        let related = related_pods(&state, &rs, &all, &filtered_refs);
        let decision = plan::manage(&rs, &filtered_refs, &related, now);
        tracing::debug!(replicaset = %key, pods = filtered.len(), decision = %decision.summary(), "sync");
        error = manage(&state, &rs, &key, &pods_api, decision).await.err();
    }

    let status = plan::status(&rs, &filtered_refs, error.as_ref(), now);
    let current = rs.status.clone().unwrap_or_default();
    if plan::normalized(&status) != plan::normalized(&current) {
        let mut body = serde_json::to_value(&status).unwrap_or_default();
        if status.conditions.is_none() {
            body["conditions"] = serde_json::Value::Null;
        }
        Objects::<ReplicaSet>::namespaced(state.client.clone(), &namespace)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": body})),
            )
            .await
            .map_err(Error::api("patch status", format!("replicasets {key}")))?;
    }
    if let Some(error) = error {
        return Err(Error::Invalid {
            what: format!("replicasets {key}"),
            reason: error.message,
        });
    }
    let min_ready = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let wanted = plan::replicas(&rs);
    let (ready, available) = (
        status.ready_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
    );
    if min_ready > 0 && usize::try_from(ready).ok() == Some(wanted) && ready != available {
        // Pods become available with time alone; look again when they should have.
        return Ok(Action::requeue(Duration::from_secs(
            min_ready.unsigned_abs().into(),
        )));
    }
    Ok(Action::requeue(RESYNC))
}

/// The active pods of every ReplicaSet controlled by the same controller as `rs` (its
/// own pods when it has none), for ranking pods doubled up on a node.
fn related_pods<'a>(
    state: &State,
    rs: &ReplicaSet,
    all: &'a [Arc<Pod>],
    own: &[&'a Pod],
) -> Vec<&'a Pod> {
    let Some(controller) = claim::controller_of(&rs.metadata) else {
        return own.to_vec();
    };
    let siblings: Vec<String> = state
        .replicasets
        .state()
        .iter()
        .filter(|other| other.metadata.namespace == rs.metadata.namespace)
        .filter(|other| claim::controlled_by(&other.metadata, &controller.uid))
        .filter_map(|other| other.metadata.uid.clone())
        .collect();
    all.iter()
        .map(AsRef::as_ref)
        .filter(|p| {
            claim::controller_of(&p.metadata).is_some_and(|owner| siblings.contains(&owner.uid))
        })
        .collect()
}

/// The message of an API error as upstream's `err.Error()` shows it.
fn message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// Creates or deletes pods as decided, recording an event for each.
async fn manage(
    state: &State,
    rs: &ReplicaSet,
    key: &str,
    api: &Objects<Pod>,
    decision: Manage<'_>,
) -> Result<(), ManageError> {
    match decision {
        Manage::Nothing => Ok(()),
        Manage::Create(count) => {
            state.expectations.begin(key);
            let pod = plan::pod_from_template(rs);
            let params = PostParams::default();
            for batch in plan::slow_start(count) {
                let results = join_all((0..batch).map(|_| api.create(&params, &pod))).await;
                let mut failure = None;
                for result in results {
                    match result {
                        Ok(created) => {
                            let name = created.name_any();
                            state.expectations.created(key, name.clone());
                            state.recorder.normal(
                                rs,
                                "SuccessfulCreate",
                                format!("Created pod: {name}"),
                            );
                        }
                        Err(error) => {
                            let text = message(&error);
                            state.recorder.warning(
                                rs,
                                "FailedCreate",
                                format!("Error creating: {text}"),
                            );
                            failure = Some(text);
                        }
                    }
                }
                if let Some(message) = failure {
                    // The remaining batches are skipped, as upstream's slow start does.
                    return Err(ManageError {
                        creating: true,
                        message,
                    });
                }
            }
            Ok(())
        }
        Manage::Delete(pods) => {
            state.expectations.begin(key);
            for pod in &pods {
                state
                    .expectations
                    .deleted(key, pod.metadata.uid.clone().unwrap_or_default());
            }
            let params = DeleteParams::default();
            let results =
                join_all(pods.iter().map(|pod| {
                    api.delete(pod.metadata.name.as_deref().unwrap_or_default(), &params)
                }))
                .await;
            let mut failure = None;
            for (pod, result) in pods.iter().zip(results) {
                let name = pod.name_any();
                match result {
                    Ok(_) => state.recorder.normal(
                        rs,
                        "SuccessfulDelete",
                        format!("Deleted pod: {name}"),
                    ),
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => {
                        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
                        state.expectations.delete_failed(key, uid);
                        let text = message(&error);
                        state.recorder.warning(
                            rs,
                            "FailedDelete",
                            format!("Error deleting: {text}"),
                        );
                        failure = Some(text);
                    }
                }
            }
            match failure {
                Some(message) => Err(ManageError {
                    creating: false,
                    message,
                }),
                None => Ok(()),
            }
        }
    }
}
