//! Reviews: `SelfSubjectReview` (who am I), `SelfSubjectAccessReview` (may I) and
//! `SelfSubjectRulesReview` (what may I), answered from the caller's identity and never
//! stored. The local cluster authorizes every authenticated identity for everything — it is
//! a single-user cluster — and the reviews say so, so RBAC-aware clients offer every action.

use axum::response::Response;
use http::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use serde_json::{Value, json};

use super::{Call, json, parse_object};
use crate::StatusError;

const REASON: &str = "the local Kubarium cluster allows every authenticated user everything";

pub(crate) fn create(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let mut review = parse_object(&call.headers, body)?;
    super::write::check_type(call, &review)?;
    let resource = call.target.resource;
    review["apiVersion"] = Value::from(resource.api_version());
    review["kind"] = Value::from(resource.kind);
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = match resource.kind {
        "SelfSubjectReview" => {
            json!({"userInfo": {"username": call.user.name, "groups": call.user.groups}})
        }
        "SelfSubjectAccessReview" => {
            let spec = &review["spec"];
            let resource_attributes = spec.get("resourceAttributes").is_some_and(|v| !v.is_null());
            let non_resource = spec
                .get("nonResourceAttributes")
                .is_some_and(|v| !v.is_null());
            if resource_attributes == non_resource {
                return Err(StatusError::invalid(
                    resource,
                    "",
                    vec![StatusCause {
                        reason: Some("FieldValueInvalid".to_owned()),
                        field: Some("spec.resourceAttributes".to_owned()),
                        message: Some("Invalid value: \"\": exactly one of nonResourceAttributes or resourceAttributes must be specified".to_owned()),
                    }],
                ));
            }
            json!({"allowed": true, "reason": REASON})
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        other => return Err(StatusError::internal(format!("{other} is not a review"))),
    };
    Ok(json(StatusCode::CREATED, review.to_string()))
}
