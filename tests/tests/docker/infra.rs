//! The static `kubarium-infra` binary as PID 1 of a real container (mounted into the test
//! busybox image, so no image is made): `pause` and `serve` stop cleanly on SIGTERM (exit
//! 0, where an ignored SIGTERM would end in SIGKILL's 137; the `sleep` applet ends with 143),
//! the demo server answers with the pod's identity, readiness follows `/tmp/unready`, and
//! `/crash` exits 1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{docker, eventually};

const BUSYBOX: &str = "kubarium.dev/busybox:test";

/// The static binary `cargo xtask images` built.
fn infra_binary() -> PathBuf {
    let path = std::env::var_os("KUBARIUM_INFRA_BINARY")
        .map(PathBuf::from)
        .expect("KUBARIUM_INFRA_BINARY is not set: run `cargo xtask images` and export the path it prints");
    assert!(path.is_file(), "{} does not exist", path.display());
    path
}

/// A container running `kubarium-infra <args>` as PID 1; removed on drop.
struct Infra {
    id: String,
}

impl Infra {
    fn run(env: &[&str], args: &[&str]) -> Self {
        let mount = format!("{}:/kubarium-infra:ro", infra_binary().display());
        let label = format!("kubarium.dev/test=infra-{}", std::process::id());
        let mut all = vec!["run", "-d", "--label", &label, "-v", &mount];
        for pair in env {
            all.extend(["-e", pair]);
        }
        all.extend([BUSYBOX, "/kubarium-infra"]);
        all.extend_from_slice(args);
        Self { id: docker(&all) }
    }

    fn ip(&self) -> String {
        docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &self.id])
    }

    fn state(&self) -> (String, i32) {
        let out = docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &self.id,
        ]);
        let (status, code) = out.split_once(' ').unwrap();
        (status.to_owned(), code.parse().unwrap())
    }

    /// `docker stop` with a grace period long enough that only an ignored SIGTERM would
    /// end in SIGKILL; the exit code.
    fn stop(&self) -> i32 {
        docker(&["stop", "-t", "60", &self.id]);
        self.state().1
    }
}

impl Drop for Infra {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.id]).output();
    }
}

/// `GET path` over HTTP/1.0; the status and body, or `None` while nothing listens.
fn get(ip: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect((ip, 8080)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

#[tokio::test]
async fn pause_stops_on_sigterm_as_pid_1() {
    let pause = Infra::run(&[], &["pause"]);
    assert_eq!(pause.state().0, "running");
    assert_eq!(
        pause.stop(),
        0,
        "pause must exit 0 on SIGTERM, not wait for SIGKILL"
    );
}

#[tokio::test]
async fn the_sleep_applet_stops_on_sigterm_as_pid_1() {
    // `command: [sleep, infinity]` in a demo pod: deleting the pod must not wait for SIGKILL.
    let sleep = Infra::run(&[], &["sleep", "infinity"]);
    assert_eq!(sleep.state().0, "running");
    assert_eq!(
        sleep.stop(),
        143,
        "sleep must end on SIGTERM (143, as if killed by it), not wait for SIGKILL's 137"
    );
}

#[tokio::test]
async fn the_demo_server_shows_the_pod_and_follows_the_readiness_marker() {
    let web = Infra::run(
        &[
            "VERSION=v2",
            "POD_NAME=web-1",
            "POD_NAMESPACE=demo",
            "NODE_NAME=kubarium-worker",
        ],
        &["serve"],
    );
    let ip = web.ip();
    let (status, api) = eventually("the demo server to answer", || {
        let ip = ip.clone();
        async move { get(&ip, "/api") }
    })
    .await;
    assert_eq!(status, 200);
    assert!(api.contains("\"pod\": \"web-1\""), "{api}");
    assert!(api.contains("\"namespace\": \"demo\""), "{api}");
    assert!(api.contains("\"node\": \"kubarium-worker\""), "{api}");
    assert!(api.contains(&format!("\"podIP\": \"{ip}\"")), "{api}");
    assert!(api.contains("\"name\": \"green\""), "{api}");
    let (status, page) = get(&ip, "/").unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("web-1") && page.contains("#16a34a"));

    assert_eq!(get(&ip, "/readyz").unwrap().0, 200);
    docker(&["exec", &web.id, "touch", "/tmp/unready"]);
    assert_eq!(get(&ip, "/readyz").unwrap().0, 503);
    assert_eq!(get(&ip, "/healthz").unwrap().0, 200);
    docker(&["exec", &web.id, "rm", "/tmp/unready"]);
    assert_eq!(get(&ip, "/readyz").unwrap().0, 200);

    let logs = docker(&["logs", &web.id]);
    assert!(logs.contains("\"GET /api HTTP/1.0\" 200"), "{logs}");
    assert_eq!(web.stop(), 0, "serve must exit 0 on SIGTERM");
}

#[tokio::test]
async fn crash_exits_with_code_1() {
    let web = Infra::run(&[], &["serve"]);
    let ip = web.ip();
    eventually("the demo server to answer", || {
        let ip = ip.clone();
        async move { get(&ip, "/healthz") }
    })
    .await;
    let _ = get(&ip, "/crash");
    let code = eventually("the server to exit", || {
        let (status, code) = web.state();
        async move { (status == "exited").then_some(code) }
    })
    .await;
    assert_eq!(code, 1);
}
