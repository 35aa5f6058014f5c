//! Errors as Kubernetes `Status` objects.
//!
//! Clients (kubectl, kube-rs, client-go, the Python client) decode a failed response body as
//! a `meta/v1 Status` and show its `message`; `reason` and `code` drive their retry and
//! error-type logic. So every error the server returns goes through [`StatusError`].

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, Uri};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusDetails};

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
    /// Which object the error is about, and per-field causes.
    pub details: Option<StatusDetails>,
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
            details: Some(StatusDetails::default()),
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
            details: Some(StatusDetails::default()),
        }
    }

    /// The `Status` object this error becomes.
    pub fn to_status(&self) -> Status {
        Status {
            code: Some(i32::from(self.code.as_u16())),
            message: Some(self.message.clone()),
            reason: Some(self.reason.to_owned()),
            status: Some("Failure".to_owned()),
            details: self.details.clone(),
            ..Status::default()
        }
    }
}

impl IntoResponse for StatusError {
    fn into_response(self) -> Response {
        (self.code, Json(self.to_status())).into_response()
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
