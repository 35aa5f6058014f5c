//! A StatefulSet pod's stable identity: its name `<set>-<ordinal>`, its labels, hostname
//! and subdomain, and the claims `<template>-<set>-<ordinal>` that hold its storage.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::history::REVISION_LABEL;
use crate::podstate::controller_ref;

/// The label naming the pod, so a Service can select one StatefulSet pod.
pub(crate) const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label holding the pod's ordinal.
pub(crate) const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The set's name.
pub(crate) fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

/// The first ordinal (`spec.ordinals.start`, 0 by default).
pub(crate) fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .as_ref()
        .and_then(|s| s.ordinals.as_ref())
        .and_then(|o| o.start)
        .unwrap_or(0)
}

/// `spec.replicas` (1 by default).
pub(crate) fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The ordinal in a pod name of the set, if the name is `<set>-<ordinal>`.
pub(crate) fn ordinal(set: &str, pod: &str) -> Option<i32> {
    let digits = pod.strip_prefix(set)?.strip_prefix('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `<set>-<ordinal>`.
pub(crate) fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// `<template>-<set>-<ordinal>`.
pub(crate) fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{}", pod_name(set, ordinal))
}

/// The pod at `ordinal`, from `template` (the template of revision `revision`).
pub(crate) fn new_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    revision: &str,
    ordinal: i32,
) -> Pod {
    let name = pod_name(set_name(set), ordinal);
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.to_owned(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_owned(), ordinal.to_string());
    labels.insert(REVISION_LABEL.to_owned(), revision.to_owned());
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    spec.subdomain = set
        .spec
        .as_ref()
        .and_then(|s| s.service_name.clone())
        .filter(|s| !s.is_empty());
    // Each claim template becomes the volume of the same name, replacing the template's.
    let mut volumes: Vec<Volume> = spec.volumes.take().unwrap_or_default();
    for claim in claim_templates(set) {
        let volume_name = claim.metadata.name.clone().unwrap_or_default();
        volumes.retain(|v| v.name != volume_name);
        volumes.push(Volume {
            name: volume_name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&volume_name, set_name(set), ordinal),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: meta.annotations,
            owner_references: Some(vec![controller_ref(set)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn claim_templates(set: &StatefulSet) -> impl Iterator<Item = &PersistentVolumeClaim> {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.as_ref())
        .into_iter()
        .flatten()
}

/// `persistentVolumeClaimRetentionPolicy.whenDeleted` and `.whenScaled` (`Retain` when unset).
pub(crate) fn retention(set: &StatefulSet) -> (String, String) {
    let policy = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    let pick = |v: Option<&String>| v.cloned().unwrap_or_else(|| "Retain".to_owned());
    (
        pick(policy.and_then(|p| p.when_deleted.as_ref())),
        pick(policy.and_then(|p| p.when_scaled.as_ref())),
    )
}

/// The claims the pod at `ordinal` needs, one per claim template: the template's labels
/// and the set's selector labels, owned by the set when `whenDeleted` is `Delete`.
pub(crate) fn new_claims(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let selector: BTreeMap<String, String> = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let owners: Option<Vec<OwnerReference>> = (retention(set).0 == "Delete").then(|| {
        let mut owner = controller_ref(set);
        owner.controller = None;
        vec![owner]
    });
    claim_templates(set)
        .map(|template| {
            let mut claim = template.clone();
            let base = template.metadata.name.as_deref().unwrap_or_default();
            let mut labels = claim.metadata.labels.take().unwrap_or_default();
            labels.extend(selector.clone());
            claim.metadata = ObjectMeta {
                name: Some(claim_name(base, set_name(set), ordinal)),
                namespace: set.metadata.namespace.clone(),
                labels: Some(labels),
                annotations: template.metadata.annotations.clone(),
                owner_references: owners.clone(),
                ..ObjectMeta::default()
            };
            claim.status = None;
            claim
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSetSpec;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    pub(crate) fn set() -> StatefulSet {
        let labels: BTreeMap<String, String> = [("app".to_owned(), "web".to_owned())].into();
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("web".to_owned()),
                namespace: Some("default".to_owned()),
                uid: Some("set-uid".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(StatefulSetSpec {
                service_name: Some("nginx".to_owned()),
                selector: LabelSelector {
                    match_labels: Some(labels.clone()),
                    ..LabelSelector::default()
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        volumes: Some(vec![Volume {
                            name: "data".to_owned(),
                            ..Volume::default()
                        }]),
                        ..PodSpec::default()
                    }),
                },
                volume_claim_templates: Some(vec![PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some("data".to_owned()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(PersistentVolumeClaimSpec::default()),
                    ..PersistentVolumeClaim::default()
                }]),
                ..StatefulSetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn ordinals_come_from_names_of_the_set_only() {
        assert_eq!(ordinal("web", "web-0"), Some(0));
        assert_eq!(ordinal("web", "web-12"), Some(12));
        assert_eq!(ordinal("web", "web-x"), None);
        assert_eq!(ordinal("web", "webby-1"), None);
        assert_eq!(ordinal("web", "web-"), None);
        assert_eq!(ordinal("web", "web-1-2"), None);
    }

    #[test]
    fn a_pod_gets_its_identity_and_claims() {
        let pod = new_pod(&set(), &set().spec.unwrap().template, "web-abc", 2);
        assert_eq!(pod.metadata.name.as_deref(), Some("web-2"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-2");
        assert_eq!(labels[POD_INDEX_LABEL], "2");
        assert_eq!(labels[REVISION_LABEL], "web-abc");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volumes = spec.volumes.unwrap();
        assert_eq!(volumes.len(), 1);
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "data-web-2"
        );
        let owner = &pod.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("StatefulSet", Some(true))
        );
    }

    #[test]
    fn claims_are_named_per_pod_and_owned_only_when_deleted_with_the_set() {
        let claims = new_claims(&set(), 1);
        assert_eq!(claims[0].metadata.name.as_deref(), Some("data-web-1"));
        assert_eq!(claims[0].metadata.labels.as_ref().unwrap()["app"], "web");
        assert!(claims[0].metadata.owner_references.is_none());
        let mut deleting = set();
        deleting
            .spec
            .as_mut()
            .unwrap()
            .persistent_volume_claim_retention_policy = Some(
            k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some("Delete".to_owned()),
                when_scaled: None,
            },
        );
        let owners = new_claims(&deleting, 0)[0]
            .metadata
            .owner_references
            .clone();
        assert_eq!(owners.unwrap()[0].kind, "StatefulSet");
    }
}
