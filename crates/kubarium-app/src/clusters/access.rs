//! RBAC checks for the UI: may the current user do this? Asked of the API server as
//! `SelfSubjectAccessReview`s, all at once, so the UI offers only the actions that will work.

use futures_util::future::join_all;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kubarium_controllers::objects::Objects;
use kube::api::PostParams;

use crate::ipc::clusters::AccessCheck;

/// One answer per check, in order. A review that fails (the server does not answer, or does
/// not serve the API) counts as "not allowed", with the reason logged: the UI then disables
/// the action and the user can still try it from kubectl.
pub async fn can_i(client: kube::Client, checks: Vec<AccessCheck>) -> Vec<bool> {
    let api = Objects::<SelfSubjectAccessReview>::all(client);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::Hollow;

    fn check(verb: &str, group: &str, resource: &str, subresource: Option<&str>) -> AccessCheck {
        AccessCheck {
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            subresource: subresource.map(str::to_owned),
            namespace: Some("default".to_owned()),
            name: None,
        }
    }

    /// The local cluster allows its admin everything, through the in-process client the
    /// app uses for it, subresources included.
    #[tokio::test]
    async fn the_local_cluster_answers_access_reviews() {
        let hollow = Hollow::start().await;
        let answers = can_i(
            hollow.client.clone(),
            vec![
                check("delete", "apps", "deployments", None),
                check("update", "apps", "deployments", Some("scale")),
                check("create", "", "pods", Some("exec")),
                check("get", "", "pods", Some("log")),
            ],
        )
        .await;
        assert_eq!(answers, [true, true, true, true]);
        hollow.local.shutdown().await;
    }
}
