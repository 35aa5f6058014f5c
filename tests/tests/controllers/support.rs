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
        Self::start_env(nodes, args, &[]).await
    }

    /// Starts the daemon with `nodes` hollow nodes plus `args`, and `env` (such as a
    /// `RUST_LOG` that says more about the loops a scenario exercises).
    pub(crate) async fn start_env(nodes: u32, args: &[&str], env: &[(&str, &str)]) -> Self {
        let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
        let nodes = nodes.to_string();
        let mut all = vec!["--listen", &listen, "--nodes", &nodes];
        all.extend_from_slice(args);
        let daemon = Daemon::start_in_env(tempfile::TempDir::new().unwrap(), &all, env);
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

/// Polls `check` every 100 ms until it returns `Some`, or panics naming `what` after
/// [`SETTLE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    settles(what, || {
        let checked = check();
        async move { checked.await.ok_or_else(String::new) }
    })
    .await
}

/// Polls `check` every 100 ms until it returns `Ok`, or panics after [`SETTLE`] naming
/// `what` and what the last `Err` said was seen instead (if it said anything).
pub(crate) async fn settles<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            let seen = if seen.is_empty() {
                String::new()
            } else {
                format!("; last seen: {seen}")
            };
            panic!("timed out after {SETTLE:?} waiting for {what}{seen}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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
