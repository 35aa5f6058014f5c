//! The cluster embedded in the app: started in-process through `kubarium-cluster`, the same
//! library `kubariumd` uses, and watched like any other cluster.

use std::sync::Arc;

use kubarium_cluster::{Cluster, ClusterBuilder, RuntimeKind, kubeconfig};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::ipc::{AppError, ClusterPhase, ClusterStatus, ErrorCode};
use crate::probe;

/// The embedded cluster and its live status.
pub struct LocalCluster {
    /// What it was started with: stopping and starting again, or resetting, reuses it, so
    /// the data dir, kubeconfig path, listen address and nodes stay as the user set them.
    builder: ClusterBuilder,
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
        let (status, _) = watch::channel(ClusterStatus::starting(
            crate::LOCAL,
            kubeconfig::CONTEXT,
            true,
            None,
            0,
        ));
        let running = Arc::new(Mutex::new(Running::default()));
        // Locked before the start task exists, so a shutdown that comes early waits for the
        // start to finish and then stops what it started.
        let guard = Arc::clone(&running)
            .try_lock_owned()
            .unwrap_or_else(|_| unreachable!("a new mutex is unlocked"));
        let this = Arc::new(Self {
            builder,
            status,
            running,
        });
        let starting = Arc::clone(&this);
        tokio::spawn(async move {
            let mut guard = guard;
            // A failure is in the status, where the UI shows it.
            let _ = starting.boot(&mut guard).await;
        });
        this
    }

    /// Starts the cluster into `running` and the probe after it; on failure the status says
    /// why, and so does the error.
    async fn boot(&self, running: &mut Running) -> crate::Result<()> {
        self.status.send_modify(|status| {
            status.phase = ClusterPhase::Starting;
            status.error = None;
            status.version = None;
            status.latency_ms = None;
        });
        match self.builder.clone().start().await {
            Ok(cluster) => {
                let data_dir = &cluster.config().data_dir;
                self.status.send_modify(|status| {
                    status.run += 1;
                    status.server_url = Some(cluster.server_url().to_owned());
                    status.kubeconfig_path = Some(cluster.kubeconfig_path().display().to_string());
                    status.kubectl_command = Some(kubeconfig::kubectl_command(
                        cluster.kubeconfig_path(),
                        "version",
                    ));
                    status.data_dir = Some(data_dir.display().to_string());
                    status.logs_dir = Some(data_dir.join("logs").display().to_string());
                });
                let pods = match cluster.config().runtime {
                    RuntimeKind::Docker => probe::Pods::Docker,
                    RuntimeKind::Hollow => probe::Pods::Hollow,
                };
                // Probed through its kubeconfig, over TLS, as kubectl and remote clusters are:
                // "connected" means what a user's tools will find.
                running.probe = Some(tokio::spawn(probe::run(
                    probe::Target::Kubeconfig(Box::new(cluster.kubeconfig().clone())),
                    pods,
                    self.status.clone(),
                )));
                running.cluster = Some(cluster);
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "the local cluster could not start");
                let message = format!("The local cluster could not start: {error}.");
                self.status.send_modify(|status| {
                    status.phase = ClusterPhase::Failed;
                    status.error = Some(AppError::new(ErrorCode::ClusterStart, message.clone()));
                });
                Err(crate::Error::ClusterStart(message))
            }
        }
    }

    /// Stops the probe and the cluster in `running`, if it runs.
    async fn halt(&self, running: &mut Running) {
        if let Some(probe) = running.probe.take() {
            probe.abort();
        }
        if let Some(cluster) = running.cluster.take() {
            cluster.shutdown().await;
            self.status.send_modify(|status| {
                status.phase = ClusterPhase::Stopped;
                status.latency_ms = None;
                status.error = None;
            });
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

    /// A client that reaches the cluster over its socket (HTTPS, as kubectl does), for
    /// requests that upgrade the connection (exec, port-forward): the in-process client of
    /// [`LocalCluster::client`] calls the router with no connection to upgrade, and the API
    /// server answers those with 400 "no upgrade state was present".
    pub async fn network_client(&self) -> crate::Result<kube::Client> {
        let kubeconfig = {
            let running = self.running.lock().await;
            match &running.cluster {
                Some(cluster) => cluster.kubeconfig().clone(),
                None => {
                    return Err(crate::Error::NotRunning(
                        self.status.borrow().phase.describe().to_owned(),
                    ));
                }
            }
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|error| {
                crate::Error::Local(format!(
                    "the local cluster's kubeconfig is unusable: {error}"
                ))
            })?;
        Ok(crate::retry::client(config)?)
    }

    /// The kubeconfig kubectl uses for the cluster (its admin token included), once it runs.
    pub async fn kubeconfig(&self) -> crate::Result<kube::config::Kubeconfig> {
        let running = self.running.lock().await;
        Ok(self.running_cluster(&running)?.kubeconfig().clone())
    }

    /// Stops probing and shuts the cluster down cleanly. Idempotent.
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        self.halt(&mut running).await;
    }

    /// Starts the cluster again after [`LocalCluster::shutdown`], with what it was first
    /// started with; returns once it serves (or failed). Starting a running cluster does
    /// nothing.
    pub async fn start_again(&self) -> crate::Result<()> {
        let mut running = self.running.lock().await;
        if running.cluster.is_some() {
            return Ok(());
        }
        self.boot(&mut running).await
    }

    /// Stops the cluster, deletes its state (objects, PKI, volumes, and on Docker its
    /// containers and network: [`kubarium_cluster::delete_cluster`]) and starts a fresh one
    /// in the same data dir, with the same kubeconfig path, listen address and nodes. The
    /// kubeconfig is written anew: a fresh cluster has a fresh CA and token.
    pub async fn reset(&self) -> crate::Result<()> {
        let mut running = self.running.lock().await;
        self.halt(&mut running).await;
        self.status
            .send_modify(|status| status.phase = ClusterPhase::Starting);
        if let Err(error) = delete_state(&self.builder_data_dir()).await {
            let message = format!(
                "The local cluster's state could not be deleted: {error}. The cluster is stopped; start it again, or fix the cause and reset again."
            );
            self.status.send_modify(|status| {
                status.phase = ClusterPhase::Stopped;
                status.error = Some(AppError::new(ErrorCode::Local, message.clone()));
            });
            return Err(crate::Error::Local(message));
        }
        self.boot(&mut running).await
    }

    fn builder_data_dir(&self) -> std::path::PathBuf {
        self.builder.config().data_dir.clone()
    }

    /// Where the cluster keeps its state (and the app its files about it).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.builder.config().data_dir
    }

    /// The ingress controller's HTTP port on 127.0.0.1 as configured; 0 when it is chosen
    /// when the controller starts (the Ingresses' status then says which).
    pub fn configured_ingress_http_port(&self) -> u16 {
        self.builder.config().ingress_http_port
    }

    /// The names of the local cluster's nodes.
    pub async fn node_names(&self) -> crate::Result<Vec<String>> {
        let running = self.running.lock().await;
        Ok(self.running_cluster(&running)?.nodes().nodes())
    }

    /// Adds a node, named as the next free `kubarium-workerN`; returns its name.
    pub async fn add_node(&self) -> crate::Result<String> {
        let running = self.running.lock().await;
        let cluster = self.running_cluster(&running)?;
        cluster
            .nodes()
            .add_node(None)
            .await
            .map_err(|e| crate::Error::Local(format!("Could not add a node: {e}.")))
    }

    /// Removes node `name`: its agent ends, and the garbage collector deletes its pods
    /// (their controllers make new ones elsewhere).
    pub async fn remove_node(&self, name: &str) -> crate::Result<()> {
        let running = self.running.lock().await;
        let cluster = self.running_cluster(&running)?;
        known_node(cluster, name)?;
        cluster
            .nodes()
            .remove_node(name)
            .await
            .map_err(|e| crate::Error::Local(format!("Could not remove node {name}: {e}.")))
    }

    /// Stops node `name`'s agent, as if its kubelet crashed: it turns `NotReady` once its
    /// Lease lapses, and its pods are evicted after their tolerations run out.
    pub async fn stop_node(&self, name: &str) -> crate::Result<()> {
        let running = self.running.lock().await;
        let cluster = self.running_cluster(&running)?;
        known_node(cluster, name)?;
        cluster
            .nodes()
            .stop_node(name)
            .await
            .map_err(|e| crate::Error::Local(format!("Could not stop node {name}: {e}.")))
    }

    /// Starts node `name`'s agent again.
    pub async fn start_node(&self, name: &str) -> crate::Result<()> {
        let running = self.running.lock().await;
        let cluster = self.running_cluster(&running)?;
        known_node(cluster, name)?;
        cluster
            .nodes()
            .start_node(name)
            .await
            .map_err(|e| crate::Error::Local(format!("Could not start node {name}: {e}.")))
    }

    fn running_cluster<'a>(&self, running: &'a Running) -> crate::Result<&'a Cluster> {
        running.cluster.as_ref().ok_or_else(|| {
            crate::Error::NotRunning(self.status.borrow().phase.describe().to_owned())
        })
    }
}

/// `name` is one of the cluster's nodes, else a NotFound that names those that are.
fn known_node(cluster: &Cluster, name: &str) -> crate::Result<()> {
    let nodes = cluster.nodes().nodes();
    if nodes.iter().any(|n| n == name) {
        Ok(())
    } else {
        Err(crate::Error::NodeNotFound {
            name: name.to_owned(),
            nodes,
        })
    }
}

/// Deletes the cluster state in `data_dir`, keeping its `logs/` folder: the app's own log
/// file is open there, and a user who resets wants the log of what came before too.
async fn delete_state(data_dir: &std::path::Path) -> Result<(), String> {
    let logs = data_dir.join("logs");
    let parked = data_dir.with_file_name(format!(
        ".{}.logs-during-reset",
        data_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let had_logs = logs.is_dir();
    if had_logs {
        // A rename keeps open log files writing into the same files, now and after.
        std::fs::rename(&logs, &parked)
            .map_err(|e| format!("could not move {} aside: {e}", logs.display()))?;
    }
    let deleted = kubarium_cluster::delete_cluster(data_dir)
        .await
        .map_err(|e| e.to_string());
    if had_logs {
        std::fs::create_dir_all(data_dir)
            .and_then(|()| {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
                }
                std::fs::rename(&parked, &logs)
            })
            .map_err(|e| {
                format!(
                    "could not move the logs back from {} to {}: {e}",
                    parked.display(),
                    logs.display()
                )
            })?;
    }
    deleted.map(|_| ())
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

    /// Exec and port-forward upgrade the connection: through the in-process client the API
    /// server has none to upgrade and says so; the network client's session opens.
    #[tokio::test]
    async fn upgrading_requests_go_over_the_socket() {
        use k8s_openapi::api::core::v1::Pod;
        use kube::api::{Api, AttachParams, PostParams};

        let hollow = hollow().await;
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "shell"},
            "spec": {"containers": [{"name": "shell", "image": "busybox"}]},
        }))
        .unwrap();
        Api::<Pod>::default_namespaced(hollow.client.clone())
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
        let exec = async |client: kube::Client| {
            let api = Api::<Pod>::default_namespaced(client);
            for _ in 0..300 {
                let running = api.get("shell").await.ok().and_then(|p| p.status?.phase);
                if running.as_deref() == Some("Running") {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let params = AttachParams::default().stdout(true).stderr(false);
            api.exec("shell", ["true"], &params)
                .await
                .err()
                .map(|e| e.to_string())
        };
        let in_process = exec(hollow.client.clone()).await.unwrap_or_default();
        assert!(in_process.contains("no upgrade state"), "{in_process}");
        let network = exec(hollow.local.network_client().await.unwrap()).await;
        assert_eq!(network, None, "exec over the socket opens");
        hollow.stop().await;
    }

    async fn hollow() -> crate::actions::testing::Hollow {
        crate::actions::testing::Hollow::start().await
    }

    #[tokio::test]
    async fn nodes_are_added_stopped_started_and_removed() {
        let hollow = hollow().await;
        let local = &hollow.local;
        let before = local.node_names().await.unwrap();
        assert_eq!(before.len(), 3, "{before:?}");
        let added = local.add_node().await.unwrap();
        assert_eq!(added, "kubarium-worker3");
        let nodes = kube::Api::<k8s_openapi::api::core::v1::Node>::all(hollow.client.clone());
        assert!(nodes.get_opt(&added).await.unwrap().is_some());
        crate::actions::testing::eventually("the new node's agent", || async {
            local
                .node_names()
                .await
                .ok()?
                .contains(&added)
                .then_some(())
        })
        .await;

        local.stop_node(&added).await.unwrap();
        let stopped = nodes.get(&added).await.unwrap();
        assert_eq!(
            stopped.metadata.annotations.unwrap()["kubarium.dev/agent"],
            "stopped"
        );
        local.start_node(&added).await.unwrap();
        let started = nodes.get(&added).await.unwrap();
        assert!(
            !started
                .metadata
                .annotations
                .unwrap_or_default()
                .contains_key("kubarium.dev/agent")
        );
        local.remove_node(&added).await.unwrap();
        assert!(nodes.get_opt(&added).await.unwrap().is_none());

        let unknown = local.stop_node("kubarium-nope").await.unwrap_err();
        let error = AppError::from(unknown);
        assert_eq!(error.code, ErrorCode::NotFound);
        assert!(
            error
                .message
                .contains("kubarium-control-plane, kubarium-worker, kubarium-worker2"),
            "{}",
            error.message
        );
        hollow.stop().await;
    }

    #[tokio::test]
    async fn stopped_started_and_reset_in_place() {
        let hollow = hollow().await;
        let local = &hollow.local;
        let kubeconfig = local.status().kubeconfig_path.unwrap();
        let configmaps = kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
            hollow.client.clone(),
            "default",
        );
        let cm: k8s_openapi::api::core::v1::ConfigMap =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "kept"}})).unwrap();
        configmaps
            .create(&kube::api::PostParams::default(), &cm)
            .await
            .unwrap();
        std::fs::create_dir_all(hollow.dir.path().join("logs")).unwrap();
        std::fs::write(hollow.dir.path().join("logs/app.log"), "before\n").unwrap();

        assert_eq!(local.status().run, 1);
        local.shutdown().await;
        assert_eq!(local.status().phase, ClusterPhase::Stopped);
        assert!(local.add_node().await.is_err(), "no nodes while stopped");
        local.start_again().await.unwrap();
        crate::actions::testing::wait_for_phase(&mut local.subscribe(), ClusterPhase::Connected)
            .await;
        let client = local.client().await.unwrap();
        let configmaps =
            kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client, "default");
        assert!(
            configmaps.get_opt("kept").await.unwrap().is_some(),
            "a restart keeps objects"
        );
        local.start_again().await.unwrap(); // already running: nothing to do
        assert_eq!(
            local.status().run,
            2,
            "a new run after a restart, none when running"
        );

        local.reset().await.unwrap();
        crate::actions::testing::wait_for_phase(&mut local.subscribe(), ClusterPhase::Connected)
            .await;
        let status = local.status();
        assert_eq!(
            status.kubeconfig_path.unwrap(),
            kubeconfig,
            "same kubeconfig path"
        );
        assert!(std::path::Path::new(&kubeconfig).exists());
        assert_eq!(
            std::fs::read_to_string(hollow.dir.path().join("logs/app.log")).unwrap(),
            "before\n",
            "logs survive a reset"
        );
        let client = local.client().await.unwrap();
        let configmaps =
            kube::Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client, "default");
        assert!(
            configmaps.get_opt("kept").await.unwrap().is_none(),
            "a reset starts empty"
        );
        assert_eq!(local.node_names().await.unwrap().len(), 3);
        assert_eq!(local.status().run, 3);
        hollow.stop().await;
    }
}
