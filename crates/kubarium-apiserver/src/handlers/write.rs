//! Create, update and delete: the write pipeline every kind goes through, as kube-apiserver's
//! generic registry does it — decode, system metadata, defaults, validation, then a
//! compare-and-swap write whose revision becomes the object's `resourceVersion`.

use axum::response::Response;
use http::StatusCode;
use kubarium_store::{Content, Object, Revision};
use serde_json::{Value, json};

use super::{Call, json, parse_object, store_error};
use crate::StatusError;
use crate::object::{self, set_meta};
use crate::registry::{self, Rejection, Stage};
use crate::request::FieldValidation;

/// The stored object `name`, or 404.
pub(crate) fn load(call: &Call, name: &str) -> Result<Object, StatusError> {
    let key = call
        .target
        .resource
        .key(call.target.namespace.as_deref(), name);
    call.server
        .store()
        .get(&key)
        .map_err(|e| store_error(call, name, e))?
        .ok_or_else(|| StatusError::not_found(call.target.resource, name))
}

/// Decodes a create or update body: checks its apiVersion and kind, drops (or refuses, with
/// `fieldValidation=Strict`) unknown fields, and reconciles its namespace with the URL's.
pub(crate) fn decode(call: &mut Call, body: &[u8]) -> Result<Value, StatusError> {
    let mut value = parse_object(&call.headers, body)?;
    check_type(call, &value)?;
    value["apiVersion"] = Value::from(call.target.resource.api_version());
    value["kind"] = Value::from(call.target.resource.kind);
    decode_value(call, &value)
}

/// Checks that an object's apiVersion and kind, where given, are the resource's.
pub(crate) fn check_type(call: &Call, value: &Value) -> Result<(), StatusError> {
    let resource = call.target.resource;
    let expected = resource.api_version();
    if let Some(api_version) = value["apiVersion"].as_str().filter(|v| !v.is_empty())
        && api_version != expected
    {
        return Err(StatusError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected})"
        )));
    }
    if let Some(kind) = value["kind"].as_str().filter(|k| !k.is_empty())
        && kind != resource.kind
    {
        return Err(StatusError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            resource.kind
        )));
    }
    Ok(())
}

/// Typed decode of a JSON object with unknown-field handling and namespace checks.
pub(crate) fn decode_value(call: &mut Call, value: &Value) -> Result<Value, StatusError> {
    // An unknown mode is an error whether or not there are unknown fields.
    let mode = call.params.field_validation()?;
    let (mut object, unknown) = call
        .target
        .resource
        .rules
        .decode(value)
        .map_err(|r| rejection(call, "", r))?;
    if !unknown.is_empty() {
        match mode {
            FieldValidation::Strict => {
                let listed: Vec<String> = unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect();
                return Err(StatusError::bad_request(format!(
                    "strict decoding error: {}",
                    listed.join(", ")
                )));
            }
            FieldValidation::Warn => call
                .warnings
                .extend(unknown.iter().map(|f| format!("unknown field \"{f}\""))),
            FieldValidation::Ignore => {}
        }
    }
    let resource = call.target.resource;
    if resource.namespaced {
        let url_namespace = call.target.namespace.clone().unwrap_or_default();
        let body_namespace = object::namespace(&object).to_owned();
        if !body_namespace.is_empty() && body_namespace != url_namespace {
            return Err(StatusError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        set_meta(&mut object, "namespace", Some(Value::from(url_namespace)));
    } else {
        set_meta(&mut object, "namespace", None);
    }
    Ok(object)
}

/// Turns a rule's refusal into the `Status` upstream returns.
pub(crate) fn rejection(call: &Call, name: &str, rejection: Rejection) -> StatusError {
    match rejection {
        Rejection::BadRequest(message) => StatusError::bad_request(message),
        Rejection::Invalid(causes) => StatusError::invalid(call.target.resource, name, causes),
    }
}

/// Serialises `object` once its write's revision is known, stamping it as its
/// `resourceVersion`.
pub(crate) fn render(mut object: Value) -> Content {
    set_meta(
        &mut object,
        "resourceVersion",
        Some(Value::from(revision_marker())),
    );
    stamped(serde_json::to_vec(&object).unwrap_or_default())
}

/// What an object's `resourceVersion` is set to before it is serialised, for [`stamped`] to
/// find. Encoded on the request's task, with this marker where the revision goes, a value
/// leaves the store's writer thread only the digits to copy in. The marker is random per
/// process, so no value a client sends can contain it.
pub(crate) fn revision_marker() -> &'static str {
    static MARKER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| format!("kubarium-revision-{}", crate::object::new_uid()))
}

/// A serialised object whose `resourceVersion` is [`revision_marker`], with the marker taken
/// out and its place kept for the revision.
pub(crate) fn stamped(mut bytes: Vec<u8>) -> Content {
    let marker = revision_marker();
    let quoted = format!("\"{marker}\"");
    match memchr::memmem::find(&bytes, quoted.as_bytes()) {
        Some(at) => {
            // Keep the quotes, drop the marker between them.
            bytes.drain(at + 1..at + 1 + marker.len());
            Content::WithRevision { bytes, at: at + 1 }
        }
        None => Content::Bytes(bytes),
    }
}

/// Refuses new objects in a namespace that does not exist or is being deleted.
pub(crate) fn check_namespace(call: &Call, name: &str) -> Result<(), StatusError> {
    let (Some(namespace), true) = (
        call.target.namespace.as_deref(),
        call.target.resource.namespaced,
    ) else {
        return Ok(());
    };
    let namespaces = registry::served("", "v1", "namespaces")?;
    match call
        .server
        .store()
        .get(&namespaces.key(None, namespace))
        .map_err(|e| store_error(call, namespace, e))?
    {
        None => Err(StatusError::not_found(namespaces, namespace)),
        Some(ns) if terminating(&ns)? => Err(StatusError::forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            call.target.resource.qualified(),
        ))),
        Some(_) => Ok(()),
    }
}

/// Whether a stored namespace is being deleted, read without decoding the rest of it (every
/// create in a namespace asks).
fn terminating(namespace: &Object) -> Result<bool, StatusError> {
    #[derive(serde::Deserialize)]
    struct Namespace {
        metadata: Metadata,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata {
        deletion_timestamp: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Namespace>(&namespace.value)
        .map(|ns| ns.metadata.deletion_timestamp.is_some())
        .map_err(|e| {
            StatusError::internal(format!("stored object {} is not JSON: {e}", namespace.key))
        })
}

pub(crate) async fn create(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    if call.target.resource.namespaced && call.target.namespace.is_none() {
        return Err(StatusError::method_not_allowed(&http::Method::POST));
    }
    let object = decode(call, body)?;
    let (stored, code) = create_object(call, object).await?;
    Ok(json(code, stored))
}

/// Creates `object` (decoded already): generated name, system metadata, defaults,
/// validation, store. Returns the stored bytes.
pub(crate) async fn create_object(
    call: &mut Call,
    mut object: Value,
) -> Result<(Vec<u8>, StatusCode), StatusError> {
    let resource = call.target.resource;
    if object::name(&object).is_empty() {
        let generate = object::meta_str(&object, "generateName").to_owned();
        if !generate.is_empty() {
            set_meta(
                &mut object,
                "name",
                Some(Value::from(format!("{generate}{}", object::name_suffix()))),
            );
        }
    }
    let name = object::name(&object).to_owned();
    check_namespace(call, &name)?;
    let rules = resource.rules;
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        set_meta(&mut object, field, None);
    }
    set_meta(&mut object, "uid", Some(Value::from(object::new_uid())));
    set_meta(
        &mut object,
        "creationTimestamp",
        Some(Value::from(object::now())),
    );
    if rules.tracks_generation() {
        set_meta(&mut object, "generation", Some(Value::from(1)));
    } else {
        set_meta(&mut object, "generation", None);
    }
    if resource.has_status() && resource.kind != "Node" {
        // A new object's status is the server's to set (nodes report theirs on registration).
        if let Some(map) = object.as_object_mut() {
            map.remove("status");
        }
    }
    let mut object = rules
        .admit(object, Stage::Create)
        .map_err(|r| rejection(call, &name, r))?;
    if !call.applying {
        // Upstream credits a create's fields as decoded and defaulted: before mutating
        // admission (a pod's token volume and tolerations, a claim's default class), and
        // before its strategy resets status (so with a status subresource the creator never
        // owns status) and its storage allocates (a Service's cluster IP).
        let status = resource
            .has_status()
            .then(|| object.as_object_mut().and_then(|m| m.remove("status")))
            .flatten();
        crate::managed::record_update(
            &mut object,
            None,
            &call.manager(),
            &resource.api_version(),
            None,
            resource.kind,
        );
        if let (Some(status), Some(map)) = (status, object.as_object_mut()) {
            map.insert("status".to_owned(), status);
        }
    }
    if resource.kind == "PersistentVolumeClaim" && resource.group.is_empty() {
        crate::kinds::default_storage_class(call, &mut object)?;
    }
    if resource.kind == "Pod" && resource.group.is_empty() {
        crate::kinds::default_service_account(&mut object);
        if call.server.service_account_admission() {
            crate::kinds::admit_service_account(call, &name, &mut object).await?;
        }
        crate::kinds::admit_pod_priority(call, &name, &mut object)?;
        crate::kinds::admit_default_tolerations(
            &mut object,
            call.server.default_toleration_seconds(),
        );
    }
    if resource.kind == "PriorityClass" {
        crate::kinds::admit_priority_class(call, &name, &object)?;
    }
    // Services get their cluster IP and node ports here, under a lock held until stored.
    let _allocation = if resource.kind == "Service" && resource.group.is_empty() {
        Some(crate::kinds::allocate_service(call, &mut object, None).await?)
    } else {
        None
    };
    if call.params.dry_run()? {
        return Ok((
            serde_json::to_vec(&object).unwrap_or_default(),
            StatusCode::CREATED,
        ));
    }
    let key = resource.key(call.target.namespace.as_deref(), &name);
    let stored = call
        .server
        .store()
        .create(&key, render(object))
        .await
        .map_err(|e| store_error(call, &name, e))?;
    Ok((stored.value.to_vec(), StatusCode::CREATED))
}

pub(crate) async fn update(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let object = decode(call, body)?;
    let body_name = object::name(&object);
    if !body_name.is_empty() && body_name != name {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let current = load(call, &name)?;
    let expected = expected_revision(&object, &current)?;
    let old = super::read::parse(&current)?;
    // The main resource does not change status; the status subresource does.
    let object = if call.target.resource.has_status() {
        object::with_status_of(object, &old)
    } else {
        object
    };
    let stored = replace(call, &name, &old, object, expected).await?;
    Ok(json(StatusCode::OK, stored))
}

/// The revision an update must find stored: the body's `metadata.resourceVersion` when it
/// sets one (a precondition), else the current one.
pub(crate) fn expected_revision(object: &Value, current: &Object) -> Result<Revision, StatusError> {
    match object::meta_str(object, "resourceVersion") {
        "" => Ok(current.mod_revision),
        rv => rv
            .parse()
            .map_err(|_| StatusError::bad_request(format!("invalid resourceVersion {rv:?}"))),
    }
}

/// The shared tail of every update (PUT, PATCH, status, scale): keeps what clients may not
/// change, bumps the generation on spec changes, defaults and validates, finishes deletion
/// when the last finalizer goes, skips no-op writes, and writes if `old` is still at
/// `expected`.
pub(crate) async fn replace(
    call: &mut Call,
    name: &str,
    old: &Value,
    mut object: Value,
    expected: Revision,
) -> Result<Vec<u8>, StatusError> {
    let resource = call.target.resource;
    let old_uid = object::meta_str(old, "uid");
    let new_uid = object::meta_str(&object, "uid");
    if !new_uid.is_empty() && new_uid != old_uid {
        return Err(StatusError::conflict(
            resource,
            name,
            &format!(
                "Precondition failed: UID in precondition: {new_uid}, UID in object meta: {old_uid}"
            ),
        ));
    }
    set_meta(&mut object, "name", Some(Value::from(name)));
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        set_meta(&mut object, field, old["metadata"].get(field).cloned());
    }
    // A status write keeps the stored spec (and all else but the status): see
    // `Stage::Status`.
    let status_write = call.target.subresource.as_deref() == Some("status");
    if resource.rules.tracks_generation() && !status_write && object.get("spec") != old.get("spec")
    {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        set_meta(&mut object, "generation", Some(Value::from(generation)));
    }
    set_meta(&mut object, "resourceVersion", None);
    let core = resource.group.is_empty();
    if resource.kind == "Pod" && core && !status_write {
        crate::kinds::keep_pod_priority(&mut object, old);
    }
    if resource.kind == "Service" && core && !status_write {
        crate::kinds::drop_service_type_fields(&mut object, old);
        crate::kinds::keep_service_allocation(&mut object, old);
    }
    let mut object = resource
        .rules
        .admit(
            object,
            if status_write {
                Stage::Status
            } else {
                Stage::Update(old)
            },
        )
        .map_err(|r| rejection(call, name, r))?;
    if !call.applying {
        let subresource = call.target.subresource.clone();
        crate::managed::record_update(
            &mut object,
            Some(old),
            &call.manager(),
            &resource.api_version(),
            subresource.as_deref(),
            resource.kind,
        );
    }
    if resource.kind == "PriorityClass" {
        crate::kinds::admit_priority_class(call, name, &object)?;
    }
    let key = resource.key(call.target.namespace.as_deref(), name);
    // A type that needs what the service lacks (a cluster IP, node ports) gets it here, as
    // on create, under a lock held until stored.
    let _allocation = if resource.kind == "Service" && core && !status_write {
        Some(crate::kinds::allocate_service(call, &mut object, Some(&key)).await?)
    } else {
        None
    };
    if call.params.dry_run()? {
        return Ok(serde_json::to_vec(&object).unwrap_or_default());
    }
    let store = call.server.store();
    // As upstream's `ShouldDeleteDuringUpdate`: a pod in its grace period stays until its
    // node deletes it (after writing its final status through this very path).
    let graceful = old["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .is_some_and(|grace| grace > 0);
    if object::deleting(&object) && !object::held(resource.kind, &object) && !graceful {
        // The last finalizer is gone: deletion completes now.
        let (deleted, _) = store
            .delete(&key, Some(expected))
            .await
            .map_err(|e| store_error(call, name, e))?;
        return Ok(deleted.value.to_vec());
    }
    // A write that changes nothing is not stored (no new revision, no watch event), as
    // upstream's storage skips it — unless the client's precondition is stale.
    if object::same_content(&object, old)
        && old["metadata"]["resourceVersion"].as_str() == Some(expected.to_string().as_str())
    {
        return Ok(serde_json::to_vec(old).unwrap_or_default());
    }
    let stored = store
        .update(&key, render(object), Some(expected))
        .await
        .map_err(|e| store_error(call, name, e))?;
    Ok(stored.value.to_vec())
}

/// Options of a delete, from the body (`DeleteOptions`) or the query.
#[derive(Debug, Default)]
struct DeleteOptions {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
    dry_run: bool,
}

/// The `DeleteOptions` of a request body (JSON, YAML or protobuf), or `null` for none.
fn delete_body(call: &Call, body: &[u8]) -> Result<Value, StatusError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Value::Null)
    } else {
        super::parse_object(&call.headers, body)
    }
}

fn delete_options(call: &Call, body: &Value) -> Result<DeleteOptions, StatusError> {
    let orphan = body["orphanDependents"].as_bool().or_else(|| {
        call.params
            .orphan_dependents
            .as_deref()
            .map(|v| v == "true")
    });
    let propagation_policy = body["propagationPolicy"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| call.params.propagation_policy.clone())
        .or_else(|| orphan.map(|o| if o { "Orphan" } else { "Background" }.to_owned()));
    if let Some(policy) = propagation_policy.as_deref()
        && !matches!(policy, "Orphan" | "Background" | "Foreground")
    {
        return Err(StatusError::bad_request(format!(
            "propagationPolicy: Unsupported value: {policy:?}: supported values: \"Background\", \"Foreground\", \"Orphan\""
        )));
    }
    let dry_run = match &body["dryRun"] {
        Value::Array(values) => values.iter().any(|v| v == "All"),
        _ => call.params.dry_run()?,
    };
    Ok(DeleteOptions {
        grace_period_seconds: body["gracePeriodSeconds"]
            .as_i64()
            .or(call.params.grace_period_seconds),
        propagation_policy,
        precondition_uid: body["preconditions"]["uid"].as_str().map(str::to_owned),
        precondition_rv: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_owned),
        dry_run,
    })
}

pub(crate) async fn delete(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let body = delete_body(call, body)?;
    delete_with(call, &body).await
}

/// Deletes the call's object with `options` (a `DeleteOptions` object, or `null`).
pub(crate) async fn delete_with(call: &mut Call, options: &Value) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let options = delete_options(call, options)?;
    if call.target.resource.kind == "PriorityClass" {
        crate::kinds::check_priority_class_delete(&name)?;
    }
    // Without a resourceVersion precondition a write racing the delete is no reason to
    // fail it: read again and retry, as kube-apiserver's GuaranteedUpdate does.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = load(call, &name)?;
        match delete_object(call, &name, current, &options).await {
            Err(e)
                if e.reason == "Conflict"
                    && options.precondition_rv.is_none()
                    && attempt < DELETE_ATTEMPTS
                    && e.message.ends_with(StatusError::MODIFIED) => {}
            deleted => return Ok(json(StatusCode::OK, deleted?)),
        }
    }
}

/// Tries of a delete that races other writes before it gives up with a conflict (upstream
/// has no limit; each try loses only to a write that landed, so this is never reached
/// short of a write storm on one object).
const DELETE_ATTEMPTS: usize = 1000;

/// Deletes one object per `options`: immediately, or by marking it (finalizers, graceful pod
/// termination) for whoever finishes the deletion. Returns the object as it now stands.
async fn delete_object(
    call: &mut Call,
    name: &str,
    current: Object,
    options: &DeleteOptions,
) -> Result<Vec<u8>, StatusError> {
    let resource = call.target.resource;
    let mut object = super::read::parse(&current)?;
    let uid = object::meta_str(&object, "uid").to_owned();
    if let Some(want) = &options.precondition_uid
        && *want != uid
    {
        return Err(StatusError::conflict(
            resource,
            name,
            &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
        ));
    }
    if let Some(want) = &options.precondition_rv
        && *want != current.mod_revision.to_string()
    {
        return Err(StatusError::conflict(
            resource,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {}",
                current.mod_revision
            ),
        ));
    }
    let mut finalizers = object::finalizers(&object);
    let wanted = match options.propagation_policy.as_deref() {
        Some("Orphan") => Some("orphan"),
        Some("Foreground") => Some("foregroundDeletion"),
        _ => None,
    };
    if let Some(finalizer) = wanted
        && !finalizers.iter().any(|f| f == finalizer)
    {
        finalizers.push(finalizer.to_owned());
    }
    let grace = graceful_seconds(resource.kind, &object, options.grace_period_seconds);
    if options.dry_run {
        return Ok(current.value.to_vec());
    }
    let key = resource.key(call.target.namespace.as_deref(), name);
    let store = call.server.store();
    let spec_held = resource.kind == "Namespace" && object::held(resource.kind, &object);
    if finalizers.is_empty() && grace == 0 && !spec_held {
        let (deleted, _) = store
            .delete(&key, Some(current.mod_revision))
            .await
            .map_err(|e| store_error(call, name, e))?;
        return Ok(deleted.value.to_vec());
    }
    // Mark it: deletion finishes when the finalizers are removed (or, for a running pod,
    // when its node has stopped it, within the grace period).
    let already = object::deleting(&object);
    let shorter = object["metadata"]["deletionGracePeriodSeconds"]
        .as_i64()
        .is_none_or(|old| grace < old);
    if !already || shorter {
        let when = k8s_openapi::jiff::Timestamp::now()
            + std::time::Duration::from_secs(grace.max(0) as u64);
        set_meta(
            &mut object,
            "deletionTimestamp",
            Some(Value::from(when.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())),
        );
        set_meta(
            &mut object,
            "deletionGracePeriodSeconds",
            Some(Value::from(grace)),
        );
    }
    set_meta(
        &mut object,
        "finalizers",
        (!finalizers.is_empty()).then(|| json!(finalizers)),
    );
    if resource.kind == "Namespace" {
        object["status"]["phase"] = Value::from("Terminating");
    }
    let stored = store
        .update(&key, render(object), Some(current.mod_revision))
        .await
        .map_err(|e| store_error(call, name, e))?;
    Ok(stored.value.to_vec())
}

/// Seconds of graceful termination: only pods bound to a node get any (their node stops the
/// containers and then deletes them); everything else goes at once.
fn graceful_seconds(kind: &str, object: &Value, requested: Option<i64>) -> i64 {
    if kind != "Pod"
        || object["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    {
        return 0;
    }
    // A pod that never ran, or has finished, has nothing to stop.
    if matches!(
        object["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) {
        return 0;
    }
    requested
        .or_else(|| object["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

pub(crate) async fn delete_collection(
    call: &mut Call,
    body: &[u8],
) -> Result<Response, StatusError> {
    let body = delete_body(call, body)?;
    let options = delete_options(call, &body)?;
    let filter = super::read::Filter::from_call(call)?;
    let listed = super::read::collect(call, &filter)?;
    let mut items = Vec::new();
    for object in listed.items {
        let name = object::name(&super::read::parse(&object)?).to_owned();
        let namespace = object::namespace(&super::read::parse(&object)?).to_owned();
        let saved = call.target.namespace.clone();
        call.target.namespace = (!namespace.is_empty()).then_some(namespace);
        let result = delete_object(call, &name, object, &options).await;
        call.target.namespace = saved;
        match result {
            Ok(bytes) => items.push(serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null)),
            // Gone meanwhile: nothing left to delete.
            Err(e) if e.code == StatusCode::NOT_FOUND => {}
            Err(e) => return Err(e),
        }
    }
    let resource = call.target.resource;
    let list = json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": call.server.store().revision().to_string()},
        "items": items,
    });
    Ok(json(StatusCode::OK, list.to_string()))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;
    use serde_json::json;

    use crate::testing::{self, TOKEN};

    async fn call(
        server: &crate::ApiServer,
        method: &str,
        uri: &str,
        kind: &str,
        body: String,
    ) -> u16 {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", kind)
            .body(Body::from(body))
            .unwrap();
        testing::send(server, request).await.0.status().as_u16()
    }

    /// A delete without preconditions racing other writes to the object succeeds, as
    /// kube-apiserver's (a ReplicaSet deleting a pod its kubelet is updating).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delete_racing_writes_succeeds() {
        let server = testing::server();
        let ns = json!({"metadata": {"name": "race"}}).to_string();
        assert_eq!(
            call(
                &server,
                "POST",
                "/api/v1/namespaces",
                "application/json",
                ns
            )
            .await,
            201
        );
        let uri = "/api/v1/namespaces/race/configmaps";
        for round in 0..20 {
            let name = format!("cm-{round}");
            let body = json!({"metadata": {"name": name}, "data": {"n": "0"}}).to_string();
            assert_eq!(
                call(&server, "POST", uri, "application/json", body).await,
                201
            );
            let one = format!("{uri}/{name}");
            let writes = (0..50).map(|n| {
                let patch = json!({"data": {"n": n.to_string()}}).to_string();
                call(
                    &server,
                    "PATCH",
                    &one,
                    "application/merge-patch+json",
                    patch,
                )
            });
            let delete = async {
                // Let the writes get going first.
                for _ in 0..round {
                    tokio::task::yield_now().await;
                }
                call(&server, "DELETE", &one, "application/json", String::new()).await
            };
            let (deleted, _) = tokio::join!(delete, futures_util::future::join_all(writes));
            assert_eq!(deleted, 200, "{name}");
        }
    }
}
