//! The desktop app's streams against pods on Docker, called as the app's commands call them
//! (`kubarium_app::streams` with the daemon's client): logs (whole, followed, timestamped,
//! the previous instance, a missing container choice), exec sessions with and without a
//! terminal, Learn mode's one-shot exec, and port-forwards to a pod and to a Service, a taken local port, and stopping.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kubarium_app::ipc::streams::{ExecOutput, ForwardTarget, LogBatch, LogOptions, TargetKind};
use kubarium_app::ipc::{AppError, ErrorCode};
use kubarium_app::streams::{Streams, stream_logs};
use kubarium_app::{Error, Tasks};
use kube::Api;
use kube::api::ListParams;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::support::{BUSYBOX, Docker, SETTLE, create_pod, eventually, wait_pod_running};

/// A channel standing in for the UI's, and the callback that feeds it.
fn channel<T: Send + 'static>() -> (
    impl FnMut(T) -> bool + Send + 'static,
    mpsc::UnboundedReceiver<T>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (move |item| tx.send(item).is_ok(), rx)
}

/// The next message, or a panic naming `what` after [`SETTLE`].
async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(SETTLE, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("the stream ended before {what}"))
}

/// Every line of a log until its end (or error), and how it ended.
async fn whole_log(rx: &mut mpsc::UnboundedReceiver<LogBatch>) -> (Vec<String>, LogBatch) {
    let mut lines = Vec::new();
    loop {
        match next(rx, "the log to end").await {
            LogBatch::Lines { lines: batch } => lines.extend(batch),
            end => return (lines, end),
        }
    }
}

async fn logs(
    docker: &Docker,
    pod: &str,
    container: Option<&str>,
    options: LogOptions,
) -> (Vec<String>, LogBatch) {
    let (send, mut rx) = channel();
    let task = tokio::spawn(stream_logs(
        docker.client.clone(),
        "default".to_owned(),
        pod.to_owned(),
        container.map(str::to_owned),
        options,
        send,
    ));
    let log = whole_log(&mut rx).await;
    task.await.unwrap();
    log
}

fn ticks(lines: &[String]) -> u32 {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("tick ")?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn app_logs_and_exec() {
    let docker = Docker::start_with_images(1, &[]).await;
    create_pod(&docker, json!({
        "metadata": {"name": "talker"},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [
            {"name": "app", "image": BUSYBOX, "command": ["sh", "-c",
                "echo one; echo two; echo three; i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done"]},
            {"name": "side", "image": BUSYBOX, "command": ["sh", "-c", "echo side says hi; exec sleep 100000"]},
        ]},
    }))
    .await;
    create_pod(&docker, json!({
        "metadata": {"name": "crasher"},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "app", "image": BUSYBOX,
            "command": ["sh", "-c", "echo attempt $(date +%s%N); sleep 3; exit 1"]}]},
    }))
    .await;
    wait_pod_running(&docker, "talker", 0).await;

    // The whole log, cut into lines.
    let (lines, end) = eventually("the talker's log to hold three lines", || async {
        let (lines, end) = logs(&docker, "talker", Some("app"), LogOptions::default()).await;
        lines.iter().any(|l| l == "three").then_some((lines, end))
    })
    .await;
    assert_eq!(lines[..3], ["one", "two", "three"], "{lines:?}");
    let LogBatch::End { reason } = end else {
        panic!("{end:?}")
    };
    assert!(reason.contains("Turn on follow"), "{reason}");

    // Which container, when the pod has two, is the user's choice: the server's 400 says so.
    let (_, end) = logs(&docker, "talker", None, LogOptions::default()).await;
    let LogBatch::Error { error } = end else {
        panic!("{end:?}")
    };
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(
        error.message.contains("a container name must be specified"),
        "{error:?}"
    );

    // Timestamps prefix each line with RFC 3339.
    let (lines, _) = logs(
        &docker,
        "talker",
        Some("side"),
        LogOptions {
            timestamps: true,
            ..LogOptions::default()
        },
    )
    .await;
    let (at, line) = lines[0].split_once(' ').unwrap();
    assert_eq!(line, "side says hi");
    assert!(
        at.len() > 20 && at.as_bytes()[10] == b'T' && at.ends_with('Z'),
        "{at}"
    );

    // Following shows lines written after the stream opened; dropping the task ends it.
    let (lines, _) = logs(&docker, "talker", Some("app"), LogOptions::default()).await;
    let before = ticks(&lines);
    let (send, mut rx) = channel();
    let follow = tokio::spawn(stream_logs(
        docker.client.clone(),
        "default".to_owned(),
        "talker".to_owned(),
        Some("app".to_owned()),
        LogOptions {
            follow: true,
            tail_lines: Some(1),
            ..LogOptions::default()
        },
        send,
    ));
    let mut seen = Vec::new();
    while ticks(&seen) <= before + 2 {
        match next(&mut rx, "new tick lines").await {
            LogBatch::Lines { lines } => seen.extend(lines),
            other => panic!("{other:?}"),
        }
    }
    assert!(
        !seen.iter().any(|l| l == "one"),
        "tail 1 skips the start: {seen:?}"
    );
    follow.abort();

    // After a restart, previous reads the instance that ended.
    wait_pod_running(&docker, "crasher", 1).await;
    let (lines, _) = logs(
        &docker,
        "crasher",
        None,
        LogOptions {
            previous: true,
            ..LogOptions::default()
        },
    )
    .await;
    assert!(
        lines.first().is_some_and(|l| l.starts_with("attempt ")),
        "{lines:?}"
    );

    exec(&docker).await;
    exec_run(&docker).await;
}

/// Collects an exec session's output until it exits.
async fn until_exit(
    rx: &mut mpsc::UnboundedReceiver<ExecOutput>,
) -> (String, String, Option<i32>, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        match next(rx, "the command to exit").await {
            ExecOutput::Stdout { data } => out.extend(data),
            ExecOutput::Stderr { data } => err.extend(data),
            ExecOutput::Exit { code, message } => {
                return (
                    String::from_utf8_lossy(&out).into_owned(),
                    String::from_utf8_lossy(&err).into_owned(),
                    code,
                    message,
                );
            }
        }
    }
}

async fn exec(docker: &Docker) {
    let tasks = Tasks::default();
    let streams = Streams::default();
    let start = |command: &[&str], tty: bool| {
        let (send, rx) = channel();
        let command = command.iter().map(|s| (*s).to_owned()).collect();
        let started = streams.exec_start(
            &tasks,
            docker.client.clone(),
            "default",
            "talker",
            Some("side".to_owned()),
            command,
            tty,
            send,
        );
        async move { (started.await, rx) }
    };

    // Without a terminal: both streams apart, and the exit code.
    let (id, mut rx) = start(&["sh", "-c", "echo hi; echo oops >&2; exit 3"], false).await;
    id.unwrap();
    let (out, err, code, message) = until_exit(&mut rx).await;
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("hi\n", "oops\n", Some(3)),
        "{message}"
    );
    let (id, mut rx) = start(&["echo", "hi"], false).await;
    id.unwrap();
    assert_eq!(until_exit(&mut rx).await.2, Some(0));

    // Standard input reaches the command.
    let (id, mut rx) = start(&["sh", "-c", "read line; echo got $line"], false).await;
    let id = id.unwrap();
    streams.exec_input(id, b"typed\n".to_vec()).unwrap();
    assert_eq!(until_exit(&mut rx).await.0, "got typed\n");

    // A program the container does not have: the runtime's 126, which the exec pane reads as
    // "no such program" (and, for its default sh, "no shell").
    let (id, mut rx) = start(&["no-such-shell"], false).await;
    id.unwrap();
    let (_, _, code, message) = until_exit(&mut rx).await;
    assert!(matches!(code, Some(126 | 127)), "{code:?}: {message}");

    // With a terminal: typed input, a resize, the shell's exit code.
    let (id, mut rx) = start(&["sh"], true).await;
    let id = id.unwrap();
    streams.exec_resize(id, 100, 30).unwrap();
    // A resize travels apart from the input, as the kubelet's does (the runtime is asked
    // to resize while the input is already on its way), so the shell may answer before the
    // new size lands: ask again, a bounded number of times, until it shows.
    let mut shown = Vec::new();
    let mut asked = 0;
    while !String::from_utf8_lossy(&shown).contains("30 100") {
        assert!(
            asked < 20,
            "the resize reaches the terminal: {}",
            String::from_utf8_lossy(&shown)
        );
        if asked > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        asked += 1;
        streams
            .exec_input(id, b"stty size; echo $((6*7))\n".to_vec())
            .unwrap();
        while String::from_utf8_lossy(&shown).matches("42").count() < asked {
            match next(&mut rx, "the shell's answer").await {
                ExecOutput::Stdout { data } => shown.extend(data),
                other => panic!("{other:?}"),
            }
        }
    }
    streams.exec_input(id, b"exit 4\n".to_vec()).unwrap();
    assert_eq!(until_exit(&mut rx).await.2, Some(4));

    // Stopping a session ends it; its input is refused after.
    let (id, _rx) = start(&["sh"], true).await;
    let id = id.unwrap();
    tasks.stop(id);
    eventually("input to a stopped session to be refused", || async {
        streams
            .exec_input(id, b"echo\n".to_vec())
            .is_err()
            .then_some(())
    })
    .await;
}

/// Learn mode's one-shot exec: both streams apart with the exit code, output capped, and a
/// command that never ends cancelled at the limit with a result that says so.
async fn exec_run(docker: &Docker) {
    let run = |command: &[&str]| {
        kubarium_app::exec_run(
            docker.client.clone(),
            "default",
            "talker",
            Some("side".to_owned()),
            command.iter().map(|s| (*s).to_owned()).collect(),
        )
    };
    let result = run(&["sh", "-c", "echo hi; echo oops >&2; exit 3"])
        .await
        .unwrap();
    assert_eq!(
        (
            result.stdout.as_str(),
            result.stderr.as_str(),
            result.exit_code
        ),
        ("hi\n", "oops\n", Some(3)),
        "{}",
        result.message
    );
    let result = run(&["sh", "-c", "yes | head -c 100000"]).await.unwrap();
    assert_eq!(result.exit_code, Some(0), "{}", result.message);
    assert_eq!(result.stdout.len(), 64 * 1024);
    let result = run(&["sh", "-c", "echo started; exec sleep 100000"])
        .await
        .unwrap();
    assert_eq!(result.exit_code, None, "{result:?}");
    assert_eq!(result.stdout, "started\n");
    assert!(result.message.contains("cancelled"), "{}", result.message);
}

/// `GET /` through 127.0.0.1:`port`: the response, or `None` if the connection failed.
async fn fetch(port: u16) -> Option<String> {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    socket
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&response).into_owned()).filter(|r| !r.is_empty())
}

#[tokio::test(flavor = "multi_thread")]
async fn app_port_forward() {
    let docker = Docker::start_with_images(1, &[]).await;
    docker.apply(
        r#"apiVersion: apps/v1
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
        imagePullPolicy: IfNotPresent
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"#,
    );
    let api: Api<Pod> = Api::default_namespaced(docker.client.clone());
    let pod = eventually("the web pod to be ready", || async {
        let pods = api
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?
            .items;
        let ready = pods.into_iter().find(|pod| {
            pod.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })?;
        ready.metadata.name
    })
    .await;
    let tasks = Tasks::default();
    let streams = Streams::default();
    let start = |kind, name: &str, remote_port, local_port| {
        let target = ForwardTarget {
            kind,
            name: name.to_owned(),
        };
        streams.port_forward_start(
            &tasks,
            docker.client.clone(),
            "local",
            "default",
            target,
            remote_port,
            local_port,
        )
    };

    // To the pod, on a free port.
    let to_pod = start(TargetKind::Pod, &pod, 8080, None).await.unwrap();
    assert_eq!(
        to_pod.url,
        format!("http://127.0.0.1:{}/", to_pod.local_port)
    );
    let page = eventually("a page through the pod's forward", || {
        fetch(to_pod.local_port)
    })
    .await;
    assert!(
        page.starts_with("HTTP/1.") && page.contains(" 200 "),
        "{page}"
    );
    // Each connection has its own stream: a second one works as well.
    assert!(
        fetch(to_pod.local_port)
            .await
            .is_some_and(|p| p.contains(" 200 "))
    );

    // To the Service: its port 80 is the pod's port named http (8080).
    let to_service = start(TargetKind::Service, "web", 80, None).await.unwrap();
    assert_eq!(
        (to_service.pod.as_str(), to_service.pod_port),
        (pod.as_str(), 8080)
    );
    let page = eventually("a page through the Service's forward", || {
        fetch(to_service.local_port)
    })
    .await;
    assert!(page.contains(" 200 "), "{page}");
    let listed: Vec<u64> = streams.port_forwards().iter().map(|f| f.id).collect();
    assert_eq!(listed, [to_pod.id, to_service.id]);

    // A port the Service does not have, and a local port that is taken.
    let Err(error) = start(TargetKind::Service, "web", 81, None).await else {
        panic!("port 81 forwarded")
    };
    assert!(
        error
            .to_string()
            .contains("has no port 81; its ports are 80"),
        "{error}"
    );
    let taken = start(TargetKind::Pod, &pod, 8080, Some(to_pod.local_port)).await;
    let Err(error @ Error::Local(_)) = taken else {
        panic!("{taken:?}")
    };
    let error = AppError::from(error);
    assert_eq!(error.code, ErrorCode::Local);
    assert_eq!(
        error.message,
        format!(
            "127.0.0.1:{} is already in use; choose another port or leave it empty to pick a free one.",
            to_pod.local_port
        )
    );

    // Stopping closes the listener and drops the forward from the list.
    streams.port_forward_stop(&tasks, to_pod.id);
    eventually(
        "the stopped forward's port to refuse connections",
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", to_pod.local_port))
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    let listed: Vec<u64> = streams.port_forwards().iter().map(|f| f.id).collect();
    assert_eq!(listed, [to_service.id]);
    assert!(fetch(to_service.local_port).await.is_some());
}
