//! The pods' side of the pool: one watch on every bound pod, handing each to its worker.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use super::{PodEntry, Shared, State, lock};

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

    fn on_pod(self: &Arc<Self>, pod: Pod) {
        let (Some(uid), Some(node)) = (
            pod.metadata.uid.clone(),
            pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        ) else {
            return;
        };
        let pod = Arc::new(pod);
        let mut state = lock(&self.state);
        let entry = state.pods.entry(uid.clone()).or_insert_with(|| PodEntry {
            node,
            worker: None,
            pod: pod.clone(),
        });
        entry.pod = pod.clone();
        match &entry.worker {
            Some((sender, _)) => {
                sender.send_replace(pod);
            }
            None => self.spawn_worker(&mut state, &uid),
        }
    }

    fn on_pod_deleted(&self, uid: &str) {
        lock(&self.state).pods.remove(uid);
        self.containers.forget(uid);
    }

    /// Follows every bound pod until aborted: one watch for all the pool's agents.
    pub(super) async fn watch_pods(self: Arc<Self>) {
        let api = Api::<Pod>::all(self.client.clone());
        let config = watcher::Config::default().fields("spec.nodeName!=");
        let stream = watcher(api, config).default_backoff();
        futures_util::pin_mut!(stream);
        let mut listed: Option<HashSet<String>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(pod)) => self.on_pod(pod),
                Ok(watcher::Event::Delete(pod)) => {
                    if let Some(uid) = pod.metadata.uid.as_deref() {
                        self.on_pod_deleted(uid);
                    }
                }
                Ok(watcher::Event::Init) => listed = Some(HashSet::new()),
                Ok(watcher::Event::InitApply(pod)) => {
                    if let (Some(listed), Some(uid)) = (listed.as_mut(), pod.metadata.uid.clone()) {
                        listed.insert(uid);
                    }
                    self.on_pod(pod);
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(listed) = listed.take() {
                        lock(&self.state).pods.retain(|uid, _| listed.contains(uid));
                    }
                }
                Err(error) => tracing::debug!(%error, "pod watch failed; retrying"),
            }
        }
    }
}
