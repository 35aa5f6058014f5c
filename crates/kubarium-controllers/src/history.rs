//! ControllerRevisions: the pod template history of StatefulSets and DaemonSets, as
//! kube-controller-manager's `controller/history` keeps it.
//!
//! A revision holds a patch that restores its owner's pod template
//! (`{"spec":{"template":{…,"$patch":"replace"}}}`), a number that grows with every change,
//! and a name `<owner>-<hash>` whose hash covers the patch and the owner's collision count,
//! so a hash collision with a different template is resolved by counting the collision and
//! hashing again. Pods carry the revision in their `controller-revision-hash` label.

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{Patch, PatchParams, PostParams};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::objects::Objects;
use crate::{Error, Result};

/// The label on pods (and revisions) naming their revision.
pub(crate) const REVISION_LABEL: &str = "controller-revision-hash";

/// Characters a hash is written in: no vowels (no words), no look-alikes (0, 1, 3).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The patch that restores `template`: what a revision stores.
pub(crate) fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".to_owned(), Value::from("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The template a revision's data restores, if it holds one.
pub(crate) fn revision_template(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let data = revision.data.as_ref()?;
    let mut template = data.0.get("spec")?.get("template")?.clone();
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    PodTemplateSpec::deserialize(&template).ok()
}

/// FNV-1a (32-bit) of the data and the collision count, written with [`ALPHANUMS`] as
/// upstream's `rand.SafeEncodeString` writes the decimal sum.
pub(crate) fn hash(data: &Value, collision_count: i32) -> String {
    let mut sum: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            sum ^= u32::from(*byte);
            sum = sum.wrapping_mul(0x0100_0193);
        }
    };
    feed(&serde_json::to_vec(data).unwrap_or_default());
    if collision_count != 0 {
        feed(&collision_count.to_le_bytes());
    }
    sum.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// `<owner>-<hash>`, the owner's part cut so the name stays a valid object name.
pub(crate) fn revision_name(owner: &str, hash: &str) -> String {
    let owner: String = owner.chars().take(223).collect();
    format!("{owner}-{hash}")
}

/// The number the next revision gets: one past the newest.
pub(crate) fn next_number(revisions: &[&ControllerRevision]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0) + 1
}

/// Whether two revisions restore the same template.
pub(crate) fn same_data(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data.as_ref().map(|d| &d.0) == b.data.as_ref().map(|d| &d.0)
}

/// A revision of `owner`'s `template`, numbered `number`, named for `collision_count`.
pub(crate) fn new_revision(
    owner: &OwnerReference,
    namespace: &str,
    template: &PodTemplateSpec,
    number: i64,
    collision_count: i32,
) -> ControllerRevision {
    let data = template_patch(template);
    let hash = hash(&data, collision_count);
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(REVISION_LABEL.to_owned(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(&owner.name, &hash)),
            namespace: Some(namespace.to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(data)),
        revision: number,
    }
}

/// Where the owner's current template stands in its history.
#[derive(Debug, PartialEq)]
pub(crate) enum Placement {
    /// The newest revision already holds it.
    Newest(String),
    /// An older revision holds it: renumber that one to be the newest.
    Renumber(String),
    /// No revision holds it: create one.
    Create,
}

/// Finds `wanted` (a revision built by [`new_revision`]) among `revisions`.
pub(crate) fn place(revisions: &[&ControllerRevision], wanted: &ControllerRevision) -> Placement {
    let newest = revisions.iter().max_by_key(|r| r.revision);
    let equal: Vec<&&ControllerRevision> =
        revisions.iter().filter(|r| same_data(r, wanted)).collect();
    let name = |r: &ControllerRevision| r.metadata.name.clone().unwrap_or_default();
    match equal.iter().max_by_key(|r| r.revision) {
        None => Placement::Create,
        Some(found) if newest.is_some_and(|n| n.revision == found.revision) => {
            Placement::Newest(name(found))
        }
        Some(found) => Placement::Renumber(name(found)),
    }
}

/// Makes `wanted` the newest revision in the cluster and returns it with the collision
/// count it was stored under (greater than `collision_count` after a hash collision).
pub(crate) async fn store(
    api: &Objects<ControllerRevision>,
    namespace: &str,
    revisions: &[&ControllerRevision],
    owner: &OwnerReference,
    template: &PodTemplateSpec,
    mut collision_count: i32,
) -> Result<(ControllerRevision, i32)> {
    let number = next_number(revisions);
    let wanted = new_revision(owner, namespace, template, number, collision_count);
    match place(revisions, &wanted) {
        Placement::Newest(name) => {
            let found = revisions
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
                .map(|r| (*r).clone())
                .unwrap_or(wanted);
            return Ok((found, collision_count));
        }
        Placement::Renumber(name) => {
            let patch = json!({"revision": number});
            let updated = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .map_err(Error::api("patch", format!("controllerrevisions {name}")))?;
            return Ok((updated, collision_count));
        }
        Placement::Create => {}
    }
    // A collision loop ends: each pass changes the hash.
    for _ in 0..100 {
        let revision = new_revision(owner, namespace, template, number, collision_count);
        let name = revision.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &revision).await {
            Ok(created) => return Ok((created, collision_count)),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let existing = api
                    .get(&name)
                    .await
                    .map_err(Error::api("get", format!("controllerrevisions {name}")))?;
                if same_data(&existing, &revision) {
                    return Ok((existing, collision_count));
                }
                collision_count += 1;
            }
            Err(error) => {
                return Err(Error::api("create", format!("controllerrevisions {name}"))(
                    error,
                ));
            }
        }
    }
    Err(Error::Invalid {
        what: format!("controllerrevisions of {}", owner.name),
        reason: "no free revision name after 100 hash collisions".to_owned(),
    })
}

/// Revisions to delete so that at most `limit` revisions no pod, current or update
/// revision uses are kept: the oldest go first.
pub(crate) fn surplus<'a>(
    revisions: &[&'a ControllerRevision],
    live: &[&str],
    limit: i32,
) -> Vec<&'a ControllerRevision> {
    let mut history: Vec<&ControllerRevision> = revisions
        .iter()
        .copied()
        .filter(|r| !live.contains(&r.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    let keep = usize::try_from(limit.max(0)).unwrap_or(0);
    if history.len() <= keep {
        return Vec::new();
    }
    history.sort_by_key(|r| r.revision);
    let extra = history.len() - keep;
    history.truncate(extra);
    history
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".to_owned(),
            kind: "StatefulSet".to_owned(),
            name: "web".to_owned(),
            uid: "u1".to_owned(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".to_owned(),
                    image: Some(image.to_owned()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
        }
    }

    #[test]
    fn hashes_use_safe_characters_and_change_with_collisions() {
        let data = template_patch(&template("nginx"));
        let first = hash(&data, 0);
        assert!(first.bytes().all(|b| ALPHANUMS.contains(&b)));
        assert_eq!(first, hash(&data, 0));
        assert_ne!(first, hash(&data, 1));
        assert_ne!(first, hash(&template_patch(&template("httpd")), 0));
    }

    #[test]
    fn a_revision_restores_its_template_and_is_labelled() {
        let revision = new_revision(&owner(), "default", &template("nginx"), 1, 0);
        assert_eq!(revision_template(&revision), Some(template("nginx")));
        let name = revision.metadata.name.clone().unwrap_or_default();
        let hash = revision.metadata.labels.as_ref().unwrap()[REVISION_LABEL].clone();
        assert_eq!(name, format!("web-{hash}"));
        assert_eq!(revision.metadata.labels.as_ref().unwrap()["app"], "web");
    }

    #[test]
    fn placing_finds_the_newest_renumbers_an_old_one_or_creates() {
        let mut a = new_revision(&owner(), "default", &template("a"), 1, 0);
        let b = new_revision(&owner(), "default", &template("b"), 2, 0);
        let a_name = a.metadata.name.clone().unwrap();
        let b_name = b.metadata.name.clone().unwrap();
        let wanted_b = new_revision(&owner(), "default", &template("b"), 3, 0);
        assert_eq!(place(&[&a, &b], &wanted_b), Placement::Newest(b_name));
        let wanted_a = new_revision(&owner(), "default", &template("a"), 3, 0);
        assert_eq!(place(&[&a, &b], &wanted_a), Placement::Renumber(a_name));
        let wanted_c = new_revision(&owner(), "default", &template("c"), 3, 0);
        assert_eq!(place(&[&a, &b], &wanted_c), Placement::Create);
        a.revision = 5;
        assert_eq!(next_number(&[&a, &b]), 6);
    }

    #[test]
    fn surplus_keeps_live_revisions_and_the_newest_history() {
        let revisions: Vec<ControllerRevision> = (1..=5)
            .map(|n| new_revision(&owner(), "default", &template(&format!("i{n}")), n, 0))
            .collect();
        let refs: Vec<&ControllerRevision> = revisions.iter().collect();
        let live = [revisions[4].metadata.name.as_deref().unwrap()];
        let gone: Vec<i64> = surplus(&refs, &live, 2)
            .iter()
            .map(|r| r.revision)
            .collect();
        assert_eq!(gone, vec![1, 2]);
        assert!(surplus(&refs, &live, 10).is_empty());
    }
}
