//! RBAC checks for the UI: may the current user do this? Asked of the API server as
//! `SelfSubjectAccessReview`s, all at once, so the UI offers only the actions that will work.

use futures_util::future::join_all;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use crate::ipc::clusters::AccessCheck;

/// One answer per check, in order. A review that fails (the server does not answer, or does
/// not serve the API) counts as "not allowed", with the reason logged: the UI then disables
/// the action and the user can still try it from kubectl.
pub async fn can_i(client: kube::Client, checks: Vec<AccessCheck>) -> Vec<bool> {
    let api = Api::<SelfSubjectAccessReview>::all(client);
    join_all(checks.into_iter().map(|check| {
        let api = api.clone();
        async move {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(attributes(&check)),
                    ..Default::default()
                },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &review).await {
                Ok(answer) => answer.status.is_some_and(|s| s.allowed),
                Err(error) => {
                    tracing::warn!(
                        verb = %check.verb, resource = %check.resource, %error,
                        "an access review failed; the action is treated as not allowed"
                    );
                    false
                }
            }
        }
    }))
    .await
}

fn attributes(check: &AccessCheck) -> ResourceAttributes {
    ResourceAttributes {
        verb: Some(check.verb.clone()),
        group: Some(check.group.clone()),
        resource: Some(check.resource.clone()),
        subresource: check.subresource.clone(),
        namespace: check.namespace.clone(),
        name: check.name.clone(),
        ..Default::default()
    }
}
