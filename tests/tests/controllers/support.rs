//! What the scenarios share: a hollow cluster with a client and kubectl.

use std::path::PathBuf;
use std::time::Duration;

use kubarium_tests::daemon::Daemon;

/// How long a scenario waits for the cluster to settle before it fails.
pub(crate) const SETTLE: Duration = Duration::from_secs(60);

/// A `kubariumd --runtime hollow --nodes <nodes>` on a port of its own.
pub(crate) struct Hollow {
    pub(crate) daemon: Daemon,
    pub(crate) client: kube::Client,
}

impl Hollow {
    /// Starts the daemon with `nodes` hollow nodes plus `args`.
    pub(crate) async fn start(nodes: u32, args: &[&str]) -> Self {
        let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
        let nodes = nodes.to_string();
        let mut all = vec!["--listen", &listen, "--nodes", &nodes];
        all.extend_from_slice(args);
        let daemon = Daemon::start(&all);
        let client = daemon.client().await;
        Self { daemon, client }
    }

    /// The kubeconfig kubectl should use.
    pub(crate) fn kubeconfig(&self) -> PathBuf {
        self.daemon.kubeconfig()
    }

    /// Runs the kubectl on PATH against this cluster; panics with its output if it fails.
    pub(crate) fn kubectl(&self, args: &[&str]) -> String {
        kubarium_tests::kubectl(std::path::Path::new("kubectl"), &self.kubeconfig(), args)
    }
}

/// Stands in for the scheduler, the hollow node agents and the pod garbage collector while
/// they are not in main (drop it once they are): it registers `nodes` (the first tainted
/// `node-role.kubernetes.io/control-plane:NoSchedule`, as the contract's control-plane
/// node), binds each unbound pod to the node its `metadata.name` node affinity names or
/// else to the untainted node with fewest pods, reports bound pods `Running` and ready,
/// removes pods being deleted with `gracePeriodSeconds: 0`, and deletes pods bound to a
/// node that no longer exists. It polls the API; it stops when dropped.
pub(crate) struct StandInNodes {
    task: tokio::task::JoinHandle<()>,
}

impl StandInNodes {
    pub(crate) async fn start(client: &kube::Client, nodes: &[&str]) -> Self {
        use k8s_openapi::api::core::v1::Node;
        let api = kube::Api::<Node>::all(client.clone());
        for (i, name) in nodes.iter().enumerate() {
            let taints = if i == 0 {
                serde_json::json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
            } else {
                serde_json::json!([])
            };
            let node: Node = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
                "spec": {"taints": taints},
            }))
            .unwrap();
            let _ = api.create(&Default::default(), &node).await;
        }
        let client = client.clone();
        let task = tokio::spawn(async move {
            loop {
                stand_in_nodes::pass(&client).await;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        Self { task }
    }
}

impl Drop for StandInNodes {
    fn drop(&mut self) {
        self.task.abort();
    }
}

mod stand_in_nodes {
    use std::collections::HashMap;

    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
    use kube::{Api, ResourceExt};
    use serde_json::json;

    fn pinned(pod: &Pod) -> Option<String> {
        let terms = &pod
            .spec
            .as_ref()?
            .affinity
            .as_ref()?
            .node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()?
            .node_selector_terms;
        terms
            .iter()
            .flat_map(|t| t.match_fields.iter().flatten())
            .find(|f| f.key == "metadata.name")
            .and_then(|f| f.values.as_ref()?.first().cloned())
    }

    pub(super) async fn pass(client: &kube::Client) {
        let (Ok(nodes), Ok(pods)) = (
            Api::<Node>::all(client.clone())
                .list(&ListParams::default())
                .await,
            Api::<Pod>::all(client.clone())
                .list(&ListParams::default())
                .await,
        ) else {
            return;
        };
        let mut load: HashMap<String, usize> =
            nodes.items.iter().map(|n| (n.name_any(), 0)).collect();
        for pod in &pods.items {
            if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                *load.entry(node).or_default() += 1;
            }
        }
        let untainted: Vec<String> = nodes
            .items
            .iter()
            .filter(|n| {
                n.spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .is_none_or(Vec::is_empty)
            })
            .map(|n| n.name_any())
            .collect();
        for pod in pods.items {
            let api = Api::<Pod>::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
            let name = pod.name_any();
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            if pod.metadata.deletion_timestamp.is_some() {
                let _ = api
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
                continue;
            }
            let Some(node) = node else {
                let exists = |n: &String| nodes.items.iter().any(|node| node.name_any() == *n);
                let target = pinned(&pod).filter(exists).or_else(|| {
                    untainted
                        .iter()
                        .min_by_key(|n| load.get(*n).copied().unwrap_or(0))
                        .cloned()
                });
                if let Some(target) = target {
                    let binding = json!({
                        "apiVersion": "v1", "kind": "Binding",
                        "metadata": {"name": name},
                        "target": {"apiVersion": "v1", "kind": "Node", "name": target},
                    });
                    let bound: Result<serde_json::Value, _> = api
                        .create_subresource("binding", &name, &PostParams::default(), &binding)
                        .await;
                    if bound.is_ok() {
                        *load.entry(target).or_default() += 1;
                    }
                }
                continue;
            };
            if !nodes.items.iter().any(|n| n.name_any() == node) {
                let _ = api
                    .delete(&name, &DeleteParams::default().grace_period(0))
                    .await;
                continue;
            }
            if pod.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running") {
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let running = json!({"status": {
                    "phase": "Running",
                    "startTime": now,
                    "podIP": "10.244.0.10",
                    "conditions": [
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                        {"type": "Ready", "status": "True", "lastTransitionTime": now},
                    ],
                }});
                let _ = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(running))
                    .await;
            }
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics naming `what` after
/// [`SETTLE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {SETTLE:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A pod as a watch saw it: name, uid, ready, being deleted.
pub(crate) type PodState = (String, String, bool, bool);

/// Every state of the pods in `namespace` as a watch delivers them, in order, from now on:
/// (pod name, uid, ready, being deleted). For assertions on the order things happened in.
pub(crate) struct PodHistory {
    seen: std::sync::Arc<std::sync::Mutex<Vec<PodState>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PodHistory {
    pub(crate) async fn start(client: &kube::Client, namespace: &str) -> Self {
        use futures_util::StreamExt;
        use k8s_openapi::api::core::v1::Pod;
        use kube::runtime::{WatchStreamExt, watcher};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = seen.clone();
        let api = kube::Api::<Pod>::namespaced(client.clone(), namespace);
        let (started, ready) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut started = Some(started);
            let mut events =
                std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
            while let Some(event) = events.next().await {
                let pod = match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(started) = started.take() {
                            let _ = started.send(());
                        }
                        continue;
                    }
                    Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => pod,
                    Ok(watcher::Event::Delete(pod)) => {
                        let mut pod = pod;
                        pod.metadata.deletion_timestamp =
                            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                                k8s_openapi::jiff::Timestamp::now(),
                            ));
                        pod
                    }
                    _ => continue,
                };
                let ready = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                into.lock().unwrap().push((
                    pod.metadata.name.clone().unwrap_or_default(),
                    pod.metadata.uid.clone().unwrap_or_default(),
                    ready,
                    pod.metadata.deletion_timestamp.is_some(),
                ));
            }
        });
        let _ = ready.await;
        Self { seen, task }
    }

    /// The states seen so far.
    pub(crate) fn states(&self) -> Vec<PodState> {
        self.seen.lock().unwrap().clone()
    }

    /// Index of the first state of pod `name` satisfying `check`.
    pub(crate) fn first(&self, name: &str, check: impl Fn(bool, bool) -> bool) -> Option<usize> {
        self.states()
            .iter()
            .position(|(n, _, ready, deleting)| n == name && check(*ready, *deleting))
    }
}

impl Drop for PodHistory {
    fn drop(&mut self) {
        self.task.abort();
    }
}
