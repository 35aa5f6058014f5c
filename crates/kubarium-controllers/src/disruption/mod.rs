//! The disruption controller, as kube-controller-manager's: keeps each PodDisruptionBudget's
//! status (`expectedPods`, `currentHealthy`, `desiredHealthy`, `disruptionsAllowed`,
//! `disruptedPods`, `observedGeneration`, the `DisruptionAllowed` condition) true to the
//! pods its selector matches, which the API server's eviction subresource reads and
//! decrements. Percentages and `maxUnavailable` are measured against the scale of the pods'
//! controllers (Deployments, ReplicaSets, StatefulSets); where that cannot be found the
//! budget allows nothing (`SyncFailed`), as upstream's fail-safe. An eviction's
//! `disruptedPods` entry counts its pod as gone for two minutes, then lapses; so does the
//! `DisruptionTarget` condition of a pod that was not deleted after all ([`stale`]).
//!
//! The arithmetic is in [`budget`] (pure); this module reads the caches and writes status.

mod budget;
mod stale;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::PostParams;
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::objects::Objects;
use crate::{Context, Error, Result};
use budget::Scale;

/// Source component of the events, as upstream's disruption controller names itself.
const COMPONENT: &str = "controllermanager";

struct State {
    client: Client,
    pods: Store<Pod>,
    replicasets: Store<ReplicaSet>,
    deployments: Store<Deployment>,
    statefulsets: Store<StatefulSet>,
    recorder: Recorder,
}

/// Sets the loop up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    stale::start(ctx, tasks);
    let budgets = ctx.informers.store::<PodDisruptionBudget>();
    let trigger = ctx.informers.subscribe::<PodDisruptionBudget>();
    let pod_changes = ctx.informers.subscribe::<Pod>();
    let pod_deletions = ctx.informers.deletions::<Pod>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        pods: ctx.informers.store::<Pod>(),
        replicasets: ctx.informers.store::<ReplicaSet>(),
        deployments: ctx.informers.store::<Deployment>(),
        statefulsets: ctx.informers.store::<StatefulSet>(),
        recorder: ctx.recorder(COMPONENT),
    });
    let synced = futures_util::future::join4(
        ctx.informers.synced::<Pod>(),
        ctx.informers.synced::<ReplicaSet>(),
        ctx.informers.synced::<Deployment>(),
        ctx.informers.synced::<StatefulSet>(),
    );
    tasks.spawn(async move {
        synced.await;
        let changed = budgets.clone();
        let deleted = budgets.clone();
        Controller::for_shared_stream(trigger, budgets)
            .watches_shared_stream(pod_changes, move |pod| budgets_of(&changed, &pod))
            .watches_shared_stream(pod_deletions, move |pod| budgets_of(&deleted, &pod))
            .run(reconcile, error_policy, state)
            .for_each(|_| async {})
            .await;
    });
}

/// The budgets of the pod's namespace whose selector matches it.
fn budgets_of(
    budgets: &Store<PodDisruptionBudget>,
    pod: &Pod,
) -> Vec<ObjectRef<PodDisruptionBudget>> {
    let labels = pod.labels().clone();
    budgets
        .state()
        .iter()
        .filter(|b| b.metadata.namespace == pod.metadata.namespace)
        .filter(|b| selector_of(b).is_some_and(|s| s.matches(&labels)))
        .map(|b| ObjectRef::from_obj(b.as_ref()))
        .collect()
}

/// The budget's selector; none (matching nothing) when it is unset or does not convert.
fn selector_of(budget: &PodDisruptionBudget) -> Option<Selector> {
    let selector = budget.spec.as_ref()?.selector.clone()?;
    selector.try_into().ok()
}

fn error_policy(budget: Arc<PodDisruptionBudget>, error: &Error, _: Arc<State>) -> Action {
    if error.is_conflict() {
        Action::requeue(Duration::from_millis(100))
    } else {
        tracing::warn!(budget = %budget.name_any(), %error, "disruption budget sync failed; retrying");
        Action::requeue(Duration::from_secs(1))
    }
}

async fn reconcile(budget: Arc<PodDisruptionBudget>, state: Arc<State>) -> Result<Action> {
    match try_sync(&budget, &state).await {
        Ok(action) => Ok(action),
        // A lost race is retried as it is, without the fail-safe.
        Err(SyncError::Api(error)) if error.is_conflict() || error.is_not_found() => Err(error),
        Err(failure) => {
            let message = failure.to_string();
            tracing::warn!(budget = %budget.name_any(), %message, "disruption budget sync failed");
            let status = budget::failed_status(&budget, message, Timestamp::now());
            write_status(&state, &budget, status).await?;
            // As upstream: a written fail-safe is not retried; the next change of the budget
            // or of its pods syncs it again.
            Ok(Action::await_change())
        }
    }
}

/// Why a budget's status could not be computed or written.
#[derive(Debug, thiserror::Error)]
enum SyncError {
    /// The expected pod count needs a controller that is missing or has no scale.
    #[error("{0}")]
    Count(String),
    /// Writing the status failed.
    #[error(transparent)]
    Api(#[from] Error),
}

/// Upstream's `trySync`.
async fn try_sync(budget: &PodDisruptionBudget, state: &State) -> Result<Action, SyncError> {
    let namespace = budget.namespace().unwrap_or_default();
    let all = state.pods.state();
    let pods: Vec<&Pod> = match selector_of(budget) {
        Some(selector) => all
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
            .filter(|p| selector.matches(p.labels()))
            .collect(),
        None => Vec::new(),
    };
    if pods.is_empty() {
        state
            .recorder
            .normal(budget, "NoPods", "No matching pods found".to_owned());
    }
    let spec = budget.spec.clone().unwrap_or_default();
    let counts =
        match budget::expected_pod_count(&spec, &pods, |owner, ns| find_scale(state, owner, ns)) {
            Ok(counts) => counts,
            Err(error) => {
                state.recorder.warning(
                    budget,
                    "CalculateExpectedPodCountFailed",
                    format!("Failed to calculate the number of expected pods: {error}"),
                );
                return Err(SyncError::Count(error));
            }
        };
    if !counts.unmanaged.is_empty() {
        let selector = spec
            .selector
            .as_ref()
            .and_then(|s| Selector::try_from(s.clone()).ok())
            .map(|s| s.to_string())
            .unwrap_or_default();
        state.recorder.warning(
            budget,
            "UnmanagedPods",
            format!(
                "Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value."
            ),
        );
    }
    let now = Timestamp::now();
    let (disrupted, expired, recheck) = budget::disrupted_pods(budget, &pods, now);
    for name in expired {
        if let Some(pod) = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(&name))
        {
            state.recorder.warning(
                *pod,
                "NotDeleted",
                format!(
                    "Pod was expected by PDB {namespace}/{} to be deleted but it wasn't",
                    budget.name_any()
                ),
            );
        }
    }
    let healthy = budget::healthy_pods(&pods, &disrupted, now);
    if let Some(status) = budget::next_status(budget, healthy, &counts, disrupted, now) {
        write_status(state, budget, status).await?;
    }
    Ok(match recheck {
        Some(at) => Action::requeue(
            at.duration_since(now)
                .unsigned_abs()
                .max(Duration::from_millis(100)),
        ),
        None => Action::await_change(),
    })
}

/// Writes the budget's status with the resourceVersion it was read at, as upstream's
/// `UpdateStatus`: a budget changed since (an eviction decremented it) is a conflict, and
/// the next sync reads it again.
async fn write_status(
    state: &State,
    budget: &PodDisruptionBudget,
    status: PodDisruptionBudgetStatus,
) -> Result<()> {
    let namespace = budget.namespace().unwrap_or_default();
    let name = budget.name_any();
    let mut updated = budget.clone();
    updated.status = Some(status);
    Objects::<PodDisruptionBudget>::namespaced(state.client.clone(), &namespace)
        .replace_status(&name, &PostParams::default(), &updated)
        .await
        .map(drop)
        .map_err(Error::api(
            "update status",
            format!("poddisruptionbudgets {namespace}/{name}"),
        ))
}

/// Upstream's finders: a pod's ReplicaSet (or that ReplicaSet's Deployment) or StatefulSet
/// and its `spec.replicas`. Kinds without a scale subresource fail the count, as upstream's
/// scale client does; a controller not found is `None`.
fn find_scale(
    state: &State,
    owner: &OwnerReference,
    namespace: &str,
) -> Result<Option<Scale>, String> {
    let group = owner.api_version.split_once('/').map_or("", |(g, _)| g);
    let (name, uid) = (owner.name.as_str(), owner.uid.as_str());
    match (group, owner.kind.as_str()) {
        ("apps" | "extensions", "ReplicaSet") => {
            let Some(rs) = cached(&state.replicasets, name, namespace, uid) else {
                return Ok(None);
            };
            match crate::claim::controller_of(&rs.metadata) {
                // A Deployment's ReplicaSet counts as its Deployment.
                Some(parent) if parent.kind == "Deployment" => {
                    Ok(
                        cached(&state.deployments, &parent.name, namespace, &parent.uid)
                            .map(|d| scale(&parent.uid, d.spec.as_ref().and_then(|s| s.replicas))),
                    )
                }
                _ => Ok(Some(scale(uid, rs.spec.as_ref().and_then(|s| s.replicas)))),
            }
        }
        ("apps", "StatefulSet") => Ok(cached(&state.statefulsets, name, namespace, uid)
            .map(|ss| scale(uid, ss.spec.as_ref().and_then(|s| s.replicas)))),
        ("apps", "Deployment") => Ok(cached(&state.deployments, name, namespace, uid)
            .map(|d| scale(uid, d.spec.as_ref().and_then(|s| s.replicas)))),
        ("apps", "DaemonSet") => Err(no_scale("daemonsets.apps")),
        ("batch", "Job") => Err(no_scale("jobs.batch")),
        ("batch", "CronJob") => Err(no_scale("cronjobs.batch")),
        ("", "Node") => Err(no_scale("nodes")),
        (_, kind) => Err(format!(
            "no matches for kind \"{kind}\" in version \"{}\"",
            owner.api_version
        )),
    }
}

/// The cached object `namespace/name`, if it is the one with `uid`.
fn cached<K>(store: &Store<K>, name: &str, namespace: &str, uid: &str) -> Option<Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone,
{
    store
        .get(&ObjectRef::new(name).within(namespace))
        .filter(|o| o.meta().uid.as_deref() == Some(uid))
}

/// A controller's scale: `spec.replicas`, defaulting to 1 as the API server does.
fn scale(uid: &str, replicas: Option<i32>) -> Scale {
    Scale {
        uid: uid.to_owned(),
        replicas: replicas.unwrap_or(1),
    }
}

fn no_scale(resource: &str) -> String {
    format!("{resource} does not implement the scale subresource")
}
