//! Pods whose Job is gone or finished still carrying the tracking finalizer: released so
//! the garbage collector can delete them (upstream's orphan pod queue).

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::PatchParams;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::State;
use super::control::release_patch;
use super::decide;
use super::pods::has_tracking_finalizer;
use crate::objects::Objects;
use crate::{Error, Result};

/// Releases the tracking finalizer of a pod whose Job is gone or finished (upstream's
/// `syncOrphanPod`), so the garbage collector can delete it.
pub(super) async fn release_orphan(pod: Arc<Pod>, state: Arc<State>) -> Result<Action> {
    if !has_tracking_finalizer(&pod) {
        return Ok(Action::await_change());
    }
    state.jobs_synced.wait().await;
    let namespace = pod.namespace().unwrap_or_default();
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(owner) = owner {
        if owner.kind != "Job" || owner.api_version != "batch/v1" {
            return Ok(Action::await_change());
        }
        let cached = state
            .jobs
            .get(&ObjectRef::new(&owner.name).within(&namespace));
        let job = match cached {
            Some(job) => Some(job),
            None => Objects::<Job>::namespaced(state.client.clone(), &namespace)
                .get_opt(&owner.name)
                .await
                .map_err(Error::api(
                    "get",
                    format!("jobs {namespace}/{}", owner.name),
                ))?
                .map(Arc::new),
        };
        let ours = job.filter(|j| j.metadata.uid.as_deref() == Some(owner.uid.as_str()));
        if ours.is_some_and(|j| !decide::is_finished(&j)) {
            return Ok(Action::await_change());
        }
    }
    let api = Objects::<Pod>::namespaced(state.client.clone(), &namespace);
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &release_patch(&pod),
        )
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(error) => Err(Error::api(
            "patch",
            format!("pods {namespace}/{}", pod.name_any()),
        )(error)),
    }
}
