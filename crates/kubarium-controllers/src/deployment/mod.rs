//! The Deployment controller, as kube-controller-manager's: a ReplicaSet per pod template
//! (named and selected by the template's hash), rolled by RollingUpdate or Recreate,
//! proportional scaling mid-rollout, revisions and their history for `kubectl rollout
//! history/undo`, pause and resume, and the Progressing/Available conditions with
//! `progressDeadlineSeconds` that `kubectl rollout status` reads.
//!
//! [`sync::plan`] decides (pure, from the caches); this module claims the ReplicaSets,
//! asks for the plan and carries it out, recording ScalingReplicaSet events.

pub(crate) mod progress;
pub(crate) mod replicasets;
mod rolling;
pub(crate) mod sync;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::claim::{self, Claim};
use crate::events::Recorder;
use crate::objects::Objects;
use crate::{Context, Error, Result};
use sync::{PodInfo, Step};

/// Component name on the events this controller records.
const COMPONENT: &str = "deployment-controller";

struct State {
    client: Client,
    deployments: Store<Deployment>,
    replicasets: Store<ReplicaSet>,
    pods: Store<Pod>,
    recorder: Recorder,
}

/// Sets the loop up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let deployments = ctx.informers.store::<Deployment>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        deployments: deployments.clone(),
        replicasets: ctx.informers.store::<ReplicaSet>(),
        pods: ctx.informers.store::<Pod>(),
        recorder: ctx.recorder(COMPONENT),
    });
    let (changed, deleted, pods) = (state.clone(), state.clone(), state.clone());
    let controller =
        Controller::for_shared_stream(ctx.informers.subscribe::<Deployment>(), deployments)
            .watches_shared_stream(ctx.informers.subscribe::<ReplicaSet>(), move |rs| {
                deployments_of(&changed, &rs)
            })
            .watches_shared_stream(ctx.informers.deletions::<ReplicaSet>(), move |rs| {
                deployments_of(&deleted, &rs)
            })
            .watches_shared_stream(ctx.informers.deletions::<Pod>(), move |pod| {
                // Recreate waits for old pods to be gone.
                let owner = claim::controller_of(&pod.metadata).filter(|o| o.kind == "ReplicaSet");
                let namespace = pod.namespace().unwrap_or_default();
                owner
                    .and_then(|o| {
                        pods.replicasets
                            .get(&ObjectRef::new(&o.name).within(&namespace))
                    })
                    .map(|rs| deployments_of(&pods, &rs))
                    .unwrap_or_default()
            });
    tasks.spawn(async move {
        controller
            .run(reconcile, error_policy, state)
            .for_each(|_| async {})
            .await;
    });
}

/// The Deployments a ReplicaSet event concerns: its controller, or for an orphan every
/// Deployment of its namespace whose selector matches it.
fn deployments_of(state: &State, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    let namespace = rs.namespace().unwrap_or_default();
    if let Some(owner) = claim::controller_of(&rs.metadata) {
        if owner.kind == "Deployment" && owner.api_version == "apps/v1" {
            return vec![ObjectRef::new(&owner.name).within(&namespace)];
        }
        return Vec::new();
    }
    let labels = rs.metadata.labels.clone().unwrap_or_default();
    state
        .deployments
        .state()
        .iter()
        .filter(|d| d.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|d| selector_of(d).is_some_and(|s| !s.selects_all() && s.matches(&labels)))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn selector_of(d: &Deployment) -> Option<Selector> {
    d.spec.as_ref()?.selector.clone().try_into().ok()
}

fn error_policy(d: Arc<Deployment>, error: &Error, _: Arc<State>) -> Action {
    if error.is_conflict() {
        tracing::debug!(deployment = %d.name_any(), %error, "conflict; retrying");
        Action::requeue(Duration::from_millis(100))
    } else {
        tracing::warn!(deployment = %d.name_any(), %error, "sync failed; retrying");
        Action::requeue(Duration::from_secs(1))
    }
}

async fn reconcile(d: Arc<Deployment>, state: Arc<State>) -> Result<Action> {
    let namespace = d.namespace().unwrap_or_default();
    let name = d.name_any();
    let what = format!("deployments {namespace}/{name}");
    let deployments = Objects::<Deployment>::namespaced(state.client.clone(), &namespace);
    let Some(selector) = selector_of(&d) else {
        tracing::warn!(deployment = %what, "invalid selector");
        return Ok(Action::await_change());
    };
    if selector.selects_all() {
        let message = "This deployment is selecting all pods. A non-empty selector is required.";
        state
            .recorder
            .warning(d.as_ref(), "SelectingAll", message.to_owned());
        let observed = d.status.as_ref().and_then(|s| s.observed_generation);
        if observed < d.metadata.generation {
            let patch = json!({"status": {"observedGeneration": d.metadata.generation}});
            deployments
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map_err(Error::api("patch status", what.clone()))?;
        }
        return Ok(Action::await_change());
    }

    let rss = claim_replica_sets(&state, &d, &selector).await?;
    let pods = if replicasets::strategy_type(&d) == "Recreate" {
        let owners: Vec<&str> = rss
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .collect();
        state
            .pods
            .state()
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
            .filter_map(|p| {
                let owner = claim::controller_of(&p.metadata)?;
                owners.contains(&owner.uid.as_str()).then(|| PodInfo {
                    owner: owner.uid.clone(),
                    finished: matches!(
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    ),
                })
            })
            .collect()
    } else {
        Vec::new()
    };

    let now = Timestamp::now();
    let plan = sync::plan(&d, rss, &pods, now);
    let rs_api = Objects::<ReplicaSet>::namespaced(state.client.clone(), &namespace);
    let mut versions: HashMap<String, String> = HashMap::new();
    for step in plan.steps {
        match step {
            Step::Create(rs) => {
                if let Some(action) = create(&state, &d, &rs_api, &deployments, &rs, now).await? {
                    return Ok(action);
                }
            }
            Step::Update { mut rs, scaled } => {
                let rs_name = rs.name_any();
                if let Some(version) = versions.get(&rs_name) {
                    rs.metadata.resource_version = Some(version.clone());
                }
                let updated = rs_api
                    .replace(&rs_name, &PostParams::default(), &rs)
                    .await
                    .map_err(Error::api(
                        "update",
                        format!("replicasets {namespace}/{rs_name}"),
                    ))?;
                if let Some(version) = updated.metadata.resource_version {
                    versions.insert(rs_name.clone(), version);
                }
                if let Some((operation, from, to)) = scaled {
                    let message =
                        format!("Scaled {operation} replica set {rs_name} from {from} to {to}");
                    state
                        .recorder
                        .normal(d.as_ref(), "ScalingReplicaSet", message);
                }
            }
            Step::Delete(rs_name) => {
                match rs_api.delete(&rs_name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => {
                        return Err(Error::api(
                            "delete",
                            format!("replicasets {namespace}/{rs_name}"),
                        )(error));
                    }
                }
            }
        }
    }
    if let Some(revision) = plan.revision {
        let patch = json!({"metadata": {"annotations": {replicasets::REVISION: revision}}});
        deployments
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(Error::api("patch", what.clone()))?;
    }
    if let Some(status) = plan.status {
        write_status(&deployments, &name, &status).await?;
    }
    Ok(plan
        .recheck
        .map_or_else(Action::await_change, Action::requeue))
}

/// Writes a Deployment's whole status (conditions replaced as a list).
async fn write_status(
    api: &Objects<Deployment>,
    name: &str,
    status: &k8s_openapi::api::apps::v1::DeploymentStatus,
) -> Result<()> {
    let mut body = serde_json::to_value(status).unwrap_or_default();
    if status.conditions.is_none() {
        body["conditions"] = Value::Null;
    }
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": body})),
    )
    .await
    .map_err(Error::api("patch status", format!("deployments {name}")))?;
    Ok(())
}

/// Creates the new ReplicaSet. `Some(action)` stops the plan: the name is taken (the
/// cache is behind, or another template hashes the same — then the collision count goes
/// up and the next sync picks another name).
async fn create(
    state: &State,
    d: &Deployment,
    rs_api: &Objects<ReplicaSet>,
    deployments: &Objects<Deployment>,
    rs: &ReplicaSet,
    now: Timestamp,
) -> Result<Option<Action>> {
    let rs_name = rs.name_any();
    let namespace = d.namespace().unwrap_or_default();
    match rs_api.create(&PostParams::default(), rs).await {
        Ok(created) => {
            let replicas = replicasets::rs_replicas(&created);
            if replicas > 0 {
                let message = format!("Scaled up replica set {rs_name} from 0 to {replicas}");
                state.recorder.normal(d, "ScalingReplicaSet", message);
            }
            Ok(None)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = state
                .replicasets
                .get(&ObjectRef::new(&rs_name).within(&namespace));
            let template = d.spec.as_ref().map(|s| &s.template);
            let ours = existing.as_ref().is_some_and(|found| {
                claim::controlled_by(
                    &found.metadata,
                    d.metadata.uid.as_deref().unwrap_or_default(),
                ) && found
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .zip(template)
                    .is_some_and(|(a, b)| replicasets::equal_ignore_hash(a, b))
            });
            if existing.is_some() && !ours {
                let mut status = d.status.clone().unwrap_or_default();
                status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                write_status(deployments, &d.name_any(), &status).await?;
            }
            Ok(Some(Action::requeue(Duration::from_millis(100))))
        }
        Err(error) => {
            let text = match &error {
                kube::Error::Api(status) => status.message.clone(),
                other => other.to_string(),
            };
            let message = format!("Failed to create new replica set {rs_name:?}: {text}");
            if progress::has_progress_deadline(d) {
                let mut status = d.status.clone().unwrap_or_default();
                let condition = progress::condition(
                    progress::PROGRESSING,
                    "False",
                    progress::RS_CREATE_ERROR,
                    message.clone(),
                    now,
                );
                progress::set(&mut status, condition);
                // The create failure is what matters; a failed status write is retried.
                let _ = write_status(deployments, &d.name_any(), &status).await;
            }
            state
                .recorder
                .warning(d, progress::RS_CREATE_ERROR, message);
            Err(Error::api(
                "create",
                format!("replicasets {namespace}/{rs_name}"),
            )(error))
        }
    }
}

/// The ReplicaSets of the Deployment's namespace it controls and whose labels its
/// selector matches, after adopting matching orphans and releasing non-matching ones.
async fn claim_replica_sets(
    state: &State,
    d: &Arc<Deployment>,
    selector: &Selector,
) -> Result<Vec<ReplicaSet>> {
    let namespace = d.namespace().unwrap_or_default();
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let deleting = d.metadata.deletion_timestamp.is_some();
    let api = Objects::<ReplicaSet>::namespaced(state.client.clone(), &namespace);
    let (mut owned, mut adopt, mut release) = (Vec::new(), Vec::new(), Vec::new());
    for rs in state.replicasets.state() {
        if rs.metadata.namespace.as_deref() != Some(namespace.as_str()) {
            continue;
        }
        let labels = rs.metadata.labels.clone().unwrap_or_default();
        match claim::claim(&uid, deleting, selector.matches(&labels), &rs.metadata) {
            Claim::Owned => owned.push(rs.as_ref().clone()),
            Claim::Adopt => adopt.push(rs),
            Claim::Release => release.push(rs),
            Claim::Ignore => {}
        }
    }
    if !adopt.is_empty() {
        let deployments = Objects::<Deployment>::namespaced(state.client.clone(), &namespace);
        claim::can_adopt(&deployments, d.as_ref()).await?;
        for result in join_all(
            adopt
                .iter()
                .map(|rs| claim::adopt(&api, d.as_ref(), rs.as_ref())),
        )
        .await
        {
            match result {
                Ok(rs) => owned.push(rs),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    for result in join_all(
        release
            .iter()
            .map(|rs| claim::release(&api, &uid, rs.as_ref())),
    )
    .await
    {
        match result {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(owned)
}
