//! What the Docker scenarios share: a cluster whose nodes run pods on Docker, with a client
//! and kubectl, whose containers and network are removed when the test ends.

use std::path::PathBuf;
use std::time::Duration;

use kubarium_tests::daemon::Daemon;

/// How long a scenario waits for the cluster to settle before it fails.
#[allow(dead_code)]
pub(crate) const SETTLE: Duration = Duration::from_secs(90);

/// A `kubariumd --runtime docker --nodes <nodes>` on a port of its own.
#[allow(dead_code)]
pub(crate) struct Docker {
    pub(crate) daemon: Daemon,
    pub(crate) client: kube::Client,
}

#[allow(dead_code)]
impl Docker {
    /// Starts the daemon with `nodes` Docker nodes plus `args`.
    pub(crate) async fn start(nodes: u32, args: &[&str]) -> Self {
        let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
        let nodes = nodes.to_string();
        let mut all = vec![
            "--listen",
            &listen,
            "--nodes",
            &nodes,
            "--runtime",
            "docker",
        ];
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

/// Polls `check` every 200 ms until it returns `Some`, or panics naming `what` after
/// [`SETTLE`].
#[allow(dead_code)]
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
