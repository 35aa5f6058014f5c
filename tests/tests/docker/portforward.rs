//! `kubectl port-forward` to pods on Docker, with the kubectl on PATH (WebSocket-tunnelled
//! SPDY since 1.31) and the oldest one installed (plain SPDY/3.1): a page from busybox
//! `httpd` by pod and by service, concurrent connections, megabytes both ways through an
//! echo server (past every flow-control window), and a port nothing listens on, which
//! kubectl reports before it gives up, as against a kubelet.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use crate::support::{BUSYBOX, Docker, eventually};

/// Bytes `/big` holds, and the echo test sends.
const BIG: usize = 1024 * 1024;

/// A pod serving `/` ("hello from kubarium") and `/big` on port 80, and echoing on port 7.
fn web_pod() -> String {
    let script = format!(
        "mkdir -p /www && echo hello from kubarium > /www/index.html && dd if=/dev/zero of=/www/big bs=1024 count={} 2>/dev/null && httpd -p 80 -h /www && exec nc -ll -p 7 -e cat",
        BIG / 1024
    );
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {{app: web}}\nspec:\n  containers:\n  - name: web\n    image: {BUSYBOX}\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\"]\n    args: [{}]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {{app: web}}\n  ports:\n  - port: 8080\n    targetPort: 80\n",
        serde_json::to_string(&script).unwrap()
    )
}

/// Starts a cluster with the web pod, and waits until its servers accept connections
/// (a refused connection through port-forward ends kubectl's forward, so none may be
/// tried early).
async fn cluster_with_web_pod() -> Docker {
    let cluster = Docker::start_with_images(1, &[]).await;
    cluster.apply(&web_pod());
    let api = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let ip: Ipv4Addr = eventually("pod web to be Running with an address", || {
        let api = api.clone();
        async move {
            let pod = api.get("web").await.ok()?;
            let status = pod.status?;
            (status.phase.as_deref() == Some("Running"))
                .then_some(())
                .and(status.pod_ip?.parse().ok())
        }
    })
    .await;
    eventually("the pod's servers to listen", || async move {
        [80, 7]
            .iter()
            .all(|port| {
                TcpStream::connect_timeout(&SocketAddr::from((ip, *port)), Duration::from_secs(5))
                    .is_ok()
            })
            .then_some(())
    })
    .await;
    cluster
}

/// A running `kubectl port-forward`, killed when dropped.
struct Forward {
    child: Child,
    /// The local port for each remote port, as kubectl printed them.
    ports: Vec<(u16, u16)>,
    stderr: mpsc::Receiver<String>,
}

impl Forward {
    fn start(kubectl: &Path, kubeconfig: &Path, target: &str, remote: &[u16]) -> Self {
        let mut child = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["port-forward", target])
            .args(remote.iter().map(|port| format!(":{port}")))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (stderr_tx, stderr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = stderr_tx.send(line);
            }
        });
        // "Forwarding from 127.0.0.1:<local> -> <remote>", once per port.
        let mut ports = Vec::new();
        while ports.len() < remote.len() {
            let line = lines
                .recv_timeout(Duration::from_secs(90))
                .unwrap_or_else(|_| {
                    let errors: Vec<String> = stderr_rx.try_iter().collect();
                    panic!(
                        "{} port-forward {target} printed no ports: {errors:?}",
                        kubectl.display()
                    )
                });
            let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") else {
                continue;
            };
            let (local, remote) = rest.split_once(" -> ").unwrap();
            ports.push((remote.parse().unwrap(), local.parse().unwrap()));
        }
        Self {
            child,
            ports,
            stderr: stderr_rx,
        }
    }

    fn local(&self, remote: u16) -> u16 {
        self.ports
            .iter()
            .find(|(port, _)| *port == remote)
            .map(|(_, local)| *local)
            .unwrap()
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` over HTTP/1.0 to 127.0.0.1:`port`: the status line and the body.
fn get(port: u16, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = Vec::new();
    if let Err(error) = stream.read_to_end(&mut response) {
        panic!(
            "GET {path} through 127.0.0.1:{port}: {error} after {} bytes",
            response.len()
        );
    }
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "not an HTTP response: {:?}",
                String::from_utf8_lossy(&response)
            )
        });
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, response[split + 4..].to_vec())
}

/// Sends `BIG` bytes to the echo server through 127.0.0.1:`port`, half-closes, and
/// returns what came back.
fn echo(port: u16) -> Vec<u8> {
    let data: Vec<u8> = (0..BIG).map(|i| (i * 7 % 251) as u8).collect();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        writer.write_all(&data).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
        data
    });
    let mut received = Vec::new();
    (&stream).read_to_end(&mut received).unwrap();
    let sent = sending.join().unwrap();
    assert!(
        received == sent,
        "the echo differs: {} bytes back of {}",
        received.len(),
        sent.len()
    );
    received
}

#[tokio::test(flavor = "multi_thread")]
async fn port_forward_reaches_the_pod_by_pod_and_by_service() {
    let cluster = cluster_with_web_pod().await;
    let kubeconfig = cluster.kubeconfig();
    for kubectl in kubarium_tests::kubectls() {
        let shown = kubectl.display().to_string();
        let forward = Forward::start(&kubectl, &kubeconfig, "pod/web", &[80, 7]);
        let (web, echo_port) = (forward.local(80), forward.local(7));
        tokio::task::spawn_blocking(move || {
            let (status, body) = get(web, "/");
            assert!(status.contains("200"), "{shown}: {status}");
            assert_eq!(
                String::from_utf8_lossy(&body),
                "hello from kubarium\n",
                "{shown}"
            );

            // Several connections at once through the one forward, both ports.
            let downloads: Vec<_> = (0..6)
                .map(|_| std::thread::spawn(move || get(web, "/big").1.len()))
                .collect();
            let echoes: Vec<_> = (0..2)
                .map(|_| std::thread::spawn(move || echo(echo_port).len()))
                .collect();
            for download in downloads {
                assert_eq!(download.join().unwrap(), BIG, "{shown}: /big");
            }
            for echoed in echoes {
                assert_eq!(echoed.join().unwrap(), BIG, "{shown}: echo");
            }
        })
        .await
        .unwrap();
        drop(forward);

        // A service resolves to one of its pods client-side; 8080 maps to 80.
        let forward = Forward::start(&kubectl, &kubeconfig, "svc/web", &[8080]);
        assert_eq!(forward.ports.first().map(|(remote, _)| *remote), Some(80));
        let web = forward.ports[0].1;
        let (status, body) = tokio::task::spawn_blocking(move || get(web, "/"))
            .await
            .unwrap();
        assert!(status.contains("200"), "{}: {status}", kubectl.display());
        assert_eq!(String::from_utf8_lossy(&body), "hello from kubarium\n");
    }
}

/// Nothing listens on 81: the connection is closed, kubectl prints the kubelet's error
/// ("an error occurred forwarding <local> -> 81: error forwarding port 81 to pod …:
/// connect: connection refused") and, as against any cluster since 1.23, stops with "lost
/// connection to pod".
#[tokio::test(flavor = "multi_thread")]
async fn a_port_nothing_listens_on_is_reported_by_kubectl() {
    let cluster = cluster_with_web_pod().await;
    let kubeconfig = cluster.kubeconfig();
    for kubectl in kubarium_tests::kubectls() {
        let mut forward = Forward::start(&kubectl, &kubeconfig, "pod/web", &[81]);
        let local = forward.local(81);
        let mut stream = TcpStream::connect(("127.0.0.1", local)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        assert!(
            reply.is_empty(),
            "got a reply from a closed port: {reply:?}"
        );

        let mut stderr = String::new();
        let deadline = std::time::Instant::now() + crate::support::SETTLE;
        let status = loop {
            if let Some(status) = forward.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} kept running after the failed forward: {stderr}",
                kubectl.display()
            );
            if let Ok(line) = forward.stderr.recv_timeout(Duration::from_secs(1)) {
                stderr.push_str(&line);
                stderr.push('\n');
            }
        };
        stderr.extend(forward.stderr.try_iter().map(|line| line + "\n"));
        assert!(!status.success(), "{}: {stderr}", kubectl.display());
        let expected =
            format!("an error occurred forwarding {local} -> 81: error forwarding port 81 to pod ");
        assert!(
            stderr.contains(&expected),
            "{}: {stderr}",
            kubectl.display()
        );
        assert!(
            stderr.contains("connect: connection refused"),
            "{}: {stderr}",
            kubectl.display()
        );
        assert!(stderr.contains("lost connection to pod"), "{stderr}");
    }
}
