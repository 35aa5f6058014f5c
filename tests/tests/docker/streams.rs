//! `kubectl logs`, `exec`, `attach` and `cp` against pods on Docker, through the API server's
//! log stream and WebSocket channel protocols, as a user runs them.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use serde_json::json;

use crate::support::{BUSYBOX, Docker, create_pod, wait_pod_running};

/// The time a spawned kubectl gets to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(60);

/// kubectl on PATH against the cluster, with what it printed and its exit code.
fn kubectl_status(docker: &Docker, args: &[&str], stdin: &[u8]) -> (String, String, i32) {
    kubectl_with(std::path::Path::new("kubectl"), docker, args, stdin)
}

/// As [`kubectl_status`], with the kubectl binary `kubectl`.
fn kubectl_with(
    kubectl: &std::path::Path,
    docker: &Docker,
    args: &[&str],
    stdin: &[u8],
) -> (String, String, i32) {
    let mut child = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(docker.kubeconfig())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code().unwrap_or(-1),
    )
}

/// Spawns a long-running kubectl and reads its stdout lines until `found` accepts one.
fn kubectl_until(docker: &Docker, args: &[&str], found: impl Fn(&str) -> bool) -> Vec<String> {
    kubectl_typing_until(docker, args, b"", found)
}

/// As [`kubectl_until`], writing `input` to its stdin first and keeping it open.
fn kubectl_typing_until(
    docker: &Docker,
    args: &[&str],
    input: &[u8],
    found: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(docker.kubeconfig())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                let done = found(&line);
                seen.push(line);
                if done {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("kubectl {args:?} never printed what was expected; it printed {seen:?}");
            }
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    seen
}

fn ticks(text: &str) -> u32 {
    text.lines()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_logs_follow_previous_tail_timestamps_and_container_choice() {
    let docker = Docker::start(1, &[]).await;
    create_pod(
        &docker,
        json!({
            "metadata": {"name": "talker"},
            "spec": {"containers": [
                {"name": "app", "image": BUSYBOX, "command": ["sh", "-c",
                    "echo one; echo two >&2; echo three; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done"]},
                {"name": "side", "image": BUSYBOX, "command": ["sh", "-c", "echo side says hi; exec sleep 100000"]},
            ]},
        }),
    )
    .await;
    create_pod(
        &docker,
        json!({
            "metadata": {"name": "crasher"},
            "spec": {"containers": [{"name": "app", "image": BUSYBOX,
                "command": ["sh", "-c", "echo attempt $(date +%s%N); sleep 3; exit 1"]}]},
        }),
    )
    .await;
    wait_pod_running(&docker, "talker", 0).await;

    // kubectl picks the first container itself; the API server asks for a choice.
    let (stdout, stderr, code) = kubectl_status(&docker, &["logs", "talker"], b"");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(r#"Defaulted container "app" out of: app, side"#),
        "{stderr}"
    );
    assert!(stdout.contains("one\n"), "{stdout}");
    let api: Api<Pod> = Api::default_namespaced(docker.client.clone());
    let Err(kube::Error::Api(status)) = api.logs("talker", &LogParams::default()).await else {
        panic!("logs without a container choice succeeded");
    };
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        "a container name must be specified for pod talker, choose one of: [app side]"
    );
    let (_, stderr, code) = kubectl_status(&docker, &["logs", "talker", "-c", "nope"], b"");
    assert_ne!(code, 0);
    assert!(
        stderr.contains("container nope is not valid for pod talker"),
        "{stderr}"
    );

    let log = docker.kubectl(&["logs", "talker", "-c", "app"]);
    // stdout and stderr reach the log from separate pipes: their lines are all there, each
    // stream in its order.
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.starts_with(&["one"]) || lines.starts_with(&["two"]),
        "{log}"
    );
    for line in ["one", "two", "three"] {
        assert!(lines.contains(&line), "{log}");
    }
    let tail = docker.kubectl(&["logs", "talker", "-c", "app", "--tail=1"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");
    let stamped = docker.kubectl(&["logs", "talker", "-c", "side", "--timestamps"]);
    let (at, line) = stamped.trim_end().split_once(' ').unwrap();
    assert_eq!(line, "side says hi");
    // RFC 3339 with nanoseconds, as the kubelet prefixes lines.
    assert!(
        at.len() > 20 && at.as_bytes()[10] == b'T' && at.ends_with('Z'),
        "{stamped}"
    );
    let all = docker.kubectl(&["logs", "talker", "--all-containers"]);
    assert!(
        all.contains("side says hi") && all.contains("three"),
        "{all}"
    );

    // -f keeps the stream open: it shows lines written after it started.
    let before = ticks(&docker.kubectl(&["logs", "talker", "-c", "app"]));
    let followed = kubectl_until(&docker, &["logs", "-f", "talker", "-c", "app"], |line| {
        ticks(line) > before + 2
    });
    assert!(followed.iter().any(|l| l == "one"), "{followed:?}");

    let (_, stderr, code) =
        kubectl_status(&docker, &["logs", "talker", "-c", "app", "--previous"], b"");
    assert_ne!(code, 0);
    assert!(
        stderr.contains(r#"previous terminated container "app" in pod "talker" not found"#),
        "{stderr}"
    );

    // After a restart, --previous reads the container that ended.
    wait_pod_running(&docker, "crasher", 1).await;
    let previous = docker.kubectl(&["logs", "crasher", "--previous"]);
    assert!(previous.starts_with("attempt "), "{previous}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_exec_attach_and_cp() {
    let docker = Docker::start(1, &[]).await;
    create_pod(
        &docker,
        json!({
            "metadata": {"name": "shell"},
            "spec": {"containers": [
                {"name": "app", "image": BUSYBOX, "command": ["sleep", "100000"]},
                {"name": "ticker", "image": BUSYBOX, "command": ["sh", "-c",
                    "i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done"]},
                {"name": "reader", "image": BUSYBOX, "stdin": true, "command": ["sh", "-c",
                    "while read line; do echo got $line; done"]},
            ]},
        }),
    )
    .await;
    wait_pod_running(&docker, "shell", 0).await;

    // Non-interactive, with both streams and the exit code.
    let (stdout, stderr, code) = kubectl_status(
        &docker,
        &[
            "exec",
            "shell",
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        b"",
    );
    assert_eq!((stdout.as_str(), code), ("out\n", 3), "{stderr}");
    assert!(stderr.contains("err"), "{stderr}");
    let (_, stderr, code) = kubectl_status(&docker, &["exec", "shell", "--", "true"], b"");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(r#"Defaulted container "app" out of: app, ticker, reader"#),
        "{stderr}"
    );

    // stdin reaches the process and its end closes it (v5's close signal).
    let (stdout, stderr, code) = kubectl_status(
        &docker,
        &[
            "exec",
            "-i",
            "shell",
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "cat; echo done",
        ],
        b"hello\nworld\n",
    );
    assert_eq!(
        (stdout.as_str(), code),
        ("hello\nworld\ndone\n", 0),
        "{stderr}"
    );

    // kubectl before 1.30 speaks SPDY (v4.channel.k8s.io): the same exit codes, stdin and
    // its end, and cp.
    for kubectl in kubarium_tests::kubectls() {
        let (stdout, stderr, code) = kubectl_with(
            &kubectl,
            &docker,
            &[
                "exec",
                "-i",
                "shell",
                "-c",
                "app",
                "--",
                "sh",
                "-c",
                "cat; echo err >&2; exit 3",
            ],
            b"hello\n",
        );
        assert_eq!(
            (stdout.as_str(), code),
            ("hello\n", 3),
            "{}: {stderr}",
            kubectl.display()
        );
        assert!(stderr.contains("err"), "{}: {stderr}", kubectl.display());
    }

    // A terminal: kubectl under `script` gets a pty, so -it allocates one in the container.
    exec_with_a_terminal(&docker);

    // attach shows the container's own output as it comes.
    let attached = kubectl_until(&docker, &["attach", "shell", "-c", "ticker"], |line| {
        line.starts_with("tick ")
    });
    assert!(!attached.is_empty());
    // attach -i: what is typed reaches the container's own process.
    let answered = kubectl_typing_until(
        &docker,
        &["attach", "-i", "shell", "-c", "reader"],
        b"hello\n",
        |line| line == "got hello",
    );
    assert!(!answered.is_empty());

    // cp both ways (busybox has tar).
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("notes.txt");
    let content = "line one\nline two\n".repeat(1000);
    std::fs::write(&local, &content).unwrap();
    let (_, stderr, code) = kubectl_status(
        &docker,
        &[
            "cp",
            local.to_str().unwrap(),
            "shell:/tmp/notes.txt",
            "-c",
            "app",
        ],
        b"",
    );
    assert_eq!(code, 0, "{stderr}");
    let inside = docker.kubectl(&["exec", "shell", "-c", "app", "--", "cat", "/tmp/notes.txt"]);
    assert_eq!(inside, content);
    let oldest = kubarium_tests::kubectls().pop().unwrap();
    let (_, stderr, code) = kubectl_with(
        &oldest,
        &docker,
        &[
            "cp",
            local.to_str().unwrap(),
            "shell:/tmp/old.txt",
            "-c",
            "app",
        ],
        b"",
    );
    assert_eq!(code, 0, "{stderr}");
    let inside = docker.kubectl(&["exec", "shell", "-c", "app", "--", "cat", "/tmp/old.txt"]);
    assert_eq!(inside, content);
    let back = dir.path().join("back.txt");
    let (_, stderr, code) = kubectl_status(
        &docker,
        &[
            "cp",
            "shell:/tmp/notes.txt",
            back.to_str().unwrap(),
            "-c",
            "app",
        ],
        b"",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&back).unwrap(), content);
}

/// `kubectl exec -it` through `script -qec`, typing into the shell and reading its answer.
fn exec_with_a_terminal(docker: &Docker) {
    let command = format!(
        "kubectl --kubeconfig {} exec -it shell -c app -- sh",
        docker.kubeconfig().display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (output_tx, output_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || output_tx.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let mut wait_for = |text: &str| {
        let deadline = std::time::Instant::now() + PATIENCE;
        while !seen.contains(text) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match output_rx.recv_timeout(left) {
                Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("the terminal never showed {text:?}; it showed {seen:?}"),
            }
        }
    };
    // The product is computed in the container, so its digits come from the shell, not
    // from the terminal's echo of what was typed.
    stdin.write_all(b"echo $((6*7))x; tty\n").unwrap();
    wait_for("42x");
    wait_for("/dev/pts/");
    stdin.write_all(b"exit 4\n").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(4),
        "the shell's exit code reaches kubectl"
    );
}
