//! Errors as Kubernetes `Status` objects.
//!
//! Clients (kubectl, kube-rs, client-go, the Python client) decode a failed response body as
//! a `meta/v1 Status` and show its `message`; `reason` and `code` drive their retry and
//! error-type logic. So every error the server returns goes through [`StatusError`].

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, Uri};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

use crate::registry::Resource;

/// A failed request, rendered as a Kubernetes `Status` with upstream's `reason` vocabulary.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct StatusError {
    /// HTTP status code, also written into `Status.code`.
    pub code: StatusCode,
    /// Upstream's `StatusReason`, e.g. `NotFound`, `Unauthorized`.
    pub reason: &'static str,
    /// What failed and, where the client can act, what to do about it.
    pub message: String,
    /// Which object the error is about, and per-field causes (boxed: errors travel in every
    /// `Result`, and most have none).
    pub details: Option<Box<StatusDetails>>,
}

impl StatusError {
    /// 401: no valid credential. Upstream's message is exactly "Unauthorized".
    pub fn unauthorized() -> Self {
        Self {
            code: StatusCode::UNAUTHORIZED,
            reason: "Unauthorized",
            message: "Unauthorized".to_owned(),
            details: None,
        }
    }

    /// 404 for a path no route serves, worded as kube-apiserver words it.
    pub fn path_not_found() -> Self {
        Self {
            code: StatusCode::NOT_FOUND,
            reason: "NotFound",
            message: "the server could not find the requested resource".to_owned(),
            details: Some(Box::default()),
        }
    }

    /// 405 for a verb the path does not support.
    pub fn method_not_allowed(method: &Method) -> Self {
        Self {
            code: StatusCode::METHOD_NOT_ALLOWED,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource ({method})"
            ),
            details: Some(Box::default()),
        }
    }

    fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn about(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.details = Some(Box::new(StatusDetails {
            group: Some(group.to_owned()),
            kind: Some(kind.to_owned()),
            name: Some(name.to_owned()).filter(|n| !n.is_empty()),
            ..StatusDetails::default()
        }));
        self
    }

    /// 404: `pods "web" not found`.
    pub fn not_found(resource: &Resource, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", resource.qualified()),
        )
        .about(resource.group, resource.plural, name)
    }

    /// 409: `pods "web" already exists`.
    pub fn already_exists(resource: &Resource, name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", resource.qualified()),
        )
        .about(resource.group, resource.plural, name)
    }

    /// 409: the write raced another, or a precondition failed.
    pub fn conflict(resource: &Resource, name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                resource.qualified()
            ),
        )
        .about(resource.group, resource.plural, name)
    }

    /// The message upstream gives when an update lost a race.
    pub const MODIFIED: &str = "the object has been modified; please apply your changes to the latest version and try again";

    /// 422: the object breaks validation; one cause per field.
    pub fn invalid(resource: &Resource, name: &str, causes: Vec<StatusCause>) -> Self {
        let listed: Vec<String> = causes
            .iter()
            .map(|c| match c.field.as_deref() {
                Some(field) if !field.is_empty() => {
                    format!("{field}: {}", c.message.as_deref().unwrap_or_default())
                }
                _ => c.message.clone().unwrap_or_default(),
            })
            .collect();
        let summary = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let kind = if resource.group.is_empty() {
            resource.kind.to_owned()
        } else {
            format!("{}.{}", resource.kind, resource.group)
        };
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {summary}"),
        );
        error.details = Some(Box::new(StatusDetails {
            group: Some(resource.group.to_owned()),
            kind: Some(resource.kind.to_owned()),
            name: Some(name.to_owned()).filter(|n| !n.is_empty()),
            causes: Some(causes),
            ..StatusDetails::default()
        }));
        error
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 403: not allowed in this state (e.g. creating in a terminating namespace).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    /// 410 Expired: a resource version or continue token is older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "Expired", message)
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 406: no representation the client accepts.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "NotAcceptable", message)
    }

    /// 415: a body in a format the server does not read.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            message,
        )
    }

    /// 504 Timeout for a resource version newer than any write, as upstream answers it;
    /// client-go's reflectors recognise the `ResourceVersionTooLarge` cause and re-list.
    pub fn too_large_resource_version(message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::GATEWAY_TIMEOUT, "Timeout", message);
        error.details = Some(Box::new(StatusDetails {
            retry_after_seconds: Some(1),
            causes: Some(vec![StatusCause {
                reason: Some("ResourceVersionTooLarge".to_owned()),
                message: Some("Too large resource version".to_owned()),
                field: None,
            }]),
            ..StatusDetails::default()
        }));
        error
    }

    /// 429: the request may succeed later (a disruption budget refused an eviction); with
    /// `retry_after` seconds (sent as `Retry-After` too when positive) and `causes`.
    pub fn too_many_requests(
        message: impl Into<String>,
        retry_after: i32,
        causes: Vec<StatusCause>,
    ) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", message);
        error.details = Some(Box::new(StatusDetails {
            retry_after_seconds: (retry_after > 0).then_some(retry_after),
            causes: (!causes.is_empty()).then_some(causes),
            ..StatusDetails::default()
        }));
        error
    }

    /// 403 about one object: `<resource> "<name>" is forbidden: <why>`, as upstream's
    /// `NewForbidden` (whose resource is `<plural or singular>.<group>`).
    pub fn forbidden_object(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let qualified = if group.is_empty() {
            resource.to_owned()
        } else {
            format!("{resource}.{group}")
        };
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("{qualified} \"{name}\" is forbidden: {why}"),
        )
        .about(group, resource, name)
    }

    /// 504: the server gave up on something it kept retrying, as upstream's
    /// `NewTimeoutError`; the client may try again after `retry_after` seconds.
    pub fn new_timeout(message: impl Into<String>, retry_after: i32) -> Self {
        let mut error = Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "Timeout",
            format!("Timeout: {}", message.into()),
        );
        error.details = Some(Box::new(StatusDetails {
            retry_after_seconds: Some(retry_after),
            ..StatusDetails::default()
        }));
        error
    }

    /// 503: a part the request needs is not there (yet).
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            message,
        )
    }

    /// 500: a fault of the server itself (its store failed), never of the request.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// The `Status` object this error becomes.
    pub fn to_status(&self) -> Status {
        Status {
            code: Some(i32::from(self.code.as_u16())),
            message: Some(self.message.clone()),
            reason: Some(self.reason.to_owned()),
            status: Some("Failure".to_owned()),
            details: self.details.as_deref().cloned(),
            ..Status::default()
        }
    }
}

impl IntoResponse for StatusError {
    fn into_response(self) -> Response {
        let retry_after = self
            .details
            .as_ref()
            .and_then(|d| d.retry_after_seconds)
            .filter(|s| *s > 0);
        let mut response = (self.code, Json(self.to_status())).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        response
    }
}

/// Answer for a known path asked with a method it does not serve.
pub(crate) async fn method_not_allowed(method: Method) -> StatusError {
    StatusError::method_not_allowed(&method)
}

/// Fallback for every path the router does not serve.
pub(crate) async fn not_found(uri: Uri) -> StatusError {
    tracing::debug!(%uri, "no route");
    StatusError::path_not_found()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[tokio::test]
    async fn unknown_path_is_a_not_found_status() {
        let (response, body) = testing::get(&testing::server(), "/no/such/path").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["content-type"], "application/json");
        insta::assert_snapshot!(body, @r#"{"apiVersion":"v1","kind":"Status","code":404,"details":{},"message":"the server could not find the requested resource","metadata":{},"reason":"NotFound","status":"Failure"}"#);
    }
}
