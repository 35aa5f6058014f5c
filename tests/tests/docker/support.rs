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
    /// Starts the daemon with `nodes` Docker nodes plus `args`. Its ingress controller takes
    /// ports Docker chooses unless `args` name them: scenarios run side by side, and the
    /// defaults (8080, 8443) can be had by one of them at a time.
    pub(crate) async fn start(nodes: u32, args: &[&str]) -> Self {
        Self::start_with_env(nodes, args, &[]).await
    }

    /// As [`Docker::start`], with extra environment variables for the daemon (`DOCKER_HOST`
    /// for an engine of the test's own).
    pub(crate) async fn start_with_env(nodes: u32, args: &[&str], env: &[(&str, &str)]) -> Self {
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
        for flag in ["--ingress-http-port", "--ingress-https-port"] {
            if !args.contains(&flag) {
                all.extend([flag, "0"]);
            }
        }
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

/// The cluster's containers and network go with it: the daemon is killed first (so no agent
/// makes new ones), then everything labelled with its cluster id (recorded in the data
/// dir, so a daemon the test already stopped is cleaned too) is
/// removed. Foreign containers never match the label.
impl Drop for Docker {
    fn drop(&mut self) {
        // The id the node pool records in the data dir; kubectl for a daemon from before it.
        let recorded = std::fs::read_to_string(self.daemon.data_dir().join("cluster-id"))
            .ok()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty());
        let cluster = recorded.or_else(|| {
            std::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(self.kubeconfig())
                .args([
                    "get",
                    "namespace",
                    "kube-system",
                    "-o",
                    "jsonpath={.metadata.uid}",
                ])
                .output()
                .ok()
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
                .filter(|uid| !uid.is_empty())
        });
        let pid = self.daemon.pid();
        if kubarium_tests::process_alive(pid) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            for _ in 0..100 {
                if !kubarium_tests::process_alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(cluster) = cluster {
            remove_cluster_resources(&cluster);
        }
    }
}

/// Removes every container, network and volume labelled `kubarium.dev/cluster=<cluster>`, twice: a
/// create the killed daemon had in flight (a data-plane unit, a sandbox) can land in Docker
/// just after the first pass.
#[allow(dead_code)]
pub(crate) fn remove_cluster_resources(cluster: &str) {
    remove_labelled(cluster);
    std::thread::sleep(Duration::from_millis(300));
    remove_labelled(cluster);
}

fn remove_labelled(cluster: &str) {
    let filter = format!("label=kubarium.dev/cluster={cluster}");
    let ids = |args: &[&str]| -> Vec<String> {
        std::process::Command::new("docker")
            .args(args)
            .args(["--filter", &filter])
            .output()
            .map(|output| {
                String::from_utf8_lossy(&output.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = ids(&["ps", "-aq"]);
    if !containers.is_empty() {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&containers)
            .output();
    }
    let networks = ids(&["network", "ls", "-q"]);
    if !networks.is_empty() {
        let _ = std::process::Command::new("docker")
            .args(["network", "rm"])
            .args(&networks)
            .output();
    }
    let volumes = ids(&["volume", "ls", "-q"]);
    if !volumes.is_empty() {
        let _ = std::process::Command::new("docker")
            .args(["volume", "rm"])
            .args(&volumes)
            .output();
    }
}

/// The test image every Docker scenario runs.
#[allow(dead_code)]
pub(crate) const BUSYBOX: &str = "kubarium.dev/busybox:test";

/// Makes sure [`BUSYBOX`] is in Docker's image store: if missing, it is made the way
/// `cargo xtask images` makes it — Debian's static `/bin/busybox` with a link per applet,
/// `docker import`ed. Idempotent; nothing is pulled.
#[allow(dead_code)]
pub(crate) fn ensure_busybox_image() {
    let present = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", BUSYBOX])
        .output()
        .is_ok_and(|output| output.status.success());
    if present {
        return;
    }
    let busybox = std::path::Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "{BUSYBOX} is missing and /bin/busybox is not there to make it: `apt-get install -y busybox-static`, or run `cargo xtask images`"
    );
    let root = tempfile::TempDir::new().unwrap();
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    let list = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    std::fs::create_dir_all(root.path().join("tmp")).unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -c . | docker import - {BUSYBOX} >/dev/null",
            root.path().display()
        ))
        .status()
        .unwrap();
    assert!(status.success(), "docker import of {BUSYBOX} failed");
}

/// Checks that `kubariumd` can make the pod infra image: it is in Docker already, or the
/// static binary is where kubariumd looks (`$KUBARIUM_INFRA_BINARY`, else `kubarium-infra`
/// beside kubariumd). `cargo xtask test` builds it and sets the variable.
#[allow(dead_code)]
pub(crate) fn assert_infra_available() {
    let image = format!("kubarium.dev/infra:{}", env!("CARGO_PKG_VERSION"));
    let imported = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &image])
        .output()
        .is_ok_and(|output| output.status.success());
    let from_env = std::env::var_os("KUBARIUM_INFRA_BINARY")
        .is_some_and(|path| std::path::Path::new(&path).is_file());
    let beside = kubarium_tests::bin("kubariumd").with_file_name("kubarium-infra");
    assert!(
        imported || from_env || beside.is_file(),
        "{image} is not in Docker and kubariumd cannot make it: set KUBARIUM_INFRA_BINARY to the static kubarium-infra binary (`cargo xtask images` builds it and prints the path) or put it at {}",
        beside.display()
    );
}

#[allow(dead_code)]
impl Docker {
    /// As [`Docker::start`], after making sure the images the scenarios need can be had.
    pub(crate) async fn start_with_images(nodes: u32, args: &[&str]) -> Self {
        ensure_busybox_image();
        assert_infra_available();
        Self::start(nodes, args).await
    }

    /// Applies `yaml` with `kubectl apply -f`, as a user would.
    pub(crate) fn apply(&self, yaml: &str) -> String {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), yaml).unwrap();
        self.kubectl(&["apply", "-f", &file.path().display().to_string()])
    }
}

/// `docker` with `args`; its stdout, trimmed. Panics with its stderr if it fails.
#[allow(dead_code)]
pub(crate) fn docker(args: &[&str]) -> String {
    let output = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The cluster's id, as its containers' `kubarium.dev/cluster` label carries it: recorded
/// in the data dir's `cluster-id` before the API server starts.
#[allow(dead_code)]
pub(crate) async fn cluster_id(cluster: &Docker) -> String {
    let recorded = cluster.daemon.data_dir().join("cluster-id");
    std::fs::read_to_string(&recorded)
        .unwrap_or_else(|error| panic!("{}: {error}", recorded.display()))
        .trim()
        .to_owned()
}

/// Waits until pod `name` in `default` satisfies `check`, returning it.
#[allow(dead_code)]
pub(crate) async fn wait_pod(
    client: &kube::Client,
    name: &str,
    what: &str,
    check: impl Fn(&k8s_openapi::api::core::v1::Pod) -> bool,
) -> k8s_openapi::api::core::v1::Pod {
    let api = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), "default");
    eventually(what, || {
        let api = api.clone();
        let check = &check;
        async move { api.get(name).await.ok().filter(|pod| check(pod)) }
    })
    .await
}

/// Creates the pod `pod` (a manifest) in `default`.
#[allow(dead_code)]
pub(crate) async fn create_pod(docker: &Docker, pod: serde_json::Value) {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::default_namespaced(docker.client.clone());
    api.create(
        &kube::api::PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();
}

/// Waits until `name`'s containers all run, one of them having restarted `restarts` times.
#[allow(dead_code)]
pub(crate) async fn wait_pod_running(docker: &Docker, name: &str, restarts: i32) {
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::default_namespaced(docker.client.clone());
    eventually(&format!("pod {name} running"), || async {
        let statuses = api.get(name).await.ok()?.status?.container_statuses?;
        let running = statuses
            .iter()
            .all(|s| s.state.as_ref().is_some_and(|s| s.running.is_some()));
        let restarted = statuses.iter().map(|s| s.restart_count).sum::<i32>() >= restarts;
        (running && restarted).then_some(())
    })
    .await;
}

/// `curl` from the host with `args`; its stdout, or `None` if it failed.
#[allow(dead_code)]
pub(crate) fn curl(args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .args(args)
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Waits until `curl args` prints something `check` accepts.
#[allow(dead_code)]
pub(crate) async fn curl_until(what: &str, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    eventually(what, || {
        let output = curl(args).filter(|output| check(output));
        async move { output }
    })
    .await
}
