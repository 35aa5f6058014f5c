//! `kubectl rollout history` and `kubectl rollout undo [--to-revision]`, as kubectl's
//! `polymorphichelpers` do them. A Deployment's revisions are the ReplicaSets it controls
//! (annotation `deployment.kubernetes.io/revision`); undo copies the chosen one's pod
//! template, minus its `pod-template-hash` label, into the Deployment with a JSON patch that
//! also carries the ReplicaSet's annotations (so its change-cause comes back). A StatefulSet's
//! or DaemonSet's revisions are the ControllerRevisions it controls; undo applies the chosen
//! one's `.data`, a strategic merge patch that restores the template.

use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubarium_controllers::objects::Objects;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Client, Resource};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::not_for;
use crate::ipc::actions::{Revision, UndoOutcome};
use crate::{Error, Result};

/// A ReplicaSet's revision.
const REVISION: &str = "deployment.kubernetes.io/revision";
/// Why a revision was made, as `kubectl annotate … kubernetes.io/change-cause=…` says.
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// The label that ties a ReplicaSet's pods to its template.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Annotations a rollback leaves as the Deployment has them (kubectl's `annotationsToSkip`).
const ANNOTATIONS_TO_SKIP: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// The revisions of a Deployment, StatefulSet or DaemonSet, oldest first.
pub async fn rollout_history(
    client: Client,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Result<Vec<Revision>> {
    match resource {
        "deployments" => {
            let deployment = Objects::<Deployment>::namespaced(client.clone(), namespace)
                .get(name)
                .await?;
            let current =
                annotation(&deployment.metadata, REVISION).and_then(|r| r.parse::<i64>().ok());
            let owned = controlled::<ReplicaSet>(&client, namespace, &deployment.metadata).await?;
            let newest = owned.iter().filter_map(rs_revision).max();
            let mut revisions: Vec<Revision> = owned
                .iter()
                .filter_map(|rs| {
                    let revision = rs_revision(rs)?;
                    let template = rs.spec.as_ref().and_then(|s| s.template.as_ref());
                    Some(Revision {
                        revision,
                        change_cause: annotation(&rs.metadata, CHANGE_CAUSE).map(str::to_owned),
                        images: template.map(images).unwrap_or_default(),
                        created_at: created_at(&rs.metadata),
                        current: Some(revision) == current.or(newest),
                    })
                })
                .collect();
            revisions.sort_by_key(|r| r.revision);
            Ok(revisions)
        }
        "statefulsets" => {
            let sts = Objects::<StatefulSet>::namespaced(client.clone(), namespace)
                .get(name)
                .await?;
            let update = sts.status.as_ref().and_then(|s| s.update_revision.clone());
            let owned = controlled::<ControllerRevision>(&client, namespace, &sts.metadata).await?;
            Ok(history_of(&owned, update.as_deref()))
        }
        "daemonsets" => {
            let ds = Objects::<DaemonSet>::namespaced(client.clone(), namespace)
                .get(name)
                .await?;
            let owned = controlled::<ControllerRevision>(&client, namespace, &ds.metadata).await?;
            Ok(history_of(&owned, None))
        }
        other => Err(not_for(
            other,
            "rolled back",
            "Deployments, StatefulSets and DaemonSets",
        )),
    }
}

/// Rolls a workload back to `revision`, or to the one before the current when `None`, as
/// `kubectl rollout undo [--to-revision=N]`.
pub async fn rollout_undo(
    client: Client,
    resource: &str,
    namespace: &str,
    name: &str,
    revision: Option<i64>,
) -> Result<UndoOutcome> {
    match resource {
        "deployments" => undo_deployment(client, namespace, name, revision).await,
        "statefulsets" => {
            undo_through_revisions::<StatefulSet>(&client, namespace, name, revision, |sts| {
                sts.spec.as_ref().map(|s| &s.template)
            })
            .await
        }
        "daemonsets" => {
            undo_through_revisions::<DaemonSet>(&client, namespace, name, revision, |ds| {
                ds.spec.as_ref().map(|s| &s.template)
            })
            .await
        }
        other => Err(not_for(
            other,
            "rolled back",
            "Deployments, StatefulSets and DaemonSets",
        )),
    }
}

async fn undo_deployment(
    client: Client,
    namespace: &str,
    name: &str,
    to: Option<i64>,
) -> Result<UndoOutcome> {
    let api = Objects::<Deployment>::namespaced(client.clone(), namespace);
    let deployment = api.get(name).await?;
    let spec = deployment.spec.as_ref();
    if spec.and_then(|s| s.paused) == Some(true) {
        return Err(Error::Local(format!(
            "Deployment {name} is paused, so it cannot be rolled back; resume it first (kubectl rollout resume deployment/{name})."
        )));
    }
    let owned = controlled::<ReplicaSet>(&client, namespace, &deployment.metadata).await?;
    let mut numbered: Vec<(i64, &ReplicaSet)> = owned
        .iter()
        .filter_map(|rs| Some((rs_revision(rs)?, rs)))
        .collect();
    numbered.sort_by_key(|(revision, _)| *revision);
    let chosen = match to {
        Some(wanted) => numbered
            .iter()
            .find(|(revision, _)| *revision == wanted)
            .ok_or_else(|| {
                unknown_revision(wanted, numbered.iter().map(|(r, _)| *r), "Deployment", name)
            })?,
        // kubectl: the second-newest revision.
        None => numbered
            .iter()
            .rev()
            .nth(1)
            .ok_or_else(|| no_previous("Deployment", name, numbered.last().map(|(r, _)| *r)))?,
    };
    let (revision, rs) = *chosen;
    let mut template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    if spec.map(|s| &s.template) == Some(&template) {
        return Ok(UndoOutcome {
            revision,
            skipped: true,
        });
    }
    // The Deployment keeps its own values of the skipped annotations; every other annotation
    // comes from the revision's ReplicaSet, and the Deployment's others go (kubectl replaces
    // the whole map).
    let own = deployment.metadata.annotations.clone().unwrap_or_default();
    let mut annotations: BTreeMap<String, Value> = own
        .keys()
        .filter(|key| !ANNOTATIONS_TO_SKIP.contains(&key.as_str()))
        .map(|key| (key.clone(), Value::Null))
        .collect();
    for (key, value) in rs.metadata.annotations.iter().flatten() {
        if !ANNOTATIONS_TO_SKIP.contains(&key.as_str()) {
            annotations.insert(key.clone(), Value::from(value.clone()));
        }
    }
    // kubectl sends a JSON patch replacing both; a strategic merge patch with `$patch:
    // replace` on the template, and nulls for the annotations that go, does the same.
    let mut template = serde_json::to_value(&template).unwrap_or_else(|_| json!({}));
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".to_owned(), Value::from("replace"));
    }
    let patch = json!({
        "metadata": {"annotations": annotations},
        "spec": {"template": template},
    });
    api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await?;
    Ok(UndoOutcome {
        revision,
        skipped: false,
    })
}

/// The objects of kind `K` (ReplicaSets, ControllerRevisions) in `namespace` that the
/// object with `owner`'s metadata controls.
pub(super) async fn controlled<K>(
    client: &Client,
    namespace: &str,
    owner: &ObjectMeta,
) -> Result<Vec<K>>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let all = Objects::<K>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await?;
    Ok(all
        .items
        .into_iter()
        .filter(|o| controlled_by(o.meta(), owner))
        .collect())
}

fn controlled_by(meta: &ObjectMeta, owner: &ObjectMeta) -> bool {
    let Some(uid) = owner.uid.as_deref() else {
        return false;
    };
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.controller == Some(true))
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn created_at(meta: &ObjectMeta) -> Option<String> {
    meta.creation_timestamp.as_ref().map(|t| t.0.to_string())
}

fn rs_revision(rs: &ReplicaSet) -> Option<i64> {
    annotation(&rs.metadata, REVISION)?.parse().ok()
}

/// Container images of a template, init containers first.
fn images(template: &PodTemplateSpec) -> Vec<String> {
    let Some(spec) = &template.spec else {
        return Vec::new();
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .filter_map(|c| c.image.clone())
        .collect()
}

/// The template a ControllerRevision's data restores (`spec.template`, minus `$patch`).
fn revision_template(revision: &ControllerRevision) -> Option<Value> {
    let mut template = revision
        .data
        .as_ref()?
        .0
        .get("spec")?
        .get("template")?
        .clone();
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    Some(template)
}

/// History rows of ControllerRevisions; `current` is the one named `update` (a
/// StatefulSet's `status.updateRevision`), else the newest.
fn history_of(owned: &[ControllerRevision], update: Option<&str>) -> Vec<Revision> {
    let newest = owned.iter().map(|cr| cr.revision).max();
    let mut revisions: Vec<Revision> = owned
        .iter()
        .map(|cr| {
            let images = revision_template(cr)
                .and_then(|t| PodTemplateSpec::deserialize(&t).ok())
                .map(|t| images(&t))
                .unwrap_or_default();
            let current = match update {
                Some(update) => cr.metadata.name.as_deref() == Some(update),
                None => Some(cr.revision) == newest,
            };
            Revision {
                revision: cr.revision,
                change_cause: annotation(&cr.metadata, CHANGE_CAUSE).map(str::to_owned),
                images,
                created_at: created_at(&cr.metadata),
                current,
            }
        })
        .collect();
    revisions.sort_by_key(|r| r.revision);
    revisions
}

/// kubectl's `findHistory`: revision `to`, or the second-newest.
fn pick_controller_revision<'a>(
    owned: &'a [ControllerRevision],
    to: Option<i64>,
    kind: &str,
    name: &str,
) -> Result<&'a ControllerRevision> {
    let mut sorted: Vec<&ControllerRevision> = owned.iter().collect();
    sorted.sort_by_key(|cr| cr.revision);
    match to {
        Some(wanted) => sorted
            .iter()
            .find(|cr| cr.revision == wanted)
            .copied()
            .ok_or_else(|| {
                unknown_revision(wanted, sorted.iter().map(|cr| cr.revision), kind, name)
            }),
        None => sorted
            .iter()
            .rev()
            .nth(1)
            .copied()
            .ok_or_else(|| no_previous(kind, name, sorted.last().map(|cr| cr.revision))),
    }
}

/// A StatefulSet's or DaemonSet's undo: the chosen ControllerRevision's `.data` applied as
/// a strategic merge patch, skipped when it already is the object's template.
async fn undo_through_revisions<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    revision: Option<i64>,
    template: impl Fn(&K) -> Option<&PodTemplateSpec>,
) -> Result<UndoOutcome>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api = Objects::<K>::namespaced(client.clone(), namespace);
    let object = api.get(name).await?;
    let owned = controlled::<ControllerRevision>(client, namespace, object.meta()).await?;
    let chosen = pick_controller_revision(&owned, revision, &K::kind(&()), name)?;
    let outcome = undo_outcome(chosen, template(&object));
    if !outcome.skipped {
        api.patch(name, &PatchParams::default(), &strategic(chosen))
            .await?;
    }
    Ok(outcome)
}

/// Whether applying `chosen` changes nothing (kubectl's "skipped rollback").
fn undo_outcome(chosen: &ControllerRevision, template: Option<&PodTemplateSpec>) -> UndoOutcome {
    let current = template.and_then(|t| serde_json::to_value(t).ok());
    UndoOutcome {
        revision: chosen.revision,
        skipped: current.is_some() && current == revision_template(chosen),
    }
}

fn strategic(revision: &ControllerRevision) -> Patch<Value> {
    Patch::Strategic(
        revision
            .data
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or(Value::Null),
    )
}

fn unknown_revision(
    wanted: i64,
    existing: impl Iterator<Item = i64>,
    kind: &str,
    name: &str,
) -> Error {
    let existing: Vec<String> = existing.map(|r| r.to_string()).collect();
    if existing.is_empty() {
        Error::NotFound(format!(
            "{kind} {name} has no rollout history, so there is no revision {wanted} to roll back to."
        ))
    } else {
        Error::NotFound(format!(
            "{kind} {name} has no revision {wanted}; its revisions are {}. Pick one of those.",
            existing.join(", ")
        ))
    }
}

fn no_previous(kind: &str, name: &str, only: Option<i64>) -> Error {
    match only {
        Some(only) => Error::NotFound(format!(
            "{kind} {name} has only revision {only}, so there is nothing earlier to roll back to."
        )),
        None => Error::NotFound(format!(
            "{kind} {name} has no rollout history yet, so there is nothing to roll back to."
        )),
    }
}

#[cfg(test)]
mod tests {
    use kube::Api;

    use super::super::testing::{Hollow, eventually};
    use super::*;
    use crate::ipc::{AppError, ErrorCode};

    /// Sets the first container's image and a change-cause, as `kubectl set image` +
    /// `kubectl annotate` would.
    async fn set_image(api: &Api<Deployment>, name: &str, image: &str, cause: &str) {
        let patch = json!({
            "metadata": {"annotations": {CHANGE_CAUSE: cause}},
            "spec": {"template": {"spec": {"containers": [{"name": "main", "image": image}]}}}
        });
        api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .unwrap();
    }

    /// The history once it has `len` revisions and the newest is current (the controller
    /// makes the new revision before it records it as the workload's own).
    async fn history_len(client: &Client, resource: &str, name: &str, len: usize) -> Vec<Revision> {
        eventually(
            &format!("{len} revisions of {name}, the newest current"),
            || async {
                let history = rollout_history(client.clone(), resource, "default", name)
                    .await
                    .ok()?;
                (history.len() == len && history.last()?.current).then_some(history)
            },
        )
        .await
    }

    fn first_image<T: serde::Serialize>(object: &T) -> String {
        serde_json::to_value(object).unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn deployment_history_and_undo_match_kubectl() {
        let hollow = Hollow::start().await;
        let client = hollow.client.clone();
        let api = Api::<Deployment>::namespaced(client.clone(), "default");
        hollow.deployment("web", "nginx:1.0", 1).await;
        history_len(&client, "deployments", "web", 1).await;
        set_image(&api, "web", "nginx:2.0", "bump to 2.0").await;
        let history = history_len(&client, "deployments", "web", 2).await;
        assert_eq!(history[0].revision, 1);
        assert_eq!(history[0].images, ["nginx:1.0"]);
        assert!(!history[0].current);
        assert_eq!(history[1].revision, 2);
        assert_eq!(history[1].images, ["nginx:2.0"]);
        assert_eq!(history[1].change_cause.as_deref(), Some("bump to 2.0"));
        assert!(history[1].current);
        assert!(history[1].created_at.is_some());

        // No revision given: the one before, as kubectl.
        let undone = rollout_undo(client.clone(), "deployments", "default", "web", None)
            .await
            .unwrap();
        assert_eq!(
            undone,
            UndoOutcome {
                revision: 1,
                skipped: false
            }
        );
        let deployment = api.get("web").await.unwrap();
        assert_eq!(first_image(&deployment), "nginx:1.0");
        let template_labels = deployment
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .labels
            .unwrap();
        assert!(!template_labels.contains_key(POD_TEMPLATE_HASH));
        // Revision 1 had no change-cause: kubectl's annotation replace drops 2.0's.
        assert!(annotation(&deployment.metadata, CHANGE_CAUSE).is_none());
        // The old ReplicaSet becomes revision 3.
        let history = eventually("revision 3 current", || async {
            let h = rollout_history(client.clone(), "deployments", "default", "web")
                .await
                .ok()?;
            h.iter()
                .any(|r| r.revision == 3 && r.current && r.images == ["nginx:1.0"])
                .then_some(h)
        })
        .await;
        assert_eq!(
            history.iter().map(|r| r.revision).collect::<Vec<_>>(),
            [2, 3]
        );

        // To a named revision, its change-cause coming back with it.
        let undone = rollout_undo(client.clone(), "deployments", "default", "web", Some(2))
            .await
            .unwrap();
        assert_eq!(undone.revision, 2);
        let deployment = api.get("web").await.unwrap();
        assert_eq!(first_image(&deployment), "nginx:2.0");
        assert_eq!(
            annotation(&deployment.metadata, CHANGE_CAUSE),
            Some("bump to 2.0")
        );

        // Already there: skipped.
        eventually("revision 4", || async {
            let h = rollout_history(client.clone(), "deployments", "default", "web")
                .await
                .ok()?;
            h.iter().any(|r| r.revision == 4 && r.current).then_some(())
        })
        .await;
        let again = rollout_undo(client.clone(), "deployments", "default", "web", Some(4))
            .await
            .unwrap();
        assert!(again.skipped);

        // An unknown revision names those that exist.
        let unknown = rollout_undo(client.clone(), "deployments", "default", "web", Some(99))
            .await
            .unwrap_err();
        let error = AppError::from(unknown);
        assert_eq!(error.code, ErrorCode::NotFound);
        assert!(
            error
                .message
                .contains("no revision 99; its revisions are 3, 4"),
            "{}",
            error.message
        );

        let missing = rollout_history(client, "deployments", "default", "nope")
            .await
            .unwrap_err();
        assert_eq!(AppError::from(missing).code, ErrorCode::NotFound);
        hollow.stop().await;
    }

    #[tokio::test]
    async fn statefulset_and_daemonset_undo_through_controller_revisions() {
        let hollow = Hollow::start().await;
        let client = hollow.client.clone();
        let template = |app: &str, image: &str| {
            json!({"metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "main", "image": image}]}})
        };
        let statefulsets = hollow
            .create::<StatefulSet>(json!({
                "metadata": {"name": "db"},
                "spec": {"replicas": 1, "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}}, "template": template("db", "pg:1")}
            }))
            .await;
        let daemonsets = hollow.create::<DaemonSet>(json!({
            "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent", "agent:1")}
        })).await;

        for (resource, name, old, new) in [
            ("statefulsets", "db", "pg:1", "pg:2"),
            ("daemonsets", "agent", "agent:1", "agent:2"),
        ] {
            history_len(&client, resource, name, 1).await;
            let only = rollout_undo(client.clone(), resource, "default", name, None)
                .await
                .unwrap_err();
            assert!(only.to_string().contains("only revision 1"), "{only}");
            let patch = Patch::Strategic(json!({"spec": {"template": {"spec":
                {"containers": [{"name": "main", "image": new}]}}}}));
            match resource {
                "statefulsets" => drop(
                    statefulsets
                        .patch(name, &PatchParams::default(), &patch)
                        .await
                        .unwrap(),
                ),
                _ => drop(
                    daemonsets
                        .patch(name, &PatchParams::default(), &patch)
                        .await
                        .unwrap(),
                ),
            }
            let history = history_len(&client, resource, name, 2).await;
            assert_eq!(history[0].images, [old]);
            assert_eq!(history[1].images, [new]);
            let undone = rollout_undo(client.clone(), resource, "default", name, None)
                .await
                .unwrap();
            assert_eq!(
                undone,
                UndoOutcome {
                    revision: 1,
                    skipped: false
                }
            );
            let image = match resource {
                "statefulsets" => first_image(&statefulsets.get(name).await.unwrap()),
                _ => first_image(&daemonsets.get(name).await.unwrap()),
            };
            assert_eq!(image, old, "{resource} rolled back");
            let unknown = rollout_undo(client.clone(), resource, "default", name, Some(7))
                .await
                .unwrap_err();
            assert!(unknown.to_string().contains("no revision 7"), "{unknown}");
        }
        hollow.stop().await;
    }
}
