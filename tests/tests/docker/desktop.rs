//! The desktop app's window on a Docker cluster, driven through tauri-driver under Xvfb: a
//! pod's logs (a line the demo server printed, found by search; a line it prints later,
//! followed), a port-forward fetched through from here and stopped, and `echo hi` typed into
//! the exec terminal. Then the app quits as SIGTERM makes it, and the cluster it leaves in
//! Docker is deleted with `kubariumd delete`, leaving nothing labelled with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubarium_tests::desktop::Desktop;
use kubarium_tests::webdriver::keys;
use kubarium_tests::{kubectl, kubectls, process_alive, send_signal, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{BUSYBOX, assert_infra_available, docker, ensure_busybox_image};

/// How long a step that waits on Docker (the cluster's start, a pod's start) may take.
const DOCKER_WAIT: Duration = Duration::from_secs(180);
/// How long the window may take to show what the cluster already did.
const WINDOW_WAIT: Duration = Duration::from_secs(60);

/// The demo web server, once, and a busybox shell to exec into (the demo image has none).
const WORKLOADS: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: kubarium.dev/demo:v1
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: http}
---
apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: shell
    image: BUSYBOX
    imagePullPolicy: Never
    command: [sleep, "3600"]
"#;

/// Whatever happens in the test, the app is asked to quit as SIGTERM makes it (so the
/// cluster stops cleanly; `Desktop`'s drop would SIGKILL it), then everything Docker holds
/// labelled with the cluster is removed. Made right after the launch, and so dropped before
/// the `Desktop` (and its data dir) it guards.
struct Cleanup {
    data_dir: PathBuf,
    /// The cluster's id, once read: `kubariumd delete` removes the data dir recording it.
    cluster: Option<String>,
}

impl Cleanup {
    /// The app's process id, from its data dir lock, once the app has taken it.
    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data_dir.join("kubarium.lock"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The cluster's id, recorded in the data dir before its API server starts.
    fn cluster(&mut self) -> Option<String> {
        if self.cluster.is_none() {
            self.cluster = std::fs::read_to_string(self.data_dir.join("cluster-id"))
                .ok()
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty());
        }
        self.cluster.clone()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let cluster = self.cluster();
        if let Some(pid) = self.pid().filter(|pid| process_alive(*pid)) {
            // Not `send_signal`: a panic here, while a failed test unwinds, would abort.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            for _ in 0..600 {
                if !process_alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if let Some(cluster) = cluster {
            crate::support::remove_cluster_resources(&cluster);
        }
    }
}

/// The ids of the containers, networks and volumes labelled with `cluster`, one list each.
fn labelled(cluster: &str) -> [String; 3] {
    let filter = format!("label=kubarium.dev/cluster={cluster}");
    [
        docker(&["ps", "-aq", "--filter", &filter]),
        docker(&["network", "ls", "-q", "--filter", &filter]),
        docker(&["volume", "ls", "-q", "--filter", &filter]),
    ]
}

/// `GET <path>` over HTTP/1.0 to 127.0.0.1:`port`; the whole response, if one came.
async fn fetch(port: u16, path: &str) -> Option<String> {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    socket.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&response).into_owned()).filter(|r| !r.is_empty())
}

/// The texts of every element matching `selector`, in document order.
async fn texts(app: &Desktop, selector: &str) -> Vec<String> {
    let mut found = Vec::new();
    for element in app.session.find_all(selector).await.unwrap_or_default() {
        if let Ok(text) = element.text().await {
            found.push(text);
        }
    }
    found
}

/// Waits until an element matching `selector` has text satisfying `ready`; returns it. A
/// failure names what was there instead and leaves a screenshot.
async fn wait_text(
    app: &Desktop,
    what: &str,
    selector: &str,
    ready: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + WINDOW_WAIT;
    loop {
        let found = texts(app, selector).await;
        if let Some(text) = found.iter().find(|t| ready(t)) {
            return text.clone();
        }
        if std::time::Instant::now() > deadline {
            let shot = app.screenshot("docker-failed").await;
            panic!(
                "{what}: not seen after {WINDOW_WAIT:?}; {selector} showed {found:#?} (screenshot {})",
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until nothing matches `selector`.
async fn wait_gone(app: &Desktop, what: &str, selector: &str) {
    app.wait_for(what, WINDOW_WAIT, async |session| {
        session
            .find_all(selector)
            .await
            .ok()
            .filter(Vec::is_empty)
            .map(drop)
    })
    .await;
}

/// The exec terminal's rows as xterm.js's DOM renderer shows them, trimmed.
async fn terminal_rows(app: &Desktop) -> Vec<String> {
    let rows = app
        .session
        .execute(
            "return Array.from(document.querySelectorAll(\
             \"[data-testid='exec-terminal'] .xterm-rows > div\"), (row) => row.textContent.trim());",
            vec![],
        )
        .await
        .unwrap_or_default();
    serde_json::from_value(rows).unwrap_or_default()
}

/// Opens pod `name`'s details from the Pods table, on `tab`.
async fn open_pod(app: &Desktop, name: &str, tab: &str) {
    app.click("nav-pods").await;
    app.click_css(&format!("[data-testid='table-row-{name}'] button.rt-link"))
        .await;
    wait_text(
        app,
        "the pod's details",
        "[data-testid='details'] h1",
        |t| t == name,
    )
    .await;
    app.click(&format!("details-{tab}")).await;
}

fn kubeconfig(data_dir: &Path) -> PathBuf {
    data_dir.join("kubeconfig")
}

#[tokio::test]
async fn desktop_logs_exec_and_port_forward_on_docker() {
    ensure_busybox_image();
    assert_infra_available();
    let app = Desktop::launch_with(&[
        "--runtime",
        "docker",
        "--nodes",
        "1",
        "--ingress-http-port",
        "0",
        "--ingress-https-port",
        "0",
    ])
    .await;
    let data_dir = app.data_dir();
    let mut cleanup = Cleanup {
        data_dir: data_dir.clone(),
        cluster: None,
    };
    app.wait_for_text("status-phase", DOCKER_WAIT, |t| t == "Connected")
        .await;
    let cluster = cleanup.cluster().expect("the cluster's id in its data dir");
    let pid = app.app_pid();

    let kubectl_bin = kubectls()[0].clone();
    let config = kubeconfig(&data_dir);
    let k = |args: &[&str]| kubectl(&kubectl_bin, &config, args);
    let manifest = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(manifest.path(), WORKLOADS.replace("BUSYBOX", BUSYBOX)).unwrap();
    k(&["apply", "-f", &manifest.path().display().to_string()]);
    k(&["rollout", "status", "deployment/web", "--timeout=180s"]);
    k(&[
        "wait",
        "--for=condition=Ready",
        "pod/shell",
        "--timeout=180s",
    ]);
    let pod = k(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    assert!(pod.starts_with("web-"), "{pod}");

    // Port-forward from the web pod's details, on a local port the app picks: the demo
    // server answers through it, naming the pod.
    open_pod(&app, &pod, "portforward").await;
    app.click("portforward-start").await;
    let url = wait_text(
        &app,
        "the forward's URL",
        "[data-testid='details'] [data-testid='portforward-url']",
        |t| t.starts_with("http://127.0.0.1:"),
    )
    .await;
    let port: u16 = url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("no port in {url:?}"));
    // The URL shows once the port listens; the first connection may still race the pod's
    // stream being set up, so ask until an answer comes.
    let answer = app
        .wait_for("an answer through the forward", WINDOW_WAIT, async |_| {
            fetch(port, "/api").await
        })
        .await;
    assert!(
        answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
        "{answer}"
    );
    assert!(answer.contains(&format!("\"pod\": \"{pod}\"")), "{answer}");
    app.screenshot("docker-portforward").await;

    // Logs: the line the server printed when it started is there, and searching for it
    // marks the match.
    app.click("details-logs").await;
    wait_text(
        &app,
        "the server's first log line",
        "[data-testid='logs-line']",
        |t| t.contains("version v1 on port 8080") && t.contains(&format!("(pod {pod},")),
    )
    .await;
    app.element("logs-search")
        .await
        .type_text("version v1")
        .await
        .unwrap();
    app.session.keys(None, keys::ENTER).await.unwrap();
    wait_text(
        &app,
        "the search's highlighted match",
        "[data-testid='logs-line'].current mark",
        |t| t == "version v1",
    )
    .await;
    // A request made now is logged by the server and shows while the log is followed.
    let path = "/asked-while-following";
    let answer = fetch(port, path).await.unwrap();
    assert!(answer.contains(" 404 "), "{answer}");
    wait_text(
        &app,
        "the line logged after opening",
        "[data-testid='logs-line']",
        |t| t.contains(&format!("\"GET {path} HTTP/1.0\" 404")),
    )
    .await;
    app.screenshot("docker-logs").await;

    // Stopping the forward closes its port.
    app.click("details-portforward").await;
    app.click_css("[data-testid='details'] .forward-list li button:last-of-type")
        .await;
    wait_gone(
        &app,
        "the stopped forward to leave the list",
        "[data-testid='details'] [data-testid='portforward-url']",
    )
    .await;
    wait_until(
        "the forward's port to close",
        Duration::from_secs(30),
        || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .is_err()
                .then_some(())
        },
    );

    // Exec: a shell in the busybox pod's terminal runs what is typed into it.
    open_pod(&app, "shell", "exec").await;
    app.wait_for("the shell's prompt", WINDOW_WAIT, async |_| {
        terminal_rows(&app)
            .await
            .iter()
            .any(|row| row.ends_with('#'))
            .then_some(())
    })
    .await;
    app.click("exec-terminal").await;
    app.session.keys(None, "echo hi").await.unwrap();
    app.session.keys(None, keys::ENTER).await.unwrap();
    app.wait_for("`hi` on a line of its own", WINDOW_WAIT, async |_| {
        let rows = terminal_rows(&app).await;
        (rows.iter().any(|row| row.ends_with("echo hi")) && rows.iter().any(|row| row == "hi"))
            .then_some(())
    })
    .await;
    app.screenshot("docker-exec").await;

    // Quit as SIGTERM (and the tray's Quit) does: the cluster stops cleanly, then the app
    // exits.
    send_signal(pid, "TERM");
    wait_until("the app to exit", DOCKER_WAIT, || {
        (!process_alive(pid)).then_some(())
    });
    let logs = kubarium_tests::logs(&data_dir, "kubarium");
    assert!(logs.contains("cluster stopped"), "{logs}");
    assert!(logs.contains("Kubarium exited"), "{logs}");
    // A stopped cluster's pods and service units keep running for the next start to adopt;
    // `kubariumd delete` is what removes them, and then nothing of the cluster is left.
    let deleted = kubarium_tests::daemon::Daemon::command(&data_dir, &["delete"])
        .output()
        .unwrap();
    assert!(
        deleted.status.success(),
        "kubariumd delete failed: {}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    assert_eq!(
        labelled(&cluster),
        [String::new(), String::new(), String::new()]
    );
}
