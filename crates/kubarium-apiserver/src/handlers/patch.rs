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
        let mut patched = decode_patched(call, &old, patched)?;
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

/// Decodes a patched object as [`super::write::decode_value`] does, but decodes only the
/// top-level fields the patch changed: the others are `old`'s, decoded when it was stored,
/// so they hold no unknown field and no type error. All of it is decoded when the patch
/// removed a top-level field, or when the changed ones do not decode on their own (a kind
/// with a required field they leave out); that also explains any error.
fn decode_patched(call: &mut Call, old: &Value, patched: Value) -> Result<Value, StatusError> {
    let before = old.as_object();
    let mut fields = match patched {
        Value::Object(fields)
            if before.is_some_and(|before| before.keys().all(|key| fields.contains_key(key))) =>
        {
            fields
        }
        other => return super::write::decode_value(call, &other),
    };
    let changed: Vec<String> = fields
        .iter()
        .filter(|(key, value)| before.and_then(|before| before.get(key.as_str())) != Some(value))
        .map(|(key, _)| key.clone())
        .collect();
    let mut part = serde_json::Map::new();
    for key in ["apiVersion", "kind"] {
        if let Some(value) = fields.get(key) {
            part.insert(key.to_owned(), value.clone());
        }
    }
    for key in &changed {
        if let Some(value) = fields.remove(key) {
            part.insert(key.clone(), value);
        }
    }
    let part = Value::Object(part);
    let warnings = call.warnings.len();
    match super::write::decode_value(call, &part) {
        Ok(Value::Object(mut decoded)) => {
            for key in changed {
                if let Some(value) = decoded.remove(&key) {
                    fields.insert(key, value);
                }
            }
            Ok(Value::Object(fields))
        }
        _ => {
            call.warnings.truncate(warnings);
            if let Value::Object(part) = part {
                fields.extend(part);
            }
            super::write::decode_value(call, &Value::Object(fields))
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;
    use serde_json::{Value, json};

    use crate::testing::{self, TOKEN};

    /// Sends `body` to `uri` as `content_type`; the answer's code, body and warnings.
    async fn send(
        server: &crate::ApiServer,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Value,
    ) -> (u16, Value, Vec<String>) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", content_type)
            .body(Body::from(body.to_string()))
            .unwrap();
        let (response, text) = testing::send(server, request).await;
        let warnings = response
            .headers()
            .get_all("warning")
            .iter()
            .map(|w| w.to_str().unwrap().to_owned())
            .collect();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        (response.status().as_u16(), body, warnings)
    }

    const MERGE: &str = "application/merge-patch+json";
    const POD: &str = "/api/v1/namespaces/default/pods/web";

    /// Only the fields a patch changes are decoded again; what it changes is checked as a
    /// whole object's would be, and what it leaves alone stays as stored.
    #[tokio::test]
    async fn a_patch_is_checked_where_it_changes_the_object() {
        let server = testing::server();
        let namespace = json!({"metadata": {"name": "default"}});
        let (code, _, _) = send(
            &server,
            "POST",
            "/api/v1/namespaces",
            "application/json",
            namespace,
        )
        .await;
        assert_eq!(code, 201);
        let pod = json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        });
        let pods = "/api/v1/namespaces/default/pods";
        let (code, created, _) = send(&server, "POST", pods, "application/json", pod).await;
        assert_eq!(code, 201, "{created}");

        // A status patch with a field Pods do not have: applied without it, with a warning.
        let status = json!({"status": {"phase": "Running", "hostIP": "10.0.0.1", "colour": "red"}});
        let (code, patched, warnings) = send(
            &server,
            "PATCH",
            &format!("{POD}/status"),
            MERGE,
            status.clone(),
        )
        .await;
        assert_eq!(code, 200, "{patched}");
        assert_eq!(warnings, ["299 - \"unknown field \\\"status.colour\\\"\""]);
        assert_eq!(patched["status"]["hostIP"], "10.0.0.1");
        assert_eq!(patched["status"].get("colour"), None);
        assert_eq!(patched["spec"], created["spec"]);
        assert_eq!(patched["metadata"]["labels"], created["metadata"]["labels"]);

        // Strict validation refuses it, naming the field.
        let strict = format!("{POD}/status?fieldValidation=Strict");
        let (code, refused, _) = send(&server, "PATCH", &strict, MERGE, status).await;
        assert_eq!(code, 400);
        assert_eq!(
            refused["message"],
            "strict decoding error: unknown field \"status.colour\""
        );

        // A type error where the patch changes the object names its path.
        let wrong = json!({"spec": {"activeDeadlineSeconds": "soon"}});
        let (code, refused, _) = send(&server, "PATCH", POD, MERGE, wrong).await;
        assert_eq!(code, 400);
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains("spec.activeDeadlineSeconds: invalid type: string \"soon\""),
            "{message}"
        );

        // A patch that removes a top-level field is decoded whole, as any other.
        let labels = json!({"metadata": {"labels": {"tier": "front"}}, "status": null});
        let (code, patched, warnings) = send(&server, "PATCH", POD, MERGE, labels).await;
        assert_eq!(code, 200, "{patched}");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            patched["metadata"]["labels"],
            json!({"app": "web", "tier": "front"})
        );
        assert_eq!(patched["status"]["hostIP"], "10.0.0.1");
    }
}
