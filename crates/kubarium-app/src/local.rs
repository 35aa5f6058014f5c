//! The cluster embedded in the app: started in-process through `kubarium-cluster`, the same
//! library `kubariumd` uses, and watched like any other cluster.

use std::sync::Arc;

use kubarium_cluster::{Cluster, ClusterBuilder, kubeconfig};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};
use tokio::task::JoinHandle;

use crate::ipc::{AppError, ClusterPhase, ClusterStatus, ErrorCode};
use crate::probe;

/// The embedded cluster and its live status.
pub struct LocalCluster {
    status: watch::Sender<ClusterStatus>,
    running: Arc<Mutex<Running>>,
}

/// What runs while the cluster is up.
#[derive(Default)]
struct Running {
    cluster: Option<Cluster>,
    probe: Option<JoinHandle<()>>,
}

impl LocalCluster {
    /// Starts the cluster in the background and returns at once; [`LocalCluster::subscribe`]
    /// reports `starting`, then `connected` or `failed`. Must run inside a Tokio runtime.
    pub fn start(builder: ClusterBuilder) -> Arc<Self> {
        let (status, _) = watch::channel(ClusterStatus {
            name: kubeconfig::CONTEXT.to_owned(),
            local: true,
            phase: ClusterPhase::Starting,
            server_url: None,
            kubeconfig_path: None,
            kubectl_command: None,
            data_dir: None,
            logs_dir: None,
            version: None,
            latency_ms: None,
            error: None,
        });
        let running = Arc::new(Mutex::new(Running::default()));
        // Locked before the start task exists, so a shutdown that comes early waits for the
        // start to finish and then stops what it started.
        let guard = Arc::clone(&running)
            .try_lock_owned()
            .unwrap_or_else(|_| unreachable!("a new mutex is unlocked"));
        let this = Arc::new(Self { status, running });
        let starting = Arc::clone(&this);
        tokio::spawn(async move { starting.run(builder, guard).await });
        this
    }

    async fn run(self: Arc<Self>, builder: ClusterBuilder, mut running: OwnedMutexGuard<Running>) {
        match builder.start().await {
            Ok(cluster) => {
                let data_dir = &cluster.config().data_dir;
                self.status.send_modify(|status| {
                    status.server_url = Some(cluster.server_url().to_owned());
                    status.kubeconfig_path = Some(cluster.kubeconfig_path().display().to_string());
                    status.kubectl_command = Some(kubeconfig::kubectl_command(
                        cluster.kubeconfig_path(),
                        "version",
                    ));
                    status.data_dir = Some(data_dir.display().to_string());
                    status.logs_dir = Some(data_dir.join("logs").display().to_string());
                });
                // Probed through its kubeconfig, over TLS, as kubectl and remote clusters are:
                // "connected" means what a user's tools will find.
                running.probe = Some(tokio::spawn(probe::run(
                    probe::Target::Kubeconfig(cluster.kubeconfig().clone()),
                    self.status.clone(),
                )));
                running.cluster = Some(cluster);
            }
            Err(error) => {
                tracing::error!(%error, "the local cluster could not start");
                self.status.send_modify(|status| {
                    status.phase = ClusterPhase::Failed;
                    status.error = Some(AppError::new(
                        ErrorCode::ClusterStart,
                        format!("The local cluster could not start: {error}."),
                    ));
                });
            }
        }
    }

    /// The current status.
    pub fn status(&self) -> ClusterStatus {
        self.status.borrow().clone()
    }

    /// Every status change from now on (the current one first).
    pub fn subscribe(&self) -> watch::Receiver<ClusterStatus> {
        self.status.subscribe()
    }

    /// Sends the current status, then every change, to `sink` until it returns `false` (the
    /// UI went away) or the cluster is dropped. Spawn the returned future.
    pub fn forward_status(
        &self,
        mut sink: impl FnMut(ClusterStatus) -> bool + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.subscribe();
        async move {
            loop {
                let status = rx.borrow_and_update().clone();
                if !sink(status) || rx.changed().await.is_err() {
                    break;
                }
            }
        }
    }

    /// A client for the cluster, once it runs.
    pub async fn client(&self) -> crate::Result<kube::Client> {
        let running = self.running.lock().await;
        match &running.cluster {
            Some(cluster) => Ok(cluster.client()),
            None => Err(crate::Error::NotRunning(
                self.status.borrow().phase.describe().to_owned(),
            )),
        }
    }

    /// Stops probing and shuts the cluster down cleanly. Idempotent.
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        if let Some(probe) = running.probe.take() {
            probe.abort();
        }
        if let Some(cluster) = running.cluster.take() {
            cluster.shutdown().await;
            self.status.send_modify(|status| {
                status.phase = ClusterPhase::Stopped;
                status.latency_ms = None;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait_for(
        rx: &mut watch::Receiver<ClusterStatus>,
        phase: ClusterPhase,
    ) -> ClusterStatus {
        let status = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            rx.wait_for(|s| s.phase == phase),
        )
        .await
        .expect("phase reached in time")
        .unwrap();
        status.clone()
    }

    #[tokio::test]
    async fn starts_connects_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalCluster::start(
            // Hollow nodes: these check the app's wiring, and leave nothing in Docker.
            ClusterBuilder::new(dir.path())
                .listen("127.0.0.1:0".parse().unwrap())
                .runtime(kubarium_cluster::RuntimeKind::Hollow),
        );
        let mut rx = local.subscribe();
        let status = wait_for(&mut rx, ClusterPhase::Connected).await;
        assert!(status.version.unwrap().git_version.starts_with("v1."));
        assert!(status.server_url.unwrap().starts_with("https://127.0.0.1:"));
        assert!(status.latency_ms.is_some());
        local.client().await.unwrap();
        local.shutdown().await;
        assert_eq!(local.status().phase, ClusterPhase::Stopped);
        assert!(local.client().await.is_err());
    }

    #[tokio::test]
    async fn forwarding_stops_when_the_sink_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalCluster::start(
            // Hollow nodes: these check the app's wiring, and leave nothing in Docker.
            ClusterBuilder::new(dir.path())
                .listen("127.0.0.1:0".parse().unwrap())
                .runtime(kubarium_cluster::RuntimeKind::Hollow),
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let forwarding =
            tokio::spawn(local.forward_status(move |status| tx.send(status.phase).is_ok()));
        // The first status arrives at once; then changes follow until Connected.
        assert_eq!(rx.recv().await, Some(ClusterPhase::Starting));
        while rx.recv().await != Some(ClusterPhase::Connected) {}
        drop(rx);
        local.shutdown().await; // a change, which finds the sink gone
        tokio::time::timeout(std::time::Duration::from_secs(10), forwarding)
            .await
            .expect("forwarding ended")
            .unwrap();
    }

    #[tokio::test]
    async fn a_failed_start_is_reported_with_its_reason() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let local = LocalCluster::start(
            ClusterBuilder::new(dir.path()).listen(taken.local_addr().unwrap()),
        );
        let status = wait_for(&mut local.subscribe(), ClusterPhase::Failed).await;
        let error = status.error.unwrap();
        assert_eq!(error.code, ErrorCode::ClusterStart);
        assert!(error.message.contains("--listen"), "{}", error.message);
    }
}
