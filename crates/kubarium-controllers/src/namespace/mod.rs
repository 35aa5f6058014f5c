//! The namespace controller: a namespace being deleted (the API server has set its
//! deletionTimestamp, phase `Terminating`, and it still carries the `kubernetes` finalizer in
//! `spec.finalizers`) has everything in it deleted — every namespaced resource the API's
//! discovery reports as deletable, by `deletecollection` where served — then loses that
//! finalizer through `namespaces/{name}/finalize`, and the API server removes it. Pods end
//! gracefully through their node agents; the controller waits for them as upstream does
//! (`pkg/controller/namespace/deletion`), keeping the namespace's deletion conditions
//! ([`conditions`]) current meanwhile.
//!
//! [`serviceaccounts`] holds the two loops that fill active namespaces instead: the `default`
//! ServiceAccount and the `kube-root-ca.crt` ConfigMap.

mod conditions;
mod serviceaccounts;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::discovery::{ApiResource, Discovery, Scope, verbs};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::{Api, Client};
use tokio::task::JoinSet;

use crate::objects::Objects;
use crate::{Context, Error, Result};
use conditions::Findings;

/// The finalizer this controller owns (`spec.finalizers`, not `metadata.finalizers`).
const FINALIZER: &str = "kubernetes";
/// What upstream assumes objects held by finalizers need to go, in seconds.
const FINALIZER_ESTIMATE_SECONDS: i64 = 15;
/// Longest wait before looking again at a namespace whose content is still going. Upstream
/// waits half the estimate (e.g. 16 s for pods with the default grace period); hollow pods
/// end in a moment, so this looks sooner.
const MOST_WAIT: Duration = Duration::from_secs(1);

/// Sets the namespace controller and the service account loops up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let namespaces = ctx.informers.store::<Namespace>();
    let controller =
        Controller::for_shared_stream(ctx.informers.subscribe::<Namespace>(), namespaces)
            .with_config(ControllerConfig::default().concurrency(4));
    tasks.spawn(
        controller
            .run(reconcile, error_policy, Arc::new(ctx.client.clone()))
            .for_each(|_| async {}),
    );
    serviceaccounts::start(ctx, tasks);
}

fn error_policy(_namespace: Arc<Namespace>, error: &Error, _client: Arc<Client>) -> Action {
    tracing::debug!(%error, "namespace deletion failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

async fn reconcile(namespace: Arc<Namespace>, client: Arc<Client>) -> Result<Action> {
    if namespace.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let api = Objects::<Namespace>::all((*client).clone());
    // Several writers touch a terminating namespace: work from its latest state.
    let Some(mut latest) = api
        .get_opt(&name)
        .await
        .map_err(Error::api("get", format!("namespaces/{name}")))?
    else {
        return Ok(Action::await_change());
    };
    let Some(deleted_at) = latest.metadata.deletion_timestamp.clone() else {
        return Ok(Action::await_change());
    };
    if !has_finalizer(&latest) {
        return Ok(Action::await_change());
    }
    let (estimate, findings) = delete_all_content(&client, &name, deleted_at.0).await;
    let status = latest.status.get_or_insert_with(Default::default);
    status.phase = Some("Terminating".into());
    if conditions::update(status, &findings, Timestamp::now()) {
        match api
            .replace_status(&name, &PostParams::default(), &latest)
            .await
        {
            Ok(updated) => latest = updated,
            Err(error) => tracing::debug!(%error, namespace = %name, "could not update conditions"),
        }
    }
    if let Some(error) = findings
        .discovery_error
        .iter()
        .chain(&findings.content_errors)
        .next()
    {
        return Err(Error::Invalid {
            what: format!("namespaces/{name}"),
            reason: error.clone(),
        });
    }
    if estimate > 0 {
        let wait = Duration::from_secs((estimate / 2 + 1) as u64).min(MOST_WAIT);
        return Ok(Action::requeue(wait));
    }
    finalize(&api, latest).await?;
    Ok(Action::await_change())
}

fn has_finalizer(namespace: &Namespace) -> bool {
    namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

/// Removes [`FINALIZER`] from `spec.finalizers` through the `finalize` subresource.
async fn finalize(api: &Objects<Namespace>, mut namespace: Namespace) -> Result<()> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let spec = namespace.spec.get_or_insert_with(Default::default);
    let mut rest: Vec<String> = spec
        .finalizers
        .iter()
        .flatten()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    rest.sort();
    rest.dedup();
    spec.finalizers = Some(rest);
    match api
        .replace_subresource("finalize", &name, &PostParams::default(), &namespace)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(Error::api("finalize", format!("namespaces/{name}"))(error)),
    }
}

/// The namespaced resources discovery reports as deletable, at each group's preferred
/// version (upstream's `ServerPreferredNamespacedResources` filtered to `delete`).
async fn deletable_resources(client: &Client) -> (Vec<(ApiResource, bool)>, Option<String>) {
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(found) => Ok(found),
        Err(_) => Discovery::new(client.clone()).run().await,
    };
    let discovery = match discovery {
        Ok(found) => found,
        Err(error) => return (Vec::new(), Some(error.to_string())),
    };
    let mut resources = Vec::new();
    for group in discovery.groups() {
        for (resource, capabilities) in group.recommended_resources() {
            if capabilities.scope != Scope::Namespaced
                || !capabilities.supports_operation(verbs::DELETE)
            {
                continue;
            }
            let collection = capabilities.supports_operation(verbs::DELETE_COLLECTION);
            resources.push((resource, collection));
        }
    }
    (resources, None)
}

/// Deletes everything in `namespace`; returns how many seconds content may still need to go
/// (0 when none is left) and what was found, for the conditions.
async fn delete_all_content(
    client: &Client,
    namespace: &str,
    deleted_at: Timestamp,
) -> (i64, Findings) {
    let (resources, discovery_error) = deletable_resources(client).await;
    let mut findings = Findings {
        discovery_error,
        ..Findings::default()
    };
    let mut estimate = 0;
    for (resource, collection) in resources {
        match delete_resource(client, namespace, &resource, collection, deleted_at).await {
            Ok(left) => {
                estimate = estimate.max(left.estimate);
                if left.count > 0 {
                    findings.remaining.insert(
                        format!("{}.{}", resource.plural, resource.group),
                        left.count,
                    );
                    for (finalizer, count) in left.finalizers {
                        *findings.finalizers.entry(finalizer).or_default() += count;
                    }
                }
            }
            Err((left, error)) => {
                estimate = estimate.max(left);
                findings.content_errors.push(error);
            }
        }
    }
    (estimate, findings)
}

/// What is left of one resource after a deletion pass.
struct Left {
    estimate: i64,
    count: usize,
    finalizers: BTreeMap<String, usize>,
}

/// Go's `GroupVersionResource.String()`, which upstream's error messages use.
fn gvr(resource: &ApiResource) -> String {
    format!(
        "{}/{}, Resource={}",
        resource.group, resource.version, resource.plural
    )
}

async fn delete_resource(
    client: &Client,
    namespace: &str,
    resource: &ApiResource,
    collection: bool,
    deleted_at: Timestamp,
) -> std::result::Result<Left, (i64, String)> {
    let estimate = graceful_estimate(client, namespace, resource, deleted_at)
        .await
        .map_err(|e| (0, e))?;
    let api = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, resource);
    let background = DeleteParams::background();
    let not_served =
        |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 405);
    let metadata = Api::<PartialObjectMeta<DynamicObject>>::namespaced_with(
        client.clone(),
        namespace,
        resource,
    );
    if collection {
        if let Err(error) = api
            .delete_collection(&background, &ListParams::default())
            .await
            && !not_served(&error)
        {
            return Err((estimate, error.to_string()));
        }
    } else {
        let listed = match metadata.list(&ListParams::default()).await {
            Ok(listed) => listed,
            Err(error) if not_served(&error) => {
                return Ok(Left {
                    estimate,
                    count: 0,
                    finalizers: BTreeMap::new(),
                });
            }
            Err(error) => return Err((estimate, error.to_string())),
        };
        for item in listed.items {
            let name = item.metadata.name.clone().unwrap_or_default();
            if let Err(error) = api.delete(&name, &background).await
                && !not_served(&error)
            {
                return Err((estimate, error.to_string()));
            }
        }
    }
    let left = match metadata.list(&ListParams::default()).await {
        Ok(left) => left.items,
        Err(error) if not_served(&error) => Vec::new(),
        Err(error) => return Err((estimate, error.to_string())),
    };
    if left.is_empty() {
        return Ok(Left {
            estimate: 0,
            count: 0,
            finalizers: BTreeMap::new(),
        });
    }
    let mut finalizers = BTreeMap::new();
    for item in &left {
        for finalizer in item.metadata.finalizers.iter().flatten() {
            *finalizers.entry(finalizer.clone()).or_default() += 1;
        }
    }
    let count = left.len();
    if estimate > 0 {
        return Ok(Left {
            estimate,
            count,
            finalizers,
        });
    }
    if !finalizers.is_empty() {
        return Ok(Left {
            estimate: FINALIZER_ESTIMATE_SECONDS,
            count,
            finalizers,
        });
    }
    Err((
        estimate,
        format!(
            "unexpected items still remain in namespace: {namespace} for gvr: {}",
            gvr(resource)
        ),
    ))
}

/// For pods: the longest grace period of those still running, while the namespace has been
/// terminating for less than that (upstream's `estimateGracefulTermination`).
async fn graceful_estimate(
    client: &Client,
    namespace: &str,
    resource: &ApiResource,
    deleted_at: Timestamp,
) -> std::result::Result<i64, String> {
    if !(resource.group.is_empty() && resource.plural == "pods") {
        return Ok(0);
    }
    let pods = Objects::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .map_err(|e| e.to_string())?;
    let estimate = pod_estimate(&pods.items);
    let elapsed = Timestamp::now().duration_since(deleted_at).as_secs();
    Ok(if elapsed >= estimate { 0 } else { estimate })
}

/// The longest `terminationGracePeriodSeconds` among pods not yet finished.
fn pod_estimate(pods: &[Pod]) -> i64 {
    pods.iter()
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .filter_map(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .max()
        .unwrap_or(0)
        .max(0)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};

    use super::*;

    fn pod(grace: i64, phase: &str) -> Pod {
        Pod {
            spec: Some(PodSpec {
                termination_grace_period_seconds: Some(grace),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn finished_pods_need_no_grace() {
        assert_eq!(
            pod_estimate(&[pod(30, "Running"), pod(60, "Succeeded")]),
            30
        );
        assert_eq!(pod_estimate(&[pod(60, "Failed")]), 0);
    }

    #[test]
    fn resources_read_as_go_prints_them() {
        let pods = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Pod".into(),
            plural: "pods".into(),
        };
        assert_eq!(gvr(&pods), "/v1, Resource=pods");
    }

    #[test]
    fn only_the_kubernetes_finalizer_counts() {
        let mut namespace = Namespace::default();
        assert!(!has_finalizer(&namespace));
        namespace.spec = Some(k8s_openapi::api::core::v1::NamespaceSpec {
            finalizers: Some(vec!["kubernetes".into()]),
        });
        assert!(has_finalizer(&namespace));
    }
}
