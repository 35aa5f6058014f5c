//! PATCH: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch and
//! server-side apply, each applied to the stored object and then sent through the same
//! update pipeline as a PUT. A patch without a `resourceVersion` retries when it loses a
//! race, as upstream's does: the client asked for a change, not for a particular base.

use axum::response::Response;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::Value;

use super::{Call, json};
use crate::StatusError;
use crate::object;

/// Attempts before a racing patch gives up with 409.
pub(crate) const ATTEMPTS: usize = 5;

/// The patch formats, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

pub(crate) fn patch_type(call: &Call) -> Result<PatchType, StatusError> {
    let content_type = call
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match content_type.split(';').next().unwrap_or_default().trim() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml"
        | "application/apply-patch+json"
        | "application/apply-patch+cbor" => Ok(PatchType::Apply),
        other => Err(StatusError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
        ))),
    }
}

pub(crate) async fn patch(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    if patch_type(call)? == PatchType::Apply {
        return crate::apply::apply(call, body).await;
    }
    let has_status = call.target.resource.has_status();
    let bytes = patch_with(call, body, move |old, patched| {
        // The main resource does not change status; the status subresource does.
        if has_status {
            object::with_status_of(patched, old)
        } else {
            patched
        }
    })
    .await?;
    Ok(json(StatusCode::OK, bytes))
}

/// Applies the patch in `body` to the stored object, passes (old, patched) through
/// `choose` (which decides what of the patch may take effect), and updates.
pub(crate) async fn patch_with(
    call: &mut Call,
    body: &[u8],
    choose: impl Fn(&Value, Value) -> Value,
) -> Result<Vec<u8>, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let kind = call.target.resource.kind;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = super::write::load(call, &name)?;
        let old = super::read::parse(&current)?;
        let patched = apply_patch(call, &old, body, kind)?;
        super::write::check_type(call, &patched)?;
        let mut patched = super::write::decode_value(call, &patched)?;
        // A resourceVersion the patch sets is a precondition; one it leaves alone is not.
        let precondition = match (
            object::meta_str(&patched, "resourceVersion"),
            object::meta_str(&old, "resourceVersion"),
        ) {
            (new, old) if new != old && !new.is_empty() => Some(new.to_owned()),
            _ => None,
        };
        let expected = match &precondition {
            Some(rv) => rv
                .parse()
                .map_err(|_| StatusError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
            None => current.mod_revision,
        };
        object::set_meta(&mut patched, "resourceVersion", None);
        let result =
            super::write::replace(call, &name, &old, choose(&old, patched), expected).await;
        match result {
            Err(e)
                if e.reason == "Conflict"
                    && precondition.is_none()
                    && attempt < ATTEMPTS
                    && e.message.ends_with(StatusError::MODIFIED) =>
            {
                continue;
            }
            other => return other,
        }
    }
}

/// `original` with the patch in `body` applied, per the request's `Content-Type`.
pub(crate) fn apply_patch(
    call: &Call,
    original: &Value,
    body: &[u8],
    kind: &str,
) -> Result<Value, StatusError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| StatusError::bad_request(format!("error decoding patch: {e}")))?;
    let invalid = |message: String| StatusError {
        code: StatusCode::UNPROCESSABLE_ENTITY,
        reason: "Invalid",
        message,
        details: None,
    };
    match patch_type(call)? {
        PatchType::Json => {
            let operations: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| StatusError::bad_request(format!("error decoding JSON patch: {e}")))?;
            let mut doc = original.clone();
            json_patch::patch(&mut doc, &operations)
                .map_err(|e| invalid(format!("the JSON patch could not be applied: {e}")))?;
            Ok(doc)
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(StatusError::bad_request(
                    "a merge patch must be a JSON object",
                ));
            }
            let mut doc = original.clone();
            json_patch::merge(&mut doc, &patch);
            Ok(doc)
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(StatusError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            crate::strategic::apply(original, &patch, crate::schema::root(kind)).map_err(|e| {
                invalid(format!(
                    "the strategic merge patch could not be applied: {e}"
                ))
            })
        }
        PatchType::Apply => Err(StatusError::bad_request(
            "apply patches go through server-side apply",
        )),
    }
}
