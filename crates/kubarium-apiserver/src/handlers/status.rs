//! The `status` subresource's writes: a PUT or PATCH that changes an object's status and
//! nothing else.
//!
//! Node agents post every pod's status as a JSON merge patch, so that patch is one of the
//! busiest writes. When it holds only a `status` and the kind runs no status admission of its
//! own, it is applied without parsing the whole stored object ([`status_patched`]): the
//! metadata is read one level deep (its managed fields parsed, its annotations and owners
//! not), the status parsed, and the spec copied back as it was stored. Managed fields are
//! recorded as for any write, walking only the status. Anything else — another patch type, a
//! patch touching more than the status, an object being deleted — takes the whole path of
//! [`super::patch::patch_with`] and [`super::write::replace`].

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};

use super::members::{members, raw, value};
use super::patch::{ATTEMPTS, PatchType, patch_type};
use super::write::{load, revision_marker, stamped};
use super::{Call, json, store_error};
use crate::StatusError;
use crate::managed::{self, Writer};
use crate::object;

/// `PUT …/status`: the object sent, of which only the status is taken.
pub(super) async fn update(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let object = super::write::decode(call, body)?;
    let current = load(call, &name)?;
    let expected = super::write::expected_revision(&object, &current)?;
    let old = super::read::parse(&current)?;
    let stored =
        super::write::replace(call, &name, &old, status_only(&old, object), expected).await?;
    Ok(json(StatusCode::OK, stored))
}

/// `PATCH …/status`: the patch applied, of which only the status is taken.
pub(super) async fn patch(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    if let Some(stored) = patch_status_alone(call, body).await? {
        return Ok(json(StatusCode::OK, stored));
    }
    super::patch::patch_with(call, body, status_only)
        .await
        .map(|bytes| json(StatusCode::OK, bytes))
}

/// `old` with only its status replaced by `new`'s: a status write changes nothing else.
/// `new` is kept where it equals `old` (a status patch leaves the rest as it was), so only
/// the fields it changed are copied back from `old`.
fn status_only(old: &Value, mut new: Value) -> Value {
    let (Some(before), Some(fields)) = (old.as_object(), new.as_object_mut()) else {
        return object::with_status(old.clone(), new.get_mut("status").map(Value::take));
    };
    fields.retain(|key, value| key == "status" || before.get(key) == Some(value));
    for (key, value) in before {
        if key != "status" && !fields.contains_key(key) {
            fields.insert(key.clone(), value.clone());
        }
    }
    new
}

/// Applies a merge patch that holds only a `status` by [`status_patched`], retrying when
/// another write gets in between, and answers with the stored object; `None` when the patch
/// or the object needs the whole path.
async fn patch_status_alone(call: &mut Call, body: &[u8]) -> Result<Option<Vec<u8>>, StatusError> {
    let resource = call.target.resource;
    if patch_type(call)? != PatchType::Merge
        || resource.rules.admits_status()
        || call.applying
        || call.params.dry_run()?
    {
        return Ok(None);
    }
    let Ok(Value::Object(mut patch)) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    let patch = match patch.remove("status") {
        Some(status @ Value::Object(_)) if patch.is_empty() => status,
        _ => return Ok(None),
    };
    let name = call.target.name.clone().unwrap_or_default();
    let key = resource.key(call.target.namespace.as_deref(), &name);
    let manager = call.manager();
    let api_version = resource.api_version();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = load(call, &name)?;
        let now = object::now();
        let writer = Writer {
            manager: &manager,
            api_version: &api_version,
            subresource: Some("status"),
            kind: resource.kind,
            now: &now,
        };
        let warnings = call.warnings.len();
        let decode = |status: Value| {
            let part = serde_json::json!({
                "apiVersion": api_version,
                "kind": resource.kind,
                "status": status,
            });
            match super::write::decode_value(call, &part) {
                Ok(mut decoded) => Some(decoded["status"].take()),
                Err(_) => None,
            }
        };
        let patched = status_patched(&current.value, &patch, decode, &writer).map_err(|e| {
            StatusError::internal(format!(
                "stored object {} is not a JSON object: {e}",
                current.key
            ))
        })?;
        let bytes = match patched {
            Patched::Whole => {
                // The whole path decodes again and says what is wrong, if anything is.
                call.warnings.truncate(warnings);
                return Ok(None);
            }
            Patched::Unchanged => return Ok(Some(current.value.to_vec())),
            Patched::Write(bytes) => bytes,
        };
        let written = call
            .server
            .store()
            .update(&key, stamped(bytes), Some(current.mod_revision))
            .await;
        match written {
            Ok(stored) => return Ok(Some(stored.value.to_vec())),
            Err(kubarium_store::Error::Conflict { .. }) if attempt < ATTEMPTS => {
                call.warnings.truncate(warnings);
            }
            Err(error) => return Err(store_error(call, &name, error)),
        }
    }
}

/// What a status patch makes of a stored object.
#[derive(Debug)]
enum Patched {
    /// The patched status is the stored one: nothing to write.
    Unchanged,
    /// The object to store, with [`revision_marker`] as its `resourceVersion`.
    Write(Vec<u8>),
    /// The object is being deleted, or the status did not decode: the whole path decides.
    Whole,
}

/// The stored object `stored` with the merge patch `patch` applied to its status, the result
/// passed through `decode` (`None`: it does not decode on its own), and the write recorded in
/// its managed fields by `writer`.
fn status_patched(
    stored: &[u8],
    patch: &Value,
    decode: impl FnOnce(Value) -> Option<Value>,
    writer: &Writer<'_>,
) -> Result<Patched, serde_json::Error> {
    let mut object = members(Some(stored))?;
    let mut metadata = members(raw(object.get("metadata")))?;
    // A status write may complete a deletion: `replace` judges that.
    if metadata
        .get("deletionTimestamp")
        .is_some_and(|t| t.get() != "null")
    {
        return Ok(Patched::Whole);
    }
    let old = value(object.get("status"))?;
    let mut status = old.clone().unwrap_or(Value::Null);
    json_patch::merge(&mut status, patch);
    let Some(status) = decode(status) else {
        return Ok(Patched::Whole);
    };
    if old.as_ref() == Some(&status) {
        return Ok(Patched::Unchanged);
    }
    // The new status as the only member of an object: what the managed fields' walk reads.
    let mut only_status = serde_json::Map::new();
    only_status.insert("status".to_owned(), status);
    let only_status = Value::Object(only_status);
    // Anything but a list of entries (`null`, say) is no entries, as on the whole path.
    let stored_entries: Vec<&RawValue> = raw(metadata.get("managedFields"))
        .and_then(|text| serde_json::from_slice::<Vec<&RawValue>>(text).ok())
        .unwrap_or_default();
    let entries =
        managed::record_status_update(&stored_entries, old.as_ref(), &only_status, writer)?;
    let entries = (!entries.is_empty())
        .then(|| to_raw_value(&entries))
        .transpose()?;
    match &entries {
        Some(entries) => metadata.insert("managedFields".to_owned(), entries),
        None => metadata.remove("managedFields"),
    };
    let marker = to_raw_value(&Value::from(revision_marker()))?;
    metadata.insert("resourceVersion".to_owned(), &marker);
    let metadata = to_raw_value(&metadata)?;
    object.insert("metadata".to_owned(), &metadata);
    let status = to_raw_value(&only_status["status"])?;
    object.insert("status".to_owned(), &status);
    Ok(Patched::Write(serde_json::to_vec(&object)?))
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
