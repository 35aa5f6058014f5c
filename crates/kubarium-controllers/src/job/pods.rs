//! A Job's pods: what a new one looks like (generated name, labels, tracking finalizer,
//! controller reference, the completion index of Indexed Jobs) and how the controller sorts
//! the ones it has (active, terminating, finished, ready).

use std::cmp::Reverse;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::indexes::COMPLETION_INDEX;

/// The finalizer that keeps a finished pod until the controller has counted it.
pub(crate) const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// The longest `generateName` the API server accepts before its random suffix.
const MAX_GENERATE_NAME: usize = 58;

/// A new pod of `job` from its template; `index` for Indexed Jobs.
pub(crate) fn new_pod(job: &Job, index: Option<i32>) -> Pod {
    let name = job.metadata.name.clone().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    let generate_name = match index {
        Some(index) => {
            annotations.insert(COMPLETION_INDEX.to_owned(), index.to_string());
            labels.insert(COMPLETION_INDEX.to_owned(), index.to_string());
            if spec.hostname.as_deref().unwrap_or_default().is_empty() {
                spec.hostname = Some(format!("{name}-{index}"));
            }
            let env = EnvVar {
                name: "JOB_COMPLETION_INDEX".to_owned(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                        ..ObjectFieldSelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            };
            let containers = spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten());
            for container in containers {
                let envs = container.env.get_or_insert_with(Vec::new);
                if !envs.iter().any(|e| e.name == env.name) {
                    envs.push(env.clone());
                }
            }
            generate_name_of(&format!("{name}-{index}-"))
        }
        None => generate_name_of(&format!("{name}-")),
    };
    let mut finalizers = template_meta.finalizers.unwrap_or_default();
    finalizers.push(TRACKING_FINALIZER.to_owned());
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            finalizers: Some(finalizers),
            owner_references: Some(vec![controller_ref(job)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Upstream shortens the job's part of a generated name so the whole fits.
fn generate_name_of(prefix: &str) -> String {
    if prefix.len() <= MAX_GENERATE_NAME {
        return prefix.to_owned();
    }
    let mut cut = MAX_GENERATE_NAME;
    while !prefix.is_char_boundary(cut) {
        cut -= 1;
    }
    prefix[..cut].to_owned()
}

/// The controller reference a Job puts on its pods.
pub(crate) fn controller_ref(job: &Job) -> OwnerReference {
    OwnerReference {
        api_version: "batch/v1".to_owned(),
        kind: "Job".to_owned(),
        name: job.metadata.name.clone().unwrap_or_default(),
        uid: job.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `pod`'s controller is the Job with `uid`.
pub(crate) fn controlled_by(pod: &Pod, uid: &str) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

pub(crate) fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Running or about to: not finished and not being deleted.
pub(crate) fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

/// Being deleted but not finished yet.
pub(crate) fn is_terminating(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_some()
}

pub(crate) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub(crate) fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == TRACKING_FINALIZER)
}

/// Whether the Job counts `pod` as failed. Unless pods are replaced only once they have
/// failed, a pod deleted before it succeeded counts as failed too (upstream's
/// `isPodFailed`), so orphaned pods that never reach `Failed` are counted.
pub(crate) fn is_failed(pod: &Pod, job: &Job) -> bool {
    let spec = job.spec.as_ref();
    if spec.is_some_and(|s| s.pod_failure_policy.is_some()) && phase(pod) != "Failed" {
        return false;
    }
    if phase(pod) == "Failed" {
        return true;
    }
    if spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed") {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase(pod) != "Succeeded"
}

/// Active pods in the order upstream deletes them: unscheduled before scheduled, pending
/// before running, not ready before ready, newer before older.
pub(crate) fn deletion_order(pods: &mut [&Pod]) {
    pods.sort_by_key(|pod| {
        let scheduled = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        let phase_rank = match phase(pod) {
            "Pending" => 0,
            "Unknown" => 1,
            _ => 2,
        };
        let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (scheduled, phase_rank, is_ready(pod), Reverse(created))
    });
}

/// Restarts of the containers of running and pending pods (what `backoffLimit` bounds for
/// `restartPolicy: OnFailure`).
pub(crate) fn restarts(pods: &[&Pod]) -> i32 {
    pods.iter()
        .filter(|p| matches!(phase(p), "Running" | "Pending"))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

    fn job() -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some("pi".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(JobSpec {
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some([("job-name".to_owned(), "pi".to_owned())].into()),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "pi".into(),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                },
                ..JobSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn non_indexed_pods_carry_the_finalizer_and_the_controller_reference() {
        let pod = new_pod(&job(), None);
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-"));
        assert_eq!(
            pod.metadata.finalizers,
            Some(vec![TRACKING_FINALIZER.to_owned()])
        );
        assert!(controlled_by(&pod, "u1"));
        assert!(pod.metadata.annotations.is_none());
        assert_eq!(pod.spec.unwrap().hostname, None);
    }

    #[test]
    fn indexed_pods_carry_their_index_and_hostname() {
        let pod = new_pod(&job(), Some(2));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("pi-2-"));
        let annotations = pod.metadata.annotations.unwrap();
        assert_eq!(annotations[COMPLETION_INDEX], "2");
        assert_eq!(pod.metadata.labels.unwrap()[COMPLETION_INDEX], "2");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("pi-2"));
        let env = spec.containers[0].env.as_ref().unwrap();
        assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
    }

    #[test]
    fn long_names_are_shortened() {
        let long = "x".repeat(70);
        assert_eq!(
            generate_name_of(&format!("{long}-")).len(),
            MAX_GENERATE_NAME
        );
    }
}
