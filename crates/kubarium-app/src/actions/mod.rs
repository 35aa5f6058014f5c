//! Actions on objects — delete (with a cascade choice), scale, rollout restart, history and
//! undo, cordon and drain — done as kubectl does them, through any `kube::Client`; and, for
//! the local cluster only, adding, removing, stopping and starting its nodes and stopping,
//! starting and resetting the cluster itself.

mod drain;
mod rollout;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use kubarium_controllers::objects::Objects;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::{Api, Client};
use serde_json::json;

pub use drain::{cordon, drain};
pub use rollout::{rollout_history, rollout_undo};

use crate::ipc::actions::Propagation;
use crate::{App, Error, LOCAL, LocalCluster, Result};

/// The annotation `kubectl rollout restart` stamps on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// A dynamic API for `resource` (a name from the catalogue) in `namespace` (ignored for
/// cluster-scoped kinds; required for namespaced ones).
fn dynamic_api(
    client: Client,
    resource: &str,
    namespace: Option<&str>,
) -> Result<Api<DynamicObject>> {
    let kind = crate::catalogue::find(resource)?;
    if kind.info.namespaced {
        Ok(Api::namespaced_with(
            client,
            required_namespace(namespace, resource)?,
            &kind.api,
        ))
    } else {
        Ok(Api::all_with(client, &kind.api))
    }
}

fn required_namespace<'a>(namespace: Option<&'a str>, resource: &str) -> Result<&'a str> {
    namespace.filter(|ns| !ns.is_empty()).ok_or_else(|| {
        Error::Local(format!(
            "{resource} live in a namespace, and none was given; pick the object's namespace and try again."
        ))
    })
}

/// Deletes an object, its dependents as `propagation` says (as `kubectl delete
/// --cascade=background|foreground|orphan`).
pub async fn delete_object(
    client: Client,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
    propagation: Propagation,
) -> Result<()> {
    let api = dynamic_api(client, resource, namespace)?;
    let params = DeleteParams {
        propagation_policy: Some(match propagation {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        }),
        ..DeleteParams::default()
    };
    api.delete(name, &params).await?;
    Ok(())
}

/// Sets a workload's replicas through its `scale` subresource, as `kubectl scale`.
pub async fn scale(
    client: Client,
    resource: &str,
    namespace: &str,
    name: &str,
    replicas: i32,
) -> Result<()> {
    if replicas < 0 {
        return Err(Error::Local(format!(
            "Replicas cannot be negative ({replicas}); give 0 or more."
        )));
    }
    let patch = Patch::Merge(json!({ "spec": { "replicas": replicas } }));
    let params = PatchParams::default();
    match resource {
        "deployments" => {
            Api::<Deployment>::namespaced(client, namespace)
                .patch_scale(name, &params, &patch)
                .await?
        }
        "replicasets" => {
            Api::<ReplicaSet>::namespaced(client, namespace)
                .patch_scale(name, &params, &patch)
                .await?
        }
        "statefulsets" => {
            Api::<StatefulSet>::namespaced(client, namespace)
                .patch_scale(name, &params, &patch)
                .await?
        }
        other => {
            return Err(not_for(
                other,
                "scaled",
                "Deployments, ReplicaSets and StatefulSets",
            ));
        }
    };
    Ok(())
}

/// Restarts a workload's pods by stamping the time on its pod template, as `kubectl rollout
/// restart`: the controller rolls out the "changed" template like any other change.
pub async fn rollout_restart(
    client: Client,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Result<()> {
    let now = k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let patch = Patch::Merge(json!({
        "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT: now } } } }
    }));
    let params = PatchParams::default();
    match resource {
        "deployments" => {
            let api = Objects::<Deployment>::namespaced(client, namespace);
            let deployment = api.get(name).await?;
            if deployment.spec.as_ref().and_then(|s| s.paused) == Some(true) {
                return Err(Error::Local(format!(
                    "Deployment {name} is paused, so a restart would not roll out; resume it first (kubectl rollout resume deployment/{name})."
                )));
            }
            api.patch(name, &params, &patch).await?;
        }
        "statefulsets" => {
            Objects::<StatefulSet>::namespaced(client, namespace)
                .patch(name, &params, &patch)
                .await?;
        }
        "daemonsets" => {
            Objects::<DaemonSet>::namespaced(client, namespace)
                .patch(name, &params, &patch)
                .await?;
        }
        other => {
            return Err(not_for(
                other,
                "restarted",
                "Deployments, StatefulSets and DaemonSets",
            ));
        }
    }
    Ok(())
}

/// "`resource` cannot be `done`; only `which` can."
fn not_for(resource: &str, done: &str, which: &str) -> Error {
    Error::Local(format!(
        "{resource} cannot be {done}; only {which} can. Pick one of those."
    ))
}

/// The local cluster, when `cluster` names it; for any other a clear error saying `what`
/// only works locally.
pub fn local<'a>(app: &'a App, cluster: &str, what: &str) -> Result<&'a Arc<LocalCluster>> {
    if cluster == LOCAL {
        Ok(app.local())
    } else {
        Err(Error::NotLocal {
            what: what.to_owned(),
            cluster: cluster.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
    use kube::api::ListParams;

    use std::str::FromStr;

    use super::testing::{Hollow, eventually, owned_replicasets};
    use super::*;
    use crate::ipc::ErrorCode;
    use crate::ipc::actions::Propagation;

    #[tokio::test]
    async fn delete_cascades_as_asked() {
        let hollow = Hollow::start().await;
        let client = hollow.client.clone();
        let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
        let replicasets = Api::<ReplicaSet>::namespaced(client.clone(), "default");

        // Orphan: the ReplicaSet stays, without its owner reference.
        let orphaned = hollow.deployment("orphaned", "nginx:1", 1).await;
        let rs = eventually("its ReplicaSet", || owned_replicasets(&client, &orphaned)).await;
        delete_object(
            client.clone(),
            "deployments",
            Some("default"),
            "orphaned",
            Propagation::Orphan,
        )
        .await
        .unwrap();
        eventually("the Deployment gone", || async {
            deployments
                .get_opt("orphaned")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
        let rs_name = rs[0].metadata.name.clone().unwrap();
        eventually("the ReplicaSet orphaned", || async {
            let rs = replicasets.get(&rs_name).await.unwrap();
            rs.metadata
                .owner_references
                .unwrap_or_default()
                .is_empty()
                .then_some(())
        })
        .await;
        assert!(replicasets.get_opt(&rs_name).await.unwrap().is_some());

        // Foreground: the Deployment waits, marked, until its ReplicaSet is gone.
        let fg = hollow.deployment("fg", "nginx:1", 1).await;
        let rs = eventually("its ReplicaSet", || owned_replicasets(&client, &fg)).await;
        let rs_name = rs[0].metadata.name.clone().unwrap();
        delete_object(
            client.clone(),
            "deployments",
            Some("default"),
            "fg",
            Propagation::Foreground,
        )
        .await
        .unwrap();
        let marked = deployments.get("fg").await.unwrap();
        assert!(marked.metadata.deletion_timestamp.is_some());
        assert!(
            marked
                .metadata
                .finalizers
                .unwrap_or_default()
                .contains(&"foregroundDeletion".to_owned())
        );
        eventually("the Deployment gone", || async {
            deployments
                .get_opt("fg")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
        assert!(
            replicasets.get_opt(&rs_name).await.unwrap().is_none(),
            "the dependent went before its owner"
        );

        // Background (the default): the Deployment goes at once, the ReplicaSet after.
        let bg = hollow.deployment("bg", "nginx:1", 1).await;
        let rs = eventually("its ReplicaSet", || owned_replicasets(&client, &bg)).await;
        let rs_name = rs[0].metadata.name.clone().unwrap();
        delete_object(
            client.clone(),
            "deployments",
            Some("default"),
            "bg",
            Propagation::Background,
        )
        .await
        .unwrap();
        assert!(deployments.get_opt("bg").await.unwrap().is_none());
        eventually("the ReplicaSet collected", || async {
            replicasets
                .get_opt(&rs_name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;

        // Mistakes say what was wrong.
        let missing = delete_object(
            client.clone(),
            "configmaps",
            Some("default"),
            "nope",
            Propagation::Background,
        )
        .await
        .unwrap_err();
        assert_eq!(
            crate::ipc::AppError::from(missing).code,
            ErrorCode::NotFound
        );
        let unknown = delete_object(
            client.clone(),
            "widgets",
            Some("default"),
            "x",
            Propagation::Background,
        )
        .await
        .unwrap_err();
        assert!(unknown.to_string().contains("widgets"), "{unknown}");
        let no_ns = delete_object(client, "configmaps", None, "x", Propagation::Background)
            .await
            .unwrap_err();
        assert!(no_ns.to_string().contains("namespace"), "{no_ns}");
        hollow.stop().await;
    }

    #[tokio::test]
    async fn scale_goes_through_the_scale_subresource() {
        let hollow = Hollow::start().await;
        let client = hollow.client.clone();
        hollow.deployment("web", "nginx:1", 1).await;
        scale(client.clone(), "deployments", "default", "web", 3)
            .await
            .unwrap();
        let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
        eventually("3 ready replicas", || async {
            let d = deployments.get("web").await.unwrap();
            (d.status?.ready_replicas == Some(3)).then_some(())
        })
        .await;

        // A ReplicaSet of its own, and a StatefulSet.
        let replicasets = hollow
            .create::<ReplicaSet>(json!({
                "metadata": {"name": "solo"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "solo"}},
                    "template": {"metadata": {"labels": {"app": "solo"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
                }
            }))
            .await;
        scale(client.clone(), "replicasets", "default", "solo", 2)
            .await
            .unwrap();
        assert_eq!(
            replicasets
                .get("solo")
                .await
                .unwrap()
                .spec
                .unwrap()
                .replicas,
            Some(2)
        );

        let statefulsets = hollow
            .create::<StatefulSet>(json!({
                "metadata": {"name": "db"},
                "spec": {
                    "replicas": 1,
                    "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}},
                        "spec": {"containers": [{"name": "c", "image": "postgres:1"}]}}
                }
            }))
            .await;
        scale(client.clone(), "statefulsets", "default", "db", 0)
            .await
            .unwrap();
        assert_eq!(
            statefulsets.get("db").await.unwrap().spec.unwrap().replicas,
            Some(0)
        );

        let refused = scale(client.clone(), "daemonsets", "default", "x", 1)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("only Deployments"),
            "{refused}"
        );
        let negative = scale(client.clone(), "deployments", "default", "web", -1)
            .await
            .unwrap_err();
        assert!(negative.to_string().contains("negative"), "{negative}");
        let missing = scale(client, "deployments", "default", "nope", 1)
            .await
            .unwrap_err();
        assert_eq!(
            crate::ipc::AppError::from(missing).code,
            ErrorCode::NotFound
        );
        hollow.stop().await;
    }

    #[tokio::test]
    async fn restart_stamps_the_template_and_rolls_out() {
        let hollow = Hollow::start().await;
        let client = hollow.client.clone();
        let web = hollow.deployment("web", "nginx:1", 1).await;
        eventually("the first ReplicaSet", || owned_replicasets(&client, &web)).await;
        rollout_restart(client.clone(), "deployments", "default", "web")
            .await
            .unwrap();
        let deployments = Api::<Deployment>::namespaced(client.clone(), "default");
        let d = deployments.get("web").await.unwrap();
        let stamp = d
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()[RESTARTED_AT]
            .clone();
        assert!(
            k8s_openapi::jiff::Timestamp::from_str(&stamp).is_ok(),
            "RFC 3339: {stamp}"
        );
        eventually("a second ReplicaSet", || async {
            let rss = owned_replicasets(&client, &web).await?;
            (rss.len() == 2).then_some(())
        })
        .await;
        let refused = rollout_restart(client.clone(), "replicasets", "default", "x")
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("cannot be restarted"),
            "{refused}"
        );
        let all = Api::<ReplicaSet>::namespaced(client, "default")
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_eq!(all.items.len(), 2);
        hollow.stop().await;
    }

    #[tokio::test]
    async fn local_only_actions_refuse_other_clusters() {
        let hollow = Hollow::start().await;
        let app = App::local_only(hollow.local.clone());
        assert!(local(&app, LOCAL, "Adding a node").is_ok());
        let Err(refused) = local(&app, "prod", "Adding a node") else {
            panic!("a remote cluster was taken for the local one");
        };
        let error = crate::ipc::AppError::from(refused);
        assert_eq!(error.code, ErrorCode::Local);
        assert_eq!(
            error.message,
            "Adding a node only works on the local cluster, and \"prod\" is not it."
        );
        hollow.stop().await;
    }
}
