//! The pods' side of the pool: every bound pod, from the control plane's pod informer,
//! handed to its worker.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kubarium_controllers::informers::Events;
use kube::runtime::watcher;
use tokio::sync::mpsc::UnboundedReceiver;

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
        let worker = crate::pod::spawn(
            self.clone(),
            agent.identity.clone(),
            agent.running.subscribe(),
            entry.pod.clone(),
        );
        if let Some(entry) = state.pods.get_mut(uid) {
            entry.worker = Some(worker);
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
            Some(worker) => {
                // Every copy goes to the worker, which decides whether it calls for a pass
                // (`pod::wake`) and otherwise keeps it as its own: no older copy of a pod
                // outlives the cache's.
                let mut resync = false;
                worker.updates.send_modify(|previous| {
                    resync = volumes::shows_fields(&pod)
                        && (previous.metadata.labels != pod.metadata.labels
                            || previous.metadata.annotations != pod.metadata.annotations);
                    *previous = pod.clone();
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
                            entry.worker.as_ref()?.nudge();
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
