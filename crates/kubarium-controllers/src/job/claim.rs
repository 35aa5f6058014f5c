//! Which pods a Job controls, as upstream's `ClaimPods`: a pod whose controller reference
//! is the Job stays its own while its labels match the Job's selector and is released when
//! they no longer do; a pod without a controller whose labels match is adopted (controller
//! reference and tracking finalizer added). Nothing is adopted by a Job being deleted.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use serde_json::json;

use super::State;
use super::pods::{TRACKING_FINALIZER, controller_ref};
use crate::objects::Objects;
use crate::{Error, Result};

/// Pods to adopt and pods to release among `pods` (all of the Job's namespace).
pub(crate) fn claims<'a>(job: &Job, pods: &[&'a Pod]) -> (Vec<&'a Pod>, Vec<&'a Pod>) {
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let selector = job
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .and_then(|s| Selector::try_from(s).ok());
    let Some(selector) = selector else {
        return (Vec::new(), Vec::new());
    };
    let empty = BTreeMap::new();
    let matches = |pod: &Pod| selector.matches(pod.metadata.labels.as_ref().unwrap_or(&empty));
    let deleting = job.metadata.deletion_timestamp.is_some();
    let mut adopt = Vec::new();
    let mut release = Vec::new();
    for &pod in pods {
        let controller = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|r| r.controller == Some(true));
        let alive = pod.metadata.deletion_timestamp.is_none();
        match controller {
            Some(owner) if owner.uid == uid => {
                if !matches(pod) && alive {
                    release.push(pod);
                }
            }
            Some(_) => {}
            None => {
                if matches(pod) && alive && !deleting {
                    adopt.push(pod);
                }
            }
        }
    }
    (adopt, release)
}

/// Adds the Job's controller reference and the tracking finalizer to `pod`, pinned to the
/// pod's resourceVersion; the adopted pod.
pub(crate) async fn adopt(state: &State, job: &Job, pod: &Pod) -> Result<Pod> {
    let mut owners = pod.metadata.owner_references.clone().unwrap_or_default();
    owners.push(controller_ref(job));
    let mut finalizers = pod.metadata.finalizers.clone().unwrap_or_default();
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_owned());
    }
    patch(state, pod, owners, finalizers, "adopt").await
}

/// Removes the Job's controller reference and the tracking finalizer from `pod`.
pub(crate) async fn release(state: &State, job: &Job, pod: &Pod) -> Result<Pod> {
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let owners: Vec<_> = pod
        .owner_references()
        .iter()
        .filter(|r| r.uid != uid)
        .cloned()
        .collect();
    let finalizers: Vec<String> = pod
        .finalizers()
        .iter()
        .filter(|f| *f != TRACKING_FINALIZER)
        .cloned()
        .collect();
    patch(state, pod, owners, finalizers, "release").await
}

async fn patch(
    state: &State,
    pod: &Pod,
    owners: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    finalizers: Vec<String>,
    verb: &'static str,
) -> Result<Pod> {
    let namespace = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let body = json!({"metadata": {
        "ownerReferences": owners,
        "finalizers": finalizers,
        "uid": pod.metadata.uid,
        "resourceVersion": pod.metadata.resource_version,
    }});
    Objects::<Pod>::namespaced(state.client.clone(), &namespace)
        .patch(&name, &PatchParams::default(), &Patch::Merge(body))
        .await
        .map_err(Error::api(verb, format!("pods {namespace}/{name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, ObjectMeta, OwnerReference,
    };

    fn job() -> Job {
        Job {
            metadata: ObjectMeta {
                uid: Some("job".into()),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                selector: Some(LabelSelector {
                    match_labels: Some([("app".to_owned(), "pi".to_owned())].into()),
                    ..LabelSelector::default()
                }),
                ..JobSpec::default()
            }),
            status: None,
        }
    }

    fn pod(name: &str, app: &str, owner: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([("app".to_owned(), app.to_owned())].into()),
                owner_references: owner.map(|uid| {
                    vec![OwnerReference {
                        uid: uid.into(),
                        controller: Some(true),
                        ..OwnerReference::default()
                    }]
                }),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn adopts_matching_orphans_and_releases_pods_that_stopped_matching() {
        let pods = [
            pod("mine", "pi", Some("job")),
            pod("orphan", "pi", None),
            pod("stranger", "web", None),
            pod("relabelled", "web", Some("job")),
            pod("someone-elses", "pi", Some("other")),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let (adopt, release) = claims(&job(), &refs);
        let names = |list: Vec<&Pod>| list.iter().map(|p| p.name_any()).collect::<Vec<_>>();
        assert_eq!(names(adopt), ["orphan"]);
        assert_eq!(names(release), ["relabelled"]);
    }
}
