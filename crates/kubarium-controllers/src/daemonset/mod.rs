//! The DaemonSet controller, as kube-controller-manager's `daemonset-controller`: a pod on
//! every node that should run one ([`nodes`]), pinned to it with a required node affinity
//! on `metadata.name` for the scheduler to bind, replaced by template revision with
//! `maxUnavailable`/`maxSurge` or on delete, with its templates kept as ControllerRevisions.
//!
//! Each sync reads the shared caches, decides with [`plan`] (pure, tested there), makes the
//! changes, waits for the caches to show them, and writes the status `kubectl rollout
//! status` reads. Node changes wake every DaemonSet; deletions (of nodes or pods) are not
//! streamed, so each set is looked at again every few seconds.

mod nodes;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::history;
use crate::objects::Objects;
use crate::podstate::{controlled_by, controller_ref, settle, terminating};
use crate::{Context, Error, Result};

/// How soon a sync with changes in flight looks again.
const BUSY: Duration = Duration::from_secs(1);
/// How soon a settled set is looked at again (node and pod deletions are not streamed).
const IDLE: Duration = Duration::from_secs(5);

struct State {
    client: kube::Client,
    nodes: Store<Node>,
    pods: Store<Pod>,
    revisions: Store<ControllerRevision>,
    recorder: Recorder,
}

/// Sets the loop up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let sets = ctx.informers.store::<DaemonSet>();
    let trigger = ctx.informers.subscribe::<DaemonSet>();
    let pod_trigger = ctx.informers.subscribe::<Pod>();
    let node_trigger = ctx.informers.subscribe::<Node>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        nodes: ctx.informers.store::<Node>(),
        pods: ctx.informers.store::<Pod>(),
        revisions: ctx.informers.store::<ControllerRevision>(),
        recorder: ctx.recorder("daemonset-controller"),
    });
    let synced = futures_util::future::join3(
        ctx.informers.synced::<Node>(),
        ctx.informers.synced::<Pod>(),
        ctx.informers.synced::<ControllerRevision>(),
    );
    tasks.spawn(async move {
        synced.await;
        let every_set = sets.clone();
        Controller::for_shared_stream(trigger, sets)
            .owns_shared_stream(pod_trigger)
            .watches_shared_stream(node_trigger, move |_node: Arc<Node>| {
                every_set
                    .state()
                    .iter()
                    .map(|ds| ObjectRef::from_obj(ds.as_ref()))
                    .collect::<Vec<_>>()
            })
            .run(reconcile, error_policy, state)
            .for_each(|_| async {})
            .await;
    });
}

fn error_policy(_ds: Arc<DaemonSet>, error: &Error, _state: Arc<State>) -> Action {
    tracing::debug!(%error, "daemonset sync failed; retrying");
    Action::requeue(if error.is_conflict() { BUSY } else { IDLE })
}

fn owned<K: kube::Resource<DynamicType = ()> + Clone>(
    store: &Store<K>,
    namespace: &str,
    uid: &str,
) -> Vec<Arc<K>> {
    store
        .state()
        .into_iter()
        .filter(|o| {
            o.meta().namespace.as_deref() == Some(namespace)
                && controlled_by(o.meta().owner_references.as_ref(), uid)
        })
        .collect()
}

async fn reconcile(ds: Arc<DaemonSet>, state: Arc<State>) -> Result<Action> {
    let namespace = ds.metadata.namespace.clone().unwrap_or_default();
    let name = ds.metadata.name.clone().unwrap_or_default();
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let Some(spec) = ds.spec.as_ref() else {
        return Ok(Action::await_change());
    };
    let revisions_api = Objects::<ControllerRevision>::namespaced(state.client.clone(), &namespace);
    let revisions = owned(&state.revisions, &namespace, &uid);
    let revision_refs: Vec<&ControllerRevision> = revisions.iter().map(AsRef::as_ref).collect();
    let collisions = ds
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let (revision, collisions) = history::store(
        &revisions_api,
        &namespace,
        &revision_refs,
        &controller_ref(ds.as_ref()),
        &spec.template,
        collisions,
    )
    .await?;
    let hash = revision
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(history::REVISION_LABEL))
        .cloned()
        .unwrap_or_default();

    let all_nodes = state.nodes.state();
    let nodes: Vec<&Node> = all_nodes.iter().map(AsRef::as_ref).collect();
    let pods = owned(&state.pods, &namespace, &uid);
    let pod_refs: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
    let now = jiff::Timestamp::now();
    let planned = plan::plan(&ds, &nodes, &pod_refs, &hash, now);
    if !planned.create_on.is_empty() || !planned.delete.is_empty() {
        tracing::debug!(daemonset = %format!("{namespace}/{name}"), create_on = ?planned.create_on,
            delete = ?planned.delete, nodes = nodes.len(), pods = pods.len(), "daemonset sync");
    }
    let pods_api = Objects::<Pod>::namespaced(state.client.clone(), &namespace);
    for (pod, node) in &planned.failed {
        state.recorder.warning(
            ds.as_ref(),
            "FailedDaemonPod",
            format!(
                "Found failed daemon pod {namespace}/{pod} on node {node}, will try to kill it"
            ),
        );
    }
    for pod in &planned.delete {
        match pods_api.delete(pod, &DeleteParams::default()).await {
            Ok(_) => state.recorder.normal(
                ds.as_ref(),
                "SuccessfulDelete",
                format!("Deleted pod: {pod}"),
            ),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => {
                state.recorder.warning(
                    ds.as_ref(),
                    "FailedDelete",
                    format!("Error deleting: {error}"),
                );
                return Err(Error::api("delete", format!("pods {namespace}/{pod}"))(
                    error,
                ));
            }
        }
        settle(&state.pods, &namespace, pod, |p| p.is_none_or(terminating)).await;
    }
    let template = nodes::daemon_template(&ds, &hash);
    for node in &planned.create_on {
        let pod = new_pod(&ds, &template, node);
        match pods_api.create(&PostParams::default(), &pod).await {
            Ok(created) => {
                let pod_name = created.metadata.name.clone().unwrap_or_default();
                state.recorder.normal(
                    ds.as_ref(),
                    "SuccessfulCreate",
                    format!("Created pod: {pod_name}"),
                );
                settle(&state.pods, &namespace, &pod_name, |p| p.is_some()).await;
            }
            Err(error) => {
                state.recorder.warning(
                    ds.as_ref(),
                    "FailedCreate",
                    format!("Error creating: {error}"),
                );
                return Err(Error::api(
                    "create",
                    format!("pods in {namespace} for {name}"),
                )(error));
            }
        }
    }

    let pods = owned(&state.pods, &namespace, &uid);
    let pod_refs: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
    let status = plan::status(&ds, &nodes, &pod_refs, &hash, collisions, now);
    if ds.status.as_ref() != Some(&status) {
        Objects::<DaemonSet>::namespaced(state.client.clone(), &namespace)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .map_err(Error::api(
                "patch status",
                format!("daemonsets {namespace}/{name}"),
            ))?;
    }

    // History: keep the revisions pods use and the current one, and the newest others.
    let revisions = owned(&state.revisions, &namespace, &uid);
    let revision_refs: Vec<&ControllerRevision> = revisions.iter().map(AsRef::as_ref).collect();
    let mut live: Vec<String> = pod_refs
        .iter()
        .filter_map(|p| p.metadata.labels.as_ref()?.get(history::REVISION_LABEL))
        .map(|h| history::revision_name(&name, h))
        .collect();
    live.push(revision.metadata.name.clone().unwrap_or_default());
    let live: Vec<&str> = live.iter().map(String::as_str).collect();
    for old in history::surplus(
        &revision_refs,
        &live,
        spec.revision_history_limit.unwrap_or(10),
    ) {
        let old_name = old.metadata.name.clone().unwrap_or_default();
        if let Err(error) = revisions_api
            .delete(&old_name, &DeleteParams::default())
            .await
        {
            tracing::debug!(%error, revision = old_name, "could not delete an old revision");
        }
    }

    let busy = !planned.create_on.is_empty()
        || !planned.delete.is_empty()
        || pod_refs.iter().any(|p| terminating(p));
    Ok(Action::requeue(if busy {
        BUSY
    } else {
        planned.requeue.map_or(IDLE, |r| r.min(IDLE))
    }))
}

/// A pod of `ds` from `template`, pinned to `node`.
fn new_pod(
    ds: &DaemonSet,
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    node: &str,
) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.affinity = Some(nodes::pin_to_node(spec.affinity.take(), node));
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-",
                ds.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: ds.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: meta.annotations,
            owner_references: Some(vec![controller_ref(ds)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}
