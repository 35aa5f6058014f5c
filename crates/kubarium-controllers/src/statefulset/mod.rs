//! The StatefulSet controller, as kube-controller-manager's `statefulset-controller`: pods
//! with stable names and storage, created and removed in order (or in parallel), updated
//! in reverse ordinal order down to a partition, with their templates kept as
//! ControllerRevisions.
//!
//! Each sync reads the shared caches, decides with [`plan`] (pure, tested there), makes the
//! changes with ordinary API requests, waits for the caches to show them, and writes the
//! status `kubectl rollout status` reads. The shared informers stream changes but not
//! deletions, so a sync with something in flight looks again shortly.

mod identity;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use serde_json::json;
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::history;
use crate::objects::Objects;
use crate::podstate::{controlled_by, controller_ref, settle, terminating};
use crate::{Context, Error, Result};
use identity::{claim_name, new_claims, new_pod, ordinal, set_name};
use plan::{Revisions, Step};

/// How soon a sync with changes in flight looks again (deletions are not streamed).
const BUSY: Duration = Duration::from_secs(1);
/// How soon a settled set is looked at again.
const IDLE: Duration = Duration::from_secs(10);

struct State {
    client: kube::Client,
    pods: Store<Pod>,
    claims: Store<PersistentVolumeClaim>,
    revisions: Store<ControllerRevision>,
    recorder: Recorder,
}

/// Sets the loop up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let sets = ctx.informers.store::<StatefulSet>();
    let trigger = ctx.informers.subscribe::<StatefulSet>();
    let pod_trigger = ctx.informers.subscribe::<Pod>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        pods: ctx.informers.store::<Pod>(),
        claims: ctx.informers.store::<PersistentVolumeClaim>(),
        revisions: ctx.informers.store::<ControllerRevision>(),
        recorder: ctx.recorder("statefulset-controller"),
    });
    let synced = futures_util::future::join3(
        ctx.informers.synced::<Pod>(),
        ctx.informers.synced::<PersistentVolumeClaim>(),
        ctx.informers.synced::<ControllerRevision>(),
    );
    tasks.spawn(async move {
        synced.await;
        Controller::for_shared_stream(trigger, sets)
            .owns_shared_stream(pod_trigger)
            .run(reconcile, error_policy, state)
            .for_each(|_| async {})
            .await;
    });
}

fn error_policy(_set: Arc<StatefulSet>, error: &Error, _state: Arc<State>) -> Action {
    tracing::debug!(%error, "statefulset sync failed; retrying");
    Action::requeue(if error.is_conflict() { BUSY } else { IDLE / 2 })
}

fn owned<K: kube::Resource<DynamicType = ()> + Clone>(
    store: &Store<K>,
    namespace: &str,
    uid: &str,
) -> Vec<Arc<K>> {
    store
        .state()
        .into_iter()
        .filter(|o| {
            o.meta().namespace.as_deref() == Some(namespace)
                && controlled_by(o.meta().owner_references.as_ref(), uid)
        })
        .collect()
}

async fn reconcile(set: Arc<StatefulSet>, state: Arc<State>) -> Result<Action> {
    let namespace = set.metadata.namespace.clone().unwrap_or_default();
    let name = set_name(&set).to_owned();
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let Some(spec) = set.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    let revisions_api = Objects::<ControllerRevision>::namespaced(state.client.clone(), &namespace);
    let revisions = owned(&state.revisions, &namespace, &uid);
    let revision_refs: Vec<&ControllerRevision> = revisions.iter().map(AsRef::as_ref).collect();
    let collisions = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let owner = controller_ref(set.as_ref());
    let (update, collisions) = history::store(
        &revisions_api,
        &namespace,
        &revision_refs,
        &owner,
        &spec.template,
        collisions,
    )
    .await?;
    let update_name = update.metadata.name.clone().unwrap_or_default();
    let current = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.as_deref())
        .and_then(|n| {
            revision_refs
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(n))
        });
    let current_name = current
        .and_then(|r| r.metadata.name.clone())
        .unwrap_or_else(|| update_name.clone());
    let current_template = current
        .and_then(|r| history::revision_template(r))
        .unwrap_or_else(|| spec.template.clone());
    let names = Revisions {
        current: &current_name,
        update: &update_name,
    };

    let pods = owned(&state.pods, &namespace, &uid);
    let pod_refs: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
    let now = jiff::Timestamp::now();
    let planned = plan::plan(&set, &pod_refs, names, now);
    let sync = Sync {
        state: &state,
        set: &set,
        namespace: &namespace,
    };
    for step in &planned.steps {
        match step {
            Step::Create { ordinal, current } => {
                let (template, revision) = if *current {
                    (&current_template, &current_name)
                } else {
                    (&spec.template, &update_name)
                };
                sync.create(*ordinal, template, revision).await?;
            }
            Step::Recreate { name: pod } => {
                let ended = pods
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(pod.as_str()));
                let reason = match ended.map(|p| crate::podstate::phase(p)) {
                    Some("Succeeded") => "RecreatingTerminatedPod",
                    _ => "RecreatingFailedPod",
                };
                let what = if reason == "RecreatingFailedPod" {
                    "failed"
                } else {
                    "terminated"
                };
                state.recorder.warning(
                    set.as_ref(),
                    reason,
                    format!("StatefulSet {namespace}/{name} is recreating {what} Pod {pod}"),
                );
                sync.delete(pod).await?;
            }
            Step::Condemn { name: pod } => {
                if identity::retention(&set).1 == "Delete" {
                    sync.hand_claims_to(pod, &pods).await?;
                }
                sync.delete(pod).await?;
            }
            Step::Update { name: pod } => sync.delete(pod).await?,
        }
    }

    let pods = owned(&state.pods, &namespace, &uid);
    let pod_refs: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
    let status = plan::status(&set, &pod_refs, names, collisions, now);
    if set.status.as_ref() != Some(&status) {
        Objects::<StatefulSet>::namespaced(state.client.clone(), &namespace)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .map_err(Error::api(
                "patch status",
                format!("statefulsets {namespace}/{name}"),
            ))?;
    }

    // History: keep what pods use, the current and update revisions, and the newest others.
    let revisions = owned(&state.revisions, &namespace, &uid);
    let revision_refs: Vec<&ControllerRevision> = revisions.iter().map(AsRef::as_ref).collect();
    let mut live: Vec<&str> = pod_refs
        .iter()
        .filter_map(|p| p.metadata.labels.as_ref()?.get(history::REVISION_LABEL))
        .map(String::as_str)
        .collect();
    let final_current = status.current_revision.as_deref().unwrap_or_default();
    live.extend([final_current, update_name.as_str()]);
    let limit = spec.revision_history_limit.unwrap_or(10);
    for old in history::surplus(&revision_refs, &live, limit) {
        let old_name = old.metadata.name.clone().unwrap_or_default();
        match revisions_api
            .delete(&old_name, &DeleteParams::default())
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(error) => {
                return Err(Error::api(
                    "delete",
                    format!("controllerrevisions {namespace}/{old_name}"),
                )(error));
            }
        }
    }

    let busy = !planned.steps.is_empty() || pod_refs.iter().any(|p| terminating(p));
    Ok(Action::requeue(if busy {
        BUSY
    } else {
        planned.requeue.map_or(IDLE, |r| r.min(IDLE))
    }))
}

/// The changes of one sync of one set.
struct Sync<'a> {
    state: &'a State,
    set: &'a StatefulSet,
    namespace: &'a str,
}

impl Sync<'_> {
    fn pods(&self) -> Objects<Pod> {
        Objects::namespaced(self.state.client.clone(), self.namespace)
    }

    /// Creates the pod at `ordinal` after its missing claims.
    async fn create(
        &self,
        ordinal: i32,
        template: &k8s_openapi::api::core::v1::PodTemplateSpec,
        revision: &str,
    ) -> Result<()> {
        let set = set_name(self.set);
        let pod = new_pod(self.set, template, revision, ordinal);
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let claims_api =
            Objects::<PersistentVolumeClaim>::namespaced(self.state.client.clone(), self.namespace);
        for claim in new_claims(self.set, ordinal) {
            let claim_name = claim.metadata.name.clone().unwrap_or_default();
            let key = kube::runtime::reflector::ObjectRef::new(&claim_name).within(self.namespace);
            if let Some(existing) = self.state.claims.get(&key) {
                if existing.metadata.deletion_timestamp.is_some() {
                    return Err(Error::Invalid {
                        what: format!("pod {}/{pod_name}", self.namespace),
                        reason: format!("its claim {claim_name} is being deleted"),
                    });
                }
                continue;
            }
            match claims_api.create(&PostParams::default(), &claim).await {
                Ok(_) => self.state.recorder.normal(
                    self.set,
                    "SuccessfulCreate",
                    format!(
                        "create Claim {claim_name} Pod {pod_name} in StatefulSet {set} success"
                    ),
                ),
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => {
                    self.state.recorder.warning(
                        self.set,
                        "FailedCreate",
                        format!(
                            "create Claim {claim_name} for Pod {pod_name} in StatefulSet {set} failed error: {error}"
                        ),
                    );
                    return Err(Error::api(
                        "create",
                        format!("persistentvolumeclaims {}/{claim_name}", self.namespace),
                    )(error));
                }
            }
            settle(&self.state.claims, self.namespace, &claim_name, |c| {
                c.is_some()
            })
            .await;
        }
        match self.pods().create(&PostParams::default(), &pod).await {
            Ok(_) => self.state.recorder.normal(
                self.set,
                "SuccessfulCreate",
                format!("create Pod {pod_name} in StatefulSet {set} successful"),
            ),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => {
                self.state.recorder.warning(
                    self.set,
                    "FailedCreate",
                    format!("create Pod {pod_name} in StatefulSet {set} failed error: {error}"),
                );
                return Err(Error::api(
                    "create",
                    format!("pods {}/{pod_name}", self.namespace),
                )(error));
            }
        }
        settle(&self.state.pods, self.namespace, &pod_name, |p| p.is_some()).await;
        Ok(())
    }

    /// Deletes pod `name`.
    async fn delete(&self, name: &str) -> Result<()> {
        let set = set_name(self.set);
        match self.pods().delete(name, &DeleteParams::default()).await {
            Ok(_) => self.state.recorder.normal(
                self.set,
                "SuccessfulDelete",
                format!("delete Pod {name} in StatefulSet {set} successful"),
            ),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                self.state.recorder.warning(
                    self.set,
                    "FailedDelete",
                    format!("delete Pod {name} in StatefulSet {set} failed error: {error}"),
                );
                return Err(Error::api(
                    "delete",
                    format!("pods {}/{name}", self.namespace),
                )(error));
            }
        }
        settle(&self.state.pods, self.namespace, name, |p| {
            p.is_none_or(terminating)
        })
        .await;
        Ok(())
    }

    /// Makes the condemned pod `name` an owner of its claims, so the garbage collector
    /// deletes them with it (`whenScaled: Delete`).
    async fn hand_claims_to(&self, name: &str, pods: &[Arc<Pod>]) -> Result<()> {
        let Some(pod) = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
        else {
            return Ok(());
        };
        let Some(n) = ordinal(set_name(self.set), name) else {
            return Ok(());
        };
        let mut owner = controller_ref(pod.as_ref());
        owner.controller = None;
        let claims_api =
            Objects::<PersistentVolumeClaim>::namespaced(self.state.client.clone(), self.namespace);
        for template in self
            .set
            .spec
            .as_ref()
            .and_then(|s| s.volume_claim_templates.as_ref())
            .into_iter()
            .flatten()
        {
            let base = template.metadata.name.as_deref().unwrap_or_default();
            let claim = claim_name(base, set_name(self.set), n);
            let key = kube::runtime::reflector::ObjectRef::new(&claim).within(self.namespace);
            let Some(existing) = self.state.claims.get(&key) else {
                continue;
            };
            let mut owners = existing
                .metadata
                .owner_references
                .clone()
                .unwrap_or_default();
            if owners.iter().any(|o| o.uid == owner.uid) {
                continue;
            }
            owners.push(owner.clone());
            let patch = json!({"metadata": {"ownerReferences": owners}});
            claims_api
                .patch(&claim, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map_err(Error::api(
                    "patch",
                    format!("persistentvolumeclaims {}/{claim}", self.namespace),
                ))?;
        }
        Ok(())
    }
}
