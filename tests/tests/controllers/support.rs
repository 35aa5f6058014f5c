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

/// Test double for the scheduler and node agents until they land: a task that marks every
/// pod without a node Running and Ready through the status subresource, as a kubelet
/// would report it (pods labelled `double.kubarium.dev/ready: "never"` stay Pending).
/// Stops when dropped.
pub(crate) struct PodsReadyDouble(tokio::task::JoinHandle<()>);

impl PodsReadyDouble {
    pub(crate) fn start(client: &kube::Client) -> Self {
        use futures_util::StreamExt;
        use k8s_openapi::api::core::v1::Pod;
        use kube::api::{Patch, PatchParams};
        use kube::runtime::watcher;
        let pods = kube::Api::<Pod>::all(client.clone());
        Self(tokio::spawn(async move {
            let stream = watcher(pods.clone(), watcher::Config::default());
            futures_util::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                let Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event else {
                    continue;
                };
                let spec = pod.spec.clone().unwrap_or_default();
                let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
                let never = pod
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("double.kubarium.dev/ready"))
                    .is_some_and(|v| v == "never");
                if spec.node_name.is_some()
                    || pod.metadata.deletion_timestamp.is_some()
                    || phase.as_deref() == Some("Running")
                    || never
                {
                    continue;
                }
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let condition = |t: &str| serde_json::json!({"type": t, "status": "True", "lastTransitionTime": now});
                let containers: Vec<_> = spec
                    .containers
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "name": c.name, "image": c.image, "imageID": "", "ready": true,
                            "started": true, "restartCount": 0,
                            "state": {"running": {"startedAt": now}},
                        })
                    })
                    .collect();
                let status = serde_json::json!({"status": {
                    "phase": "Running",
                    "podIP": "10.244.0.10",
                    "startTime": now,
                    "conditions": [condition("PodScheduled"), condition("Initialized"),
                                   condition("ContainersReady"), condition("Ready")],
                    "containerStatuses": containers,
                }});
                let namespaced = kube::Api::<Pod>::namespaced(
                    pods.clone().into_client(),
                    pod.metadata.namespace.as_deref().unwrap_or("default"),
                );
                let name = pod.metadata.name.clone().unwrap_or_default();
                tokio::spawn(async move {
                    let _ = namespaced
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                        .await;
                });
            }
        }))
    }
}

impl Drop for PodsReadyDouble {
    fn drop(&mut self) {
        self.0.abort();
    }
}
