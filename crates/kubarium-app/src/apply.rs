//! `apply_objects`: server-side apply of the documents the YAML editor and the Create page
//! send, one outcome per document.
//!
//! Each document's resource is found from its `apiVersion` + `kind` through the cluster's own
//! discovery (`kube::discovery::pinned_kind`), not a built-in list: CustomResources and remote
//! clusters' kinds apply as well as the core ones, and a kind the cluster lacks is reported by
//! name. Applies use field manager `kubarium` with `force` (the user's edit wins, as `kubectl
//! apply --server-side --force-conflicts`) and `fieldValidation=Strict`, so an unknown field is
//! an error shown at its field rather than silently dropped. A `metadata.resourceVersion` in a
//! document is a precondition: the object must not have changed since it was read.

use std::collections::HashMap;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

use crate::ipc::apply::{ApplyOutcome, ApplyResult, Document};
use crate::ipc::{AppError, ErrorCode, FieldCause};
use crate::{Error, Result};

/// The field manager Kubarium's applies are recorded under.
pub const FIELD_MANAGER: &str = "kubarium";

/// Applies each document in order (`dry_run`: the server validates and defaults but stores
/// nothing); a failing document does not stop the ones after it.
pub async fn apply_objects(
    client: kube::Client,
    objects: Vec<Document>,
    dry_run: bool,
) -> Result<Vec<ApplyOutcome>> {
    let mut kinds: HashMap<(String, String), (ApiResource, ApiCapabilities)> = HashMap::new();
    let mut outcomes = Vec::with_capacity(objects.len());
    for object in objects {
        let kind = text(&object, &["kind"]);
        let name = text(&object, &["metadata", "name"]);
        let mut outcome = ApplyOutcome {
            kind: kind.clone(),
            name: name.clone(),
            namespace: None,
            result: None,
            error: None,
        };
        match apply_one(&client, &mut kinds, object, dry_run, &mut outcome).await {
            Ok(result) => outcome.result = Some(result),
            Err(error) => outcome.error = Some(app_error(error)),
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Applies one document; fills in `outcome.namespace` once it is known.
async fn apply_one(
    client: &kube::Client,
    kinds: &mut HashMap<(String, String), (ApiResource, ApiCapabilities)>,
    mut object: Value,
    dry_run: bool,
    outcome: &mut ApplyOutcome,
) -> Result<ApplyResult> {
    if !object.is_object() {
        return Err(Error::Local(
            "This document is not an object; give each document apiVersion, kind and metadata."
                .to_owned(),
        ));
    }
    let api_version = text(&object, &["apiVersion"]);
    let kind = outcome.kind.clone();
    if api_version.is_empty() || kind.is_empty() {
        return Err(Error::Local(
            "This document has no apiVersion or kind; add both (e.g. apiVersion: v1, kind: ConfigMap)."
                .to_owned(),
        ));
    }
    let name = outcome.name.clone();
    if name.is_empty() {
        return Err(Error::Local(format!(
            "This {kind} has no metadata.name; give it one (apply cannot generate names)."
        )));
    }
    let key = (api_version.clone(), kind.clone());
    let (resource, capabilities) = match kinds.get(&key) {
        Some(found) => found.clone(),
        None => {
            let found = find_kind(client, &api_version, &kind).await?;
            kinds.insert(key, found.clone());
            found
        }
    };
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => {
            let namespace = match text(&object, &["metadata", "namespace"]) {
                namespace if namespace.is_empty() => "default".to_owned(),
                namespace => namespace,
            };
            set_namespace(&mut object, Some(&namespace));
            outcome.namespace = Some(namespace.clone());
            Api::namespaced_with(client.clone(), &namespace, &resource)
        }
        Scope::Cluster => {
            set_namespace(&mut object, None);
            Api::all_with(client.clone(), &resource)
        }
    };
    let live = api.get_opt(&name).await?;
    let expected = text(&object, &["metadata", "resourceVersion"]);
    if !expected.is_empty() {
        let current = live
            .as_ref()
            .and_then(|live| live.metadata.resource_version.clone());
        if current.as_deref() != Some(expected.as_str()) {
            return Err(Error::Changed {
                kind,
                name,
                deleted: current.is_none(),
            });
        }
    }
    let mut params = PatchParams::apply(FIELD_MANAGER)
        .force()
        .validation_strict();
    if dry_run {
        params = params.dry_run();
    }
    let applied = api.patch(&name, &params, &Patch::Apply(&object)).await?;
    let Some(live) = live else {
        return Ok(ApplyResult::Created);
    };
    let before = comparable(serde_json::to_value(&live).unwrap_or(Value::Null));
    let after = comparable(serde_json::to_value(&applied).unwrap_or(Value::Null));
    Ok(if before == after {
        ApplyResult::Unchanged
    } else {
        ApplyResult::Configured
    })
}

/// The resource serving `kind` in `api_version`, asked of the cluster.
async fn find_kind(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
) -> Result<(ApiResource, ApiCapabilities)> {
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    match kube::discovery::pinned_kind(client, &gvk).await {
        Ok(found) => Ok(found),
        // A missing group-version answers 404; a version without the kind, a discovery error.
        Err(kube::Error::Api(status)) if status.code == 404 => Err(unknown_kind(api_version, kind)),
        Err(kube::Error::Discovery(_)) => Err(unknown_kind(api_version, kind)),
        Err(other) => Err(other.into()),
    }
}

fn unknown_kind(api_version: &str, kind: &str) -> Error {
    Error::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    }
}

/// An object without what every write changes (resourceVersion, managedFields) and without
/// its status, which an apply never sets but controllers change at any moment: what is left
/// tells whether the apply changed anything.
fn comparable(mut object: Value) -> Value {
    if let Some(fields) = object.as_object_mut() {
        fields.remove("status");
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
        metadata.remove("managedFields");
    }
    object
}

fn set_namespace(object: &mut Value, namespace: Option<&str>) {
    let Some(object) = object.as_object_mut() else {
        return;
    };
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    match namespace {
        Some(namespace) => {
            metadata.insert("namespace".to_owned(), Value::from(namespace));
        }
        None => {
            metadata.remove("namespace");
        }
    }
}

/// A string field at `path`, or empty.
fn text(object: &Value, path: &[&str]) -> String {
    path.iter()
        .try_fold(object, |value, key| value.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The error as the UI sees it. A strict decoding error names unknown fields only in its
/// message (`unknown field "spec.foo"`), as upstream does; those become field causes so the
/// editor can show each at its field.
fn app_error(error: Error) -> AppError {
    let mut error = AppError::from(error);
    if error.causes.is_empty() && error.message.contains("unknown field \"") {
        error.causes = unknown_fields(&error.message)
            .into_iter()
            .map(|field| FieldCause {
                message: format!("unknown field \"{field}\": this kind has no such field"),
                field,
            })
            .collect();
        error.code = ErrorCode::Invalid;
    }
    error
}

/// The fields named by `unknown field "…"` in a message.
fn unknown_fields(message: &str) -> Vec<String> {
    message
        .split("unknown field \"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(field, _)| field.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use kubarium_cluster::{ClusterBuilder, RuntimeKind};
    use serde_json::json;

    use super::*;
    use crate::LocalCluster;
    use crate::ipc::ClusterPhase;

    /// A hollow cluster in-process; keep the directory and cluster alive for the test.
    async fn cluster() -> (tempfile::TempDir, Arc<LocalCluster>, kube::Client) {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalCluster::start(
            ClusterBuilder::new(dir.path())
                .listen("127.0.0.1:0".parse().unwrap())
                .runtime(RuntimeKind::Hollow),
        );
        let mut rx = local.subscribe();
        tokio::time::timeout(
            Duration::from_secs(120),
            rx.wait_for(|s| s.phase == ClusterPhase::Connected),
        )
        .await
        .expect("the cluster connects")
        .unwrap();
        let client = local.client().await.unwrap();
        (dir, local, client)
    }

    fn config_map(name: &str, value: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"key": value},
        })
    }

    fn deployment(name: &str, replicas: i64) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "web", "image": "kubarium.dev/demo:1"}]},
                },
            },
        })
    }

    async fn one(client: &kube::Client, object: Value, dry_run: bool) -> ApplyOutcome {
        let mut outcomes = apply_objects(client.clone(), vec![object], dry_run)
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 1);
        outcomes.remove(0)
    }

    #[tokio::test]
    async fn creates_configures_and_leaves_unchanged() {
        let (_dir, local, client) = cluster().await;
        let created = one(&client, config_map("settings", "a"), false).await;
        assert_eq!(created.error, None);
        assert_eq!(created.result, Some(ApplyResult::Created));
        assert_eq!(created.namespace.as_deref(), Some("default"), "defaulted");
        assert_eq!(created.kind, "ConfigMap");
        assert_eq!(created.name, "settings");

        let same = one(&client, config_map("settings", "a"), false).await;
        assert_eq!(same.result, Some(ApplyResult::Unchanged), "{same:?}");

        let changed = one(&client, config_map("settings", "b"), false).await;
        assert_eq!(changed.result, Some(ApplyResult::Configured), "{changed:?}");
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            "default",
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("", "v1", "ConfigMap"),
                "configmaps",
            ),
        );
        let stored = api.get("settings").await.unwrap();
        assert_eq!(stored.data["data"]["key"], "b");
        let managers: Vec<_> = stored
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| entry.manager)
            .collect();
        assert!(managers.contains(&FIELD_MANAGER.to_owned()), "{managers:?}");

        // Cluster-scoped kinds have no namespace.
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
        let created = one(&client, namespace, false).await;
        assert_eq!(created.result, Some(ApplyResult::Created), "{created:?}");
        assert_eq!(created.namespace, None);
        local.shutdown().await;
    }

    #[tokio::test]
    async fn a_dry_run_changes_nothing() {
        let (_dir, local, client) = cluster().await;
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);

        let would_create = one(&client, config_map("draft", "a"), true).await;
        assert_eq!(
            would_create.result,
            Some(ApplyResult::Created),
            "{would_create:?}"
        );
        assert!(
            api.get_opt("draft").await.unwrap().is_none(),
            "nothing stored"
        );

        one(&client, config_map("draft", "a"), false).await;
        let before = api.get("draft").await.unwrap();
        let would_change = one(&client, config_map("draft", "b"), true).await;
        assert_eq!(
            would_change.result,
            Some(ApplyResult::Configured),
            "{would_change:?}"
        );
        let after = api.get("draft").await.unwrap();
        assert_eq!(after.data["data"]["key"], "a");
        assert_eq!(
            after.metadata.resource_version,
            before.metadata.resource_version
        );
        local.shutdown().await;
    }

    #[tokio::test]
    async fn failures_carry_causes_and_do_not_stop_later_documents() {
        let (_dir, local, client) = cluster().await;
        let mut invalid = deployment("web", -1);
        invalid["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
        let mut unknown_field = config_map("strict", "a");
        unknown_field["spec"] = json!({"colour": "blue"});
        let unknown_kind =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
        let unknown_core_kind =
            json!({"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "g"}});
        let outcomes = apply_objects(
            client.clone(),
            vec![
                invalid,
                unknown_kind,
                unknown_core_kind,
                unknown_field,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
                config_map("after-failures", "ok"),
            ],
            false,
        )
        .await
        .unwrap();
        assert_eq!(outcomes.len(), 6);

        let error = outcomes[0]
            .error
            .as_ref()
            .expect("invalid deployment refused");
        assert_eq!(error.code, ErrorCode::Invalid, "{error:?}");
        let fields: Vec<&str> = error.causes.iter().map(|c| c.field.as_str()).collect();
        assert!(fields.contains(&"spec.replicas"), "{fields:?}");
        assert!(
            fields.contains(&"spec.template.spec.containers[0].image"),
            "{fields:?}"
        );

        for (outcome, named) in [(&outcomes[1], "example.com/v1"), (&outcomes[2], "Gadget")] {
            let error = outcome.error.as_ref().expect("unknown kind refused");
            assert_eq!(error.code, ErrorCode::NotFound, "{error:?}");
            assert!(error.message.contains(named), "{}", error.message);
            assert!(error.message.contains(&outcome.kind), "{}", error.message);
        }

        let error = outcomes[3].error.as_ref().expect("unknown field refused");
        assert_eq!(error.code, ErrorCode::Invalid, "{error:?}");
        assert_eq!(error.causes.len(), 1, "{error:?}");
        assert_eq!(error.causes[0].field, "spec", "{error:?}");

        // Nested unknown fields are named by their path, as the editor maps them.
        let mut nested = deployment("nested", 1);
        nested["spec"]["template"]["spec"]["containers"][0]["colour"] = json!("blue");
        let outcome = one(&client, nested, true).await;
        let error = outcome.error.expect("nested unknown field refused");
        let fields: Vec<&str> = error.causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.template.spec.containers[0].colour"],
            "{error:?}"
        );

        let error = outcomes[4].error.as_ref().expect("nameless refused");
        assert!(error.message.contains("metadata.name"), "{}", error.message);

        assert_eq!(outcomes[5].error, None);
        assert_eq!(outcomes[5].result, Some(ApplyResult::Created));
        local.shutdown().await;
    }

    #[tokio::test]
    async fn a_stale_resource_version_is_a_conflict() {
        // A ConfigMap: no controller writes it, so its resourceVersion moves only when this
        // test changes it.
        let (_dir, local, client) = cluster().await;
        one(&client, config_map("settings", "a"), false).await;
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
        let opened = api.get("settings").await.unwrap();
        let mut edit = config_map("settings", "mine");
        edit["metadata"]["resourceVersion"] = json!(opened.metadata.resource_version);

        // Someone else changes it after it was opened.
        one(&client, config_map("settings", "theirs"), false).await;
        let outcome = one(&client, edit.clone(), false).await;
        let error = outcome.error.expect("stale edit refused");
        assert_eq!(error.code, ErrorCode::Conflict);
        assert!(error.message.contains("reload"), "{}", error.message);
        assert_eq!(
            api.get("settings").await.unwrap().data["data"]["key"],
            "theirs"
        );

        // With the current resourceVersion the same edit applies.
        let current = api.get("settings").await.unwrap();
        edit["metadata"]["resourceVersion"] = json!(current.metadata.resource_version);
        let outcome = one(&client, edit, false).await;
        assert_eq!(outcome.result, Some(ApplyResult::Configured), "{outcome:?}");
        assert_eq!(
            api.get("settings").await.unwrap().data["data"]["key"],
            "mine"
        );
        local.shutdown().await;
    }

    #[tokio::test]
    async fn the_whole_object_as_read_applies_back() {
        // What the YAML tab sends: the object as the API returned it (status, uid,
        // creationTimestamp, resourceVersion, defaulted fields), managedFields left out. A
        // Service has a status and no controller rewriting the object itself.
        let (_dir, local, client) = cluster().await;
        let service = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        });
        assert_eq!(one(&client, service, false).await.error, None);
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "Service"),
            "services",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
        let mut read = serde_json::to_value(api.get("web").await.unwrap()).unwrap();
        assert!(read.get("status").is_some(), "{read}");
        read["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let same = one(&client, read.clone(), false).await;
        assert_eq!(same.result, Some(ApplyResult::Unchanged), "{same:?}");

        let current = api.get("web").await.unwrap();
        read["metadata"]["resourceVersion"] = json!(current.metadata.resource_version);
        read["spec"]["ports"][0]["port"] = json!(81);
        let edited = one(&client, read, false).await;
        assert_eq!(edited.result, Some(ApplyResult::Configured), "{edited:?}");
        assert_eq!(
            api.get("web").await.unwrap().data["spec"]["ports"][0]["port"],
            81
        );
        local.shutdown().await;
    }

    #[test]
    fn unknown_fields_are_read_from_the_message() {
        assert_eq!(
            unknown_fields(
                r#"strict decoding error: unknown field "spec.foo", unknown field "spec.template.spec.containers[0].bar""#
            ),
            ["spec.foo", "spec.template.spec.containers[0].bar"]
        );
        assert!(unknown_fields("something else").is_empty());
    }
}
