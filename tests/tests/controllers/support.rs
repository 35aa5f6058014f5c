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

/// Stands in for the scheduler and the hollow node agents while they are not in main (drop
/// it once they are): every new pod goes `Running` and ready, and `restartPolicy: Never`
/// pods then exit as hollow containers do — after `hollow.kubarium.dev/run-for` (default
/// 1 s) with `hollow.kubarium.dev/exit-code` (default 0). A pod being deleted is removed
/// with `gracePeriodSeconds: 0`, as the kubelet does. Stops when dropped.
pub(crate) struct StandInKubelet {
    task: tokio::task::JoinHandle<()>,
}

impl StandInKubelet {
    pub(crate) fn start(client: kube::Client) -> Self {
        use futures_util::StreamExt;
        use k8s_openapi::api::core::v1::Pod;
        use kube::runtime::{WatchStreamExt, watcher};
        let task = tokio::spawn(async move {
            let pods = kube::Api::<Pod>::all(client.clone());
            let mut started = std::collections::HashSet::new();
            let mut events = std::pin::pin!(
                watcher(pods, watcher::Config::default())
                    .default_backoff()
                    .applied_objects()
            );
            while let Some(event) = events.next().await {
                let Ok(pod) = event else { continue };
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if pod.metadata.deletion_timestamp.is_some() {
                    tokio::spawn(stand_in::remove(client.clone(), pod));
                } else if started.insert(uid) {
                    tokio::spawn(stand_in::run(client.clone(), pod));
                }
            }
        });
        Self { task }
    }
}

impl Drop for StandInKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

mod stand_in {
    use std::time::Duration;

    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{DeleteParams, Patch, PatchParams};
    use kube::{Api, ResourceExt};
    use serde_json::json;

    pub(super) async fn remove(client: kube::Client, pod: Pod) {
        let api = Api::<Pod>::namespaced(client, &pod.namespace().unwrap_or_default());
        let _ = api
            .delete(&pod.name_any(), &DeleteParams::default().grace_period(0))
            .await;
    }

    pub(super) async fn run(client: kube::Client, pod: Pod) {
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        if matches!(phase.as_deref(), Some("Succeeded" | "Failed")) {
            return;
        }
        let api = Api::<Pod>::namespaced(client, &pod.namespace().unwrap_or_default());
        let name = pod.name_any();
        let annotation = |key: &str| pod.annotations().get(key).cloned();
        let container = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let now = || k8s_openapi::jiff::Timestamp::now().to_string();
        let running = json!({"status": {
            "phase": "Running",
            "startTime": now(),
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now()}],
            "containerStatuses": [{"name": container, "ready": true, "restartCount": 0,
                "image": "hollow", "imageID": "", "state": {"running": {"startedAt": now()}}}],
        }});
        if api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(running))
            .await
            .is_err()
        {
            return;
        }
        let restart = pod.spec.as_ref().and_then(|s| s.restart_policy.clone());
        if restart.as_deref() != Some("Never") {
            return;
        }
        let run_for = annotation("hollow.kubarium.dev/run-for")
            .and_then(|d| d.strip_suffix('s').and_then(|s| s.parse::<u64>().ok()))
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(run_for)).await;
        let code: i32 = annotation("hollow.kubarium.dev/exit-code")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (phase, reason) = if code == 0 {
            ("Succeeded", "Completed")
        } else {
            ("Failed", "Error")
        };
        let done = json!({"status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now()}],
            "containerStatuses": [{"name": container, "ready": false, "restartCount": 0,
                "image": "hollow", "imageID": "", "state": {"terminated": {
                    "exitCode": code, "reason": reason, "startedAt": now(), "finishedAt": now()}}}],
        }});
        let _ = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(done))
            .await;
    }
}
