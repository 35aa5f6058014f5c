//! The pods' side of the pool: every bound pod, from the control plane's pod informer,
//! handed to its worker.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kubarium_controllers::informers::Events;
use kube::runtime::watcher;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

use super::{PodEntry, Shared, State, lock};

/// How often running pods' service account tokens are looked at for renewal.
const TOKEN_CHECK: std::time::Duration = std::time::Duration::from_secs(60);
use crate::pod::downward::PodContext;
use crate::pod::sources::Changed;
use crate::pod::volumes;

impl Shared {
    /// Starts the worker of pod `uid` if its node has an agent whose runtime runs pods.
    pub(super) fn spawn_worker(self: &Arc<Self>, state: &mut State, uid: &str) {
        if self.runtime.ready().is_err() {
            return;
        }
        let Some(entry) = state.pods.get(uid) else {
            return;
        };
        let Some(agent) = state.agents.get(&entry.node) else {
            return;
        };
        let (sender, updates) = watch::channel(entry.pod.clone());
        let abort = crate::pod::spawn(
            self.clone(),
            agent.identity.clone(),
            agent.running.subscribe(),
            updates,
        );
        if let Some(entry) = state.pods.get_mut(uid) {
            entry.worker = Some((sender, abort));
        }
    }

    /// Hands a pod to its worker; a pod not bound to a node yet is not the agents' business.
    fn on_pod(self: &Arc<Self>, pod: Arc<Pod>) {
        let (Some(uid), Some(node)) = (
            pod.metadata.uid.clone(),
            pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        ) else {
            return;
        };
        let mut state = lock(&self.state);
        let entry = state.pods.entry(uid.clone()).or_insert_with(|| PodEntry {
            node,
            worker: None,
            pod: pod.clone(),
        });
        entry.pod = pod.clone();
        let resync = match &entry.worker {
            Some((sender, _)) => {
                let mut resync = false;
                sender.send_if_modified(|previous| {
                    resync = volumes::shows_fields(&pod)
                        && (previous.metadata.labels != pod.metadata.labels
                            || previous.metadata.annotations != pod.metadata.annotations);
                    let wake = worker_acts_on(previous, &pod);
                    *previous = pod.clone();
                    wake
                });
                resync
            }
            None => {
                self.spawn_worker(&mut state, &uid);
                false
            }
        };
        drop(state);
        if resync {
            let shared = self.clone();
            tokio::spawn(async move { shared.resync_volumes(&pod).await });
        }
    }

    fn on_pod_deleted(&self, uid: &str) {
        lock(&self.state).pods.remove(uid);
        self.containers.forget(uid);
        crate::pod::volumes::remove(&self.sources, uid);
    }

    /// Wakes the workers of the pods that use a ConfigMap or Secret that changed (a
    /// container waiting on it tries again) and re-syncs their volumes, so running
    /// containers see the new files.
    pub(super) async fn follow_sources(self: Arc<Self>, mut changes: UnboundedReceiver<Changed>) {
        let mut tokens = tokio::time::interval(TOKEN_CHECK);
        tokens.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let users: Vec<Arc<Pod>> = tokio::select! {
                change = changes.recv() => {
                    let Some(change) = change else { return };
                    let state = lock(&self.state);
                    state
                        .pods
                        .values()
                        .filter(|entry| {
                            entry.pod.metadata.namespace.as_deref()
                                == Some(change.namespace.as_str())
                                && volumes::uses(&entry.pod, change.secret, &change.name)
                        })
                        .filter_map(|entry| {
                            let (sender, _) = entry.worker.as_ref()?;
                            sender.send_replace(entry.pod.clone());
                            Some(entry.pod.clone())
                        })
                        .collect()
                }
                _ = tokens.tick() => {
                    // Service account tokens are renewed at 80% of their life, as the
                    // kubelet's token manager does.
                    let state = lock(&self.state);
                    state
                        .pods
                        .values()
                        .filter(|entry| entry.worker.is_some() && volumes::has_tokens(&entry.pod))
                        .map(|entry| entry.pod.clone())
                        .collect()
                }
            };
            for pod in users {
                self.resync_volumes(&pod).await;
            }
        }
    }

    /// Re-syncs the volumes of a running pod from what its sources hold now.
    async fn resync_volumes(&self, pod: &Pod) {
        if self.runtime.name() == "hollow" {
            return;
        }
        let status = pod.status.as_ref();
        let context = PodContext {
            pod,
            pod_ip: status.and_then(|s| s.pod_ip.clone()),
            host_ip: status.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
            allocatable: &self.sources.allocatable,
        };
        volumes::resync(&self.sources, &context).await;
    }

    /// Follows every bound pod until aborted, through the control plane's pod informer
    /// (`pods`): the agents share its cache's copies rather than keeping their own watch.
    pub(super) async fn follow_pods(self: Arc<Self>, pods: Events<Pod>) {
        futures_util::pin_mut!(pods);
        let mut listed: Option<HashSet<String>> = None;
        let mut sweeper = None;
        while let Some(event) = pods.next().await {
            match event {
                watcher::Event::Apply(pod) => self.on_pod(pod),
                watcher::Event::Delete(pod) => {
                    // A pod deleted before it was bound never reached an agent: nothing of
                    // it to forget, no directory to remove.
                    let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
                    if bound && let Some(uid) = pod.metadata.uid.as_deref() {
                        self.on_pod_deleted(uid);
                    }
                }
                watcher::Event::Init => listed = Some(HashSet::new()),
                watcher::Event::InitApply(pod) => {
                    if let (Some(listed), Some(uid)) = (listed.as_mut(), pod.metadata.uid.clone()) {
                        listed.insert(uid);
                    }
                    self.on_pod(pod);
                }
                watcher::Event::InitDone => {
                    if let Some(listed) = listed.take() {
                        lock(&self.state).pods.retain(|uid, _| listed.contains(uid));
                        volumes::remove_others(&self.sources, &listed);
                    }
                    tokio::spawn(self.clone().remove_orphans());
                    sweeper.get_or_insert_with(|| self.start_sweeping());
                }
            }
        }
    }
}

/// Whether a pod's new copy is something for its worker to act on, as the kubelet's pod
/// config tells an update from a reconcile (`podsDifferSemantically`): its spec, labels,
/// annotations or deletion changed; or, for a pod with readiness gates, its conditions,
/// which decide its `Ready` (`NeedToReconcilePodReadiness`). Any other change to the status
/// (the echo of the worker's own write above all) only refreshes the copy the worker reads
/// when it next wakes.
fn worker_acts_on(before: &Pod, after: &Pod) -> bool {
    let (was, is) = (&before.metadata, &after.metadata);
    if before.spec != after.spec
        || was.labels != is.labels
        || was.annotations != is.annotations
        || was.deletion_timestamp != is.deletion_timestamp
        || was.deletion_grace_period_seconds != is.deletion_grace_period_seconds
    {
        return true;
    }
    let gated = after
        .spec
        .as_ref()
        .and_then(|spec| spec.readiness_gates.as_ref())
        .is_some_and(|gates| !gates.is_empty());
    gated && conditions(before) != conditions(after)
}

fn conditions(pod: &Pod) -> Option<&Vec<k8s_openapi::api::core::v1::PodCondition>> {
    pod.status.as_ref()?.conditions.as_ref()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodReadinessGate, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use serde_json::json;

    use super::*;

    fn condition(type_: &str) -> PodCondition {
        PodCondition {
            type_: type_.into(),
            status: "True".into(),
            ..PodCondition::default()
        }
    }

    #[test]
    fn a_worker_wakes_for_what_the_kubelet_acts_on() {
        let before: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "uid": "u1", "resourceVersion": "1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "a", "image": "nginx"}]},
        }))
        .unwrap();
        let wakes = |change: &dyn Fn(&mut Pod)| {
            let mut after = before.clone();
            change(&mut after);
            worker_acts_on(&before, &after)
        };
        // The echo of the worker's own status write, and any other status-only change.
        assert!(!wakes(&|pod| {
            pod.metadata.resource_version = Some("2".into());
            pod.status = Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![condition("Ready")]),
                ..PodStatus::default()
            });
        }));
        assert!(wakes(&|pod| {
            pod.metadata.labels = Some([("app".into(), "api".into())].into());
        }));
        assert!(wakes(&|pod| {
            pod.metadata.annotations = Some([("a".into(), "b".into())].into());
        }));
        assert!(wakes(&|pod| {
            pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        }));
        assert!(wakes(&|pod| {
            pod.spec.as_mut().unwrap().active_deadline_seconds = Some(5);
        }));

        // With a readiness gate, a condition's change wakes the worker: it decides `Ready`.
        let gated = |pod: &mut Pod| {
            pod.spec.as_mut().unwrap().readiness_gates = Some(vec![PodReadinessGate {
                condition_type: "example.com/lb".into(),
            }]);
        };
        let mut before = before.clone();
        gated(&mut before);
        let mut after = before.clone();
        after.status = Some(PodStatus {
            conditions: Some(vec![condition("example.com/lb")]),
            ..PodStatus::default()
        });
        assert!(worker_acts_on(&before, &after));
    }
}
