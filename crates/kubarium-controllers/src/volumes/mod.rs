//! The PersistentVolume controller (`persistentvolume-controller`) with a local provisioner:
//! claims bind to matching volumes ([`binding`]) or get one provisioned in the cluster's
//! data dir ([`provision`]); a volume whose claim is gone is `Released` and then reclaimed
//! as its policy says — `Delete` removes the volume and its directory, `Retain` keeps both.
//!
//! Two loops, as upstream's `syncClaim` and `syncVolume`: one per claim, one per volume.
//! The shared informers do not stream deletions, so volumes bound to a claim are looked at
//! again every few seconds to notice the claim's deletion.

mod binding;
mod provision;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::objects::Objects;
use crate::podstate::settle;
use crate::{Context, Error, Result};
use binding::{best_match, claim_class, refers_to};
use provision::{PROVISIONED_BY, PROVISIONER};

/// Set on both sides of a binding the controller made.
pub(crate) const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// Set on a claim once its binding is complete.
const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Set on a claim whose volume a provisioner is to make.
const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
const BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// Set by the scheduler on a claim of a `WaitForFirstConsumer` class.
const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// How often a bound volume checks that its claim still exists.
const RECHECK: Duration = Duration::from_secs(2);
/// How soon after a failure a loop tries again.
const RETRY: Duration = Duration::from_secs(5);

struct State {
    client: kube::Client,
    claims: Store<PersistentVolumeClaim>,
    volumes: Store<PersistentVolume>,
    classes: Store<StorageClass>,
    recorder: Recorder,
    root: std::path::PathBuf,
}

/// Sets the loops up on `tasks`: the default class, the claim loop and the volume loop.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let state = Arc::new(State {
        client: ctx.client.clone(),
        claims: ctx.informers.store(),
        volumes: ctx.informers.store(),
        classes: ctx.informers.store(),
        recorder: ctx.recorder("persistentvolume-controller"),
        root: ctx.config.volumes_dir.clone(),
    });
    tasks.spawn(default_class(ctx.client.clone()));

    let claims = ctx.informers.subscribe::<PersistentVolumeClaim>();
    let volume_changes = ctx.informers.subscribe::<PersistentVolume>();
    let claim_loop = state.clone();
    let claim_loop_ready = ready(ctx);
    tasks.spawn(async move {
        claim_loop_ready.await;
        Controller::for_shared_stream(claims, claim_loop.claims.clone())
            .watches_shared_stream(volume_changes, |volume: Arc<PersistentVolume>| {
                let claim = volume.spec.as_ref().and_then(|s| s.claim_ref.clone());
                claim.and_then(|c| Some(ObjectRef::new(&c.name?).within(&c.namespace?)))
            })
            .run(sync_claim, retry, claim_loop)
            .for_each(|_| async {})
            .await;
    });

    let volumes = ctx.informers.subscribe::<PersistentVolume>();
    let claim_changes = ctx.informers.subscribe::<PersistentVolumeClaim>();
    let volume_loop_ready = ready(ctx);
    tasks.spawn(async move {
        volume_loop_ready.await;
        Controller::for_shared_stream(volumes, state.volumes.clone())
            .watches_shared_stream(claim_changes, |claim: Arc<PersistentVolumeClaim>| {
                let volume = claim.spec.as_ref().and_then(|s| s.volume_name.clone());
                volume.filter(|v| !v.is_empty()).map(|v| ObjectRef::new(&v))
            })
            .run(sync_volume, retry, state)
            .for_each(|_| async {})
            .await;
    });
}

/// Waits for every cache the loops read: a volume must never look released because the
/// claims were not listed yet.
fn ready(ctx: &Context) -> impl Future<Output = ()> + Send + 'static {
    let informers = &ctx.informers;
    let caches = (
        informers.synced::<PersistentVolumeClaim>(),
        informers.synced::<PersistentVolume>(),
        informers.synced::<StorageClass>(),
    );
    async move {
        futures_util::future::join3(caches.0, caches.1, caches.2).await;
    }
}

fn retry<K>(_object: Arc<K>, error: &Error, _state: Arc<State>) -> Action {
    tracing::debug!(%error, "volume sync failed; retrying");
    Action::requeue(if error.is_conflict() {
        Duration::from_millis(200)
    } else {
        RETRY
    })
}

/// Creates the default StorageClass unless it exists, retrying until the API answers.
async fn default_class(client: kube::Client) {
    let api = Objects::<StorageClass>::all(client);
    loop {
        match api
            .create(&PostParams::default(), &provision::default_class())
            .await
        {
            Ok(_) => return,
            Err(kube::Error::Api(status)) if status.code == 409 => return,
            Err(error) => {
                tracing::debug!(%error, "could not create the default StorageClass; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

fn name_of<K: kube::Resource>(object: &K) -> String {
    object.meta().name.clone().unwrap_or_default()
}

fn annotation<'a, K: kube::Resource>(object: &'a K, key: &str) -> Option<&'a str> {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

async fn sync_claim(claim: Arc<PersistentVolumeClaim>, state: Arc<State>) -> Result<Action> {
    if claim.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = claim.metadata.namespace.clone().unwrap_or_default();
    let volumes = state.volumes.state();
    let volume_refs: Vec<&PersistentVolume> = volumes.iter().map(AsRef::as_ref).collect();
    let wanted = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .filter(|v| !v.is_empty());
    let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
    if let Some(wanted) = wanted {
        let volume = volume_refs
            .iter()
            .find(|v| v.metadata.name.as_deref() == Some(wanted.as_str()));
        match volume {
            None if phase == Some("Bound") => {
                claim_phase(&state, &claim, "Lost").await?;
                state.recorder.warning(
                    claim.as_ref(),
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
                        .to_owned(),
                );
            }
            None => {}
            Some(volume)
                if refers_to(volume, &claim)
                    || volume.spec.as_ref().is_some_and(|s| s.claim_ref.is_none()) =>
            {
                bind(&state, volume, &claim).await?;
            }
            Some(_) => state.recorder.warning(
                claim.as_ref(),
                "FailedBinding",
                format!("volume \"{wanted}\" already bound to a different claim."),
            ),
        }
        return Ok(Action::await_change());
    }
    if let Some(volume) = best_match(&volume_refs, &claim) {
        bind(&state, volume, &claim).await?;
        return Ok(Action::await_change());
    }
    let class_name = claim_class(&claim).to_owned();
    if class_name.is_empty() {
        state.recorder.normal(
            claim.as_ref(),
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set".to_owned(),
        );
        return Ok(Action::await_change());
    }
    let Some(class) = state.classes.get(&ObjectRef::new(&class_name)) else {
        state.recorder.warning(
            claim.as_ref(),
            "ProvisioningFailed",
            format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
        );
        return Ok(Action::requeue(RETRY));
    };
    if class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
        && annotation(claim.as_ref(), SELECTED_NODE).is_none()
    {
        state.recorder.normal(
            claim.as_ref(),
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding".to_owned(),
        );
        return Ok(Action::await_change());
    }
    if annotation(claim.as_ref(), STORAGE_PROVISIONER) != Some(class.provisioner.as_str()) {
        let patch = json!({"metadata": {"annotations": {
            STORAGE_PROVISIONER: class.provisioner,
            BETA_STORAGE_PROVISIONER: class.provisioner,
        }}});
        Objects::<PersistentVolumeClaim>::namespaced(state.client.clone(), &namespace)
            .patch(
                &name_of(claim.as_ref()),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
            .map_err(Error::api("patch", claim_what(&claim)))?;
    }
    if class.provisioner != PROVISIONER {
        state.recorder.normal(
            claim.as_ref(),
            "ExternalProvisioning",
            format!(
                "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
                class.provisioner
            ),
        );
        return Ok(Action::await_change());
    }
    let volume = match provision_volume(&state, &claim, &class).await {
        Ok(volume) => volume,
        Err(error) => {
            state.recorder.warning(
                claim.as_ref(),
                "ProvisioningFailed",
                format!("Failed to provision volume with StorageClass \"{class_name}\": {error}"),
            );
            return Err(error);
        }
    };
    bind(&state, &volume, &claim).await?;
    Ok(Action::await_change())
}

fn claim_what(claim: &PersistentVolumeClaim) -> String {
    format!(
        "persistentvolumeclaims {}/{}",
        claim.metadata.namespace.as_deref().unwrap_or_default(),
        name_of(claim)
    )
}

/// Makes the directory and the volume for `claim`.
async fn provision_volume(
    state: &State,
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
) -> Result<PersistentVolume> {
    let path = provision::directory(&state.root, claim);
    provision::make_directory(&path)
        .await
        .map_err(|error| Error::Invalid {
            what: format!("directory {}", path.display()),
            reason: error.to_string(),
        })?;
    let volume = provision::new_volume(claim, class, &path);
    let name = name_of(&volume);
    let api = Objects::<PersistentVolume>::all(state.client.clone());
    let created = match api.create(&PostParams::default(), &volume).await {
        Ok(created) => {
            state.recorder.normal(
                claim,
                "ProvisioningSucceeded",
                format!("Successfully provisioned volume {name} using {PROVISIONER}"),
            );
            created
        }
        Err(kube::Error::Api(status)) if status.code == 409 => api
            .get(&name)
            .await
            .map_err(Error::api("get", format!("persistentvolumes {name}")))?,
        Err(error) => {
            return Err(Error::api("create", format!("persistentvolumes {name}"))(
                error,
            ));
        }
    };
    settle(&state.volumes, "", &name, |v| v.is_some()).await;
    Ok(created)
}

/// Binds `volume` and `claim` to each other, each step only if not done yet, in upstream's
/// order: the volume's claim reference, its phase, the claim's volume name, its phase.
async fn bind(
    state: &State,
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<()> {
    let volume_name = name_of(volume);
    let volumes = Objects::<PersistentVolume>::all(state.client.clone());
    let namespace = claim.metadata.namespace.clone().unwrap_or_default();
    let claims = Objects::<PersistentVolumeClaim>::namespaced(state.client.clone(), &namespace);
    let params = PatchParams::default();
    let full_reference = volume
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .is_some_and(|r| r.uid.is_some() && r.uid == claim.metadata.uid);
    if !full_reference {
        let patch = json!({
            "metadata": {
                "resourceVersion": volume.metadata.resource_version,
                "annotations": {BOUND_BY_CONTROLLER: "yes"},
            },
            "spec": {"claimRef": provision::claim_reference(claim)},
        });
        volumes
            .patch(&volume_name, &params, &Patch::Merge(patch))
            .await
            .map_err(Error::api(
                "patch",
                format!("persistentvolumes {volume_name}"),
            ))?;
    }
    if volume.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        volumes
            .patch_status(
                &volume_name,
                &params,
                &Patch::Merge(json!({"status": {"phase": "Bound"}})),
            )
            .await
            .map_err(Error::api(
                "patch status",
                format!("persistentvolumes {volume_name}"),
            ))?;
    }
    let spec = claim.spec.as_ref();
    let named = spec.and_then(|s| s.volume_name.as_deref()) == Some(volume_name.as_str());
    if !named || annotation(claim, BIND_COMPLETED).is_none() {
        let mut annotations = json!({BIND_COMPLETED: "yes"});
        if !named {
            annotations[BOUND_BY_CONTROLLER] = json!("yes");
        }
        let patch = json!({
            "metadata": {"annotations": annotations},
            "spec": {"volumeName": volume_name},
        });
        claims
            .patch(&name_of(claim), &params, &Patch::Merge(patch))
            .await
            .map_err(Error::api("patch", claim_what(claim)))?;
    }
    let vspec = volume.spec.clone().unwrap_or_default();
    let status = json!({"status": {
        "phase": "Bound",
        "accessModes": vspec.access_modes,
        "capacity": vspec.capacity,
    }});
    let current = claim.status.clone().unwrap_or_default();
    if current.phase.as_deref() != Some("Bound")
        || current.access_modes != vspec.access_modes
        || current.capacity != vspec.capacity
    {
        claims
            .patch_status(&name_of(claim), &params, &Patch::Merge(status))
            .await
            .map_err(Error::api("patch status", claim_what(claim)))?;
    }
    Ok(())
}

async fn claim_phase(state: &State, claim: &PersistentVolumeClaim, phase: &str) -> Result<()> {
    let namespace = claim.metadata.namespace.clone().unwrap_or_default();
    Objects::<PersistentVolumeClaim>::namespaced(state.client.clone(), &namespace)
        .patch_status(
            &name_of(claim),
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": phase}})),
        )
        .await
        .map_err(Error::api("patch status", claim_what(claim)))?;
    Ok(())
}

async fn volume_phase(state: &State, volume: &PersistentVolume, phase: &str) -> Result<()> {
    if volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase) {
        return Ok(());
    }
    let name = name_of(volume);
    Objects::<PersistentVolume>::all(state.client.clone())
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": phase}})),
        )
        .await
        .map_err(Error::api(
            "patch status",
            format!("persistentvolumes {name}"),
        ))?;
    Ok(())
}

async fn sync_volume(volume: Arc<PersistentVolume>, state: Arc<State>) -> Result<Action> {
    if volume.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let spec = volume.spec.clone().unwrap_or_default();
    let Some(reference) = spec.claim_ref.as_ref() else {
        volume_phase(&state, &volume, "Available").await?;
        return Ok(Action::await_change());
    };
    let key = ObjectRef::new(reference.name.as_deref().unwrap_or_default())
        .within(reference.namespace.as_deref().unwrap_or_default());
    let claim = state.claims.get(&key);
    let same = claim
        .as_ref()
        .filter(|c| reference.uid.is_none() || reference.uid == c.metadata.uid);
    if let Some(claim) = same {
        let bound = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref())
            == volume.metadata.name.as_deref();
        volume_phase(&state, &volume, if bound { "Bound" } else { "Available" }).await?;
        return Ok(Action::requeue(RECHECK));
    }
    if reference.uid.is_none() {
        // Pre-bound by a person to a claim not made yet.
        volume_phase(&state, &volume, "Available").await?;
        return Ok(Action::requeue(RECHECK));
    }
    if volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
        return Ok(Action::await_change());
    }
    volume_phase(&state, &volume, "Released").await?;
    match spec.persistent_volume_reclaim_policy.as_deref() {
        Some("Delete") => reclaim_by_deleting(&state, &volume).await,
        _ => Ok(Action::await_change()),
    }
}

/// Deletes a released volume of reclaim policy `Delete`: its directory if this provisioner
/// made it, then the object. A volume made elsewhere has no deleter here.
async fn reclaim_by_deleting(state: &State, volume: &PersistentVolume) -> Result<Action> {
    let name = name_of(volume);
    if annotation(volume, PROVISIONED_BY) != Some(PROVISIONER) {
        state.recorder.warning(
            volume,
            "VolumeFailedDelete",
            format!("error getting deleter volume plugin for volume \"{name}\": no deletable volume plugin matched"),
        );
        return Ok(Action::await_change());
    }
    if let Some(path) = volume
        .spec
        .as_ref()
        .and_then(|s| s.host_path.as_ref())
        .map(|h| std::path::PathBuf::from(&h.path))
        && let Err(error) = provision::remove_directory(&state.root, &path).await
    {
        state
            .recorder
            .warning(volume, "VolumeFailedDelete", error.to_string());
        return Ok(Action::requeue(RETRY));
    }
    match Objects::<PersistentVolume>::all(state.client.clone())
        .delete(&name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(error) => Err(Error::api("delete", format!("persistentvolumes {name}"))(
            error,
        )),
    }
}
