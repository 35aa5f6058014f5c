//! Probes, re-adoption and node status on Docker: readiness gates a pod's `Ready` (exec,
//! httpGet by port name, tcpSocket), a failing liveness probe restarts its container with
//! the kubelet's events, a startup probe holds the other probes back, a restarted daemon
//! keeps its pods' containers (same ids, nothing restarted) and removes a container whose
//! pod is gone, and Docker nodes report the engine's version, the machine's capacity and
//! its images. Files are made and removed in containers with `docker exec` (the test's own
//! containers), so no step waits on a clock: each waits for the state it expects.

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Node, Pod};
use kubarium_tests::daemon::Daemon;
use kube::Api;
use kube::api::{ListParams, WatchEvent, WatchParams};

use crate::support::{BUSYBOX, Docker, SETTLE, cluster_id, docker, eventually, wait_pod};

/// A one-node Docker cluster (its containers and network go when it is dropped).
async fn start() -> Docker {
    Docker::start_with_images(1, &[]).await
}

fn status_of<'a>(pod: &'a Pod, container: &str) -> Option<&'a ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .iter()
        .flatten()
        .find(|s| s.name == container)
}

fn running(pod: &Pod, container: &str) -> bool {
    status_of(pod, container)
        .and_then(|s| s.state.as_ref())
        .is_some_and(|s| s.running.is_some())
}

fn condition(pod: &Pod, type_: &str) -> Option<(String, Option<String>)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)?;
    Some((c.status.clone(), c.message.clone()))
}

fn docker_id(pod: &Pod, container: &str) -> String {
    let uri = status_of(pod, container)
        .and_then(|s| s.container_id.clone())
        .unwrap_or_default();
    uri.strip_prefix("docker://").unwrap_or_default().to_owned()
}

/// Waits for an event of pod `pod` with `reason` whose message contains `text`; how many
/// times it was recorded.
async fn wait_event(client: &kube::Client, pod: &str, reason: &str, text: &str) -> i32 {
    let api = Api::<Event>::namespaced(client.clone(), "default");
    let what = format!("a {reason} event of {pod} saying {text:?}");
    eventually(&what, || {
        let api = api.clone();
        async move {
            let params = ListParams::default().fields(&format!("involvedObject.name={pod}"));
            let events = api.list(&params).await.ok()?;
            events
                .items
                .iter()
                .find(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.message.as_deref().is_some_and(|m| m.contains(text))
                })
                .map(|e| e.count.unwrap_or(1))
        }
    })
    .await
}

fn container(name: &str, script: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    image: {BUSYBOX}\n    imagePullPolicy: Never\n    command: [\"sh\", \"-c\", {}]\n{extra}",
        serde_json::to_string(script).unwrap()
    )
}

fn pod(name: &str, grace: u32, containers: &[String]) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: {grace}\n  containers:\n{}",
        containers.concat()
    )
}

#[tokio::test]
async fn readiness_probes_gate_the_pods_ready_condition() {
    let cluster = start().await;
    cluster.apply(&pod(
            "gated",
            1,
            &[
                container(
                    "exec",
                    "exec sleep 3600",
                    "    readinessProbe:\n      exec:\n        command: [\"test\", \"-f\", \"/tmp/ready\"]\n      periodSeconds: 1\n",
                ),
                container(
                    "web",
                    "mkdir -p /www && exec httpd -f -p 8080 -h /www",
                    "    ports:\n    - name: http\n      containerPort: 8080\n    readinessProbe:\n      httpGet:\n        path: /healthz\n        port: http\n      periodSeconds: 1\n",
                ),
                container(
                    "tcp",
                    "mkdir -p /www && exec httpd -f -p 9000 -h /www",
                    "    readinessProbe:\n      tcpSocket:\n        port: 9000\n      periodSeconds: 1\n",
                ),
            ],
        ),
    );
    let client = &cluster.client;
    // The tcpSocket probe passes once httpd listens; the others wait for their files.
    let pod = wait_pod(client, "gated", "the tcp container to be ready", |pod| {
        running(pod, "exec")
            && running(pod, "web")
            && status_of(pod, "tcp").is_some_and(|s| s.ready)
    })
    .await;
    assert!(!status_of(&pod, "exec").unwrap().ready);
    assert!(!status_of(&pod, "web").unwrap().ready);
    let (ready, message) = condition(&pod, "Ready").unwrap();
    assert_eq!(ready, "False");
    assert_eq!(
        message.as_deref(),
        Some("containers with unready status: [exec web]")
    );
    wait_event(
        client,
        "gated",
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 404",
    )
    .await;

    docker(&["exec", &docker_id(&pod, "exec"), "touch", "/tmp/ready"]);
    docker(&[
        "exec",
        &docker_id(&pod, "web"),
        "sh",
        "-c",
        "echo ok > /www/healthz",
    ]);
    let pod = wait_pod(client, "gated", "the pod to be Ready", |pod| {
        condition(pod, "Ready").is_some_and(|(s, _)| s == "True")
    })
    .await;
    assert_eq!(condition(&pod, "ContainersReady").unwrap().0, "True");
    assert!(
        ["exec", "web", "tcp"]
            .iter()
            .all(|c| status_of(&pod, c).is_some_and(|s| s.ready && s.started == Some(true)))
    );

    // Readiness failing again takes Ready away; nothing is restarted for it.
    docker(&["exec", &docker_id(&pod, "exec"), "rm", "/tmp/ready"]);
    let pod = wait_pod(client, "gated", "the pod to be un-Ready", |pod| {
        condition(pod, "Ready").is_some_and(|(s, _)| s == "False")
    })
    .await;
    assert_eq!(
        condition(&pod, "Ready").unwrap().1.as_deref(),
        Some("containers with unready status: [exec]")
    );
    assert!(running(&pod, "exec"));
    assert_eq!(status_of(&pod, "exec").unwrap().restart_count, 0);
    wait_event(client, "gated", "Unhealthy", "Readiness probe failed: ").await;
}

#[tokio::test]
async fn liveness_failures_restart_the_container_with_back_off() {
    let cluster = start().await;
    cluster.apply(&pod(
            "dying",
            1,
            &[container(
                "live",
                "exec sleep 3600",
                "    livenessProbe:\n      exec:\n        command: [\"test\", \"-f\", \"/tmp/alive\"]\n      periodSeconds: 1\n      failureThreshold: 2\n",
            )],
        ),
    );
    let client = &cluster.client;
    let pod = wait_pod(
        client,
        "dying",
        "two restarts by the liveness probe",
        |pod| status_of(pod, "live").is_some_and(|s| s.restart_count >= 2),
    )
    .await;
    let status = status_of(&pod, "live").unwrap();
    let last = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    assert!(
        last.is_some(),
        "lastState shows the killed container: {status:?}"
    );
    wait_event(client, "dying", "Unhealthy", "Liveness probe failed: ").await;
    wait_event(
        client,
        "dying",
        "Killing",
        "Container live failed liveness probe, will be restarted",
    )
    .await;
    // Restarted again and again, the container waits out the crash-loop back-off.
    wait_pod(client, "dying", "CrashLoopBackOff", |pod| {
        status_of(pod, "live")
            .and_then(|s| s.state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
    })
    .await;
    wait_event(
        client,
        "dying",
        "BackOff",
        "Back-off restarting failed container live",
    )
    .await;
}

#[tokio::test]
async fn a_startup_probe_holds_liveness_and_readiness_back() {
    let cluster = start().await;
    // Liveness would fail at once (failureThreshold 1) if it ran before the start.
    cluster.apply(&pod(
            "slow",
            1,
            &[container(
                "app",
                "exec sleep 3600",
                "    startupProbe:\n      exec:\n        command: [\"test\", \"-f\", \"/tmp/started\"]\n      periodSeconds: 1\n      failureThreshold: 600\n    livenessProbe:\n      exec:\n        command: [\"test\", \"-f\", \"/tmp/started\"]\n      periodSeconds: 1\n      failureThreshold: 1\n    readinessProbe:\n      exec:\n        command: [\"true\"]\n      periodSeconds: 1\n",
            )],
        ),
    );
    let client = &cluster.client;
    wait_pod(client, "slow", "the container to run", |pod| {
        running(pod, "app")
    })
    .await;
    // Several startup probes have failed: liveness would have killed it by now.
    while wait_event(client, "slow", "Unhealthy", "Startup probe failed: ").await < 3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pod = Api::<Pod>::namespaced(client.clone(), "default")
        .get("slow")
        .await
        .unwrap();
    let status = status_of(&pod, "app").unwrap();
    assert_eq!(status.started, Some(false));
    assert!(!status.ready);
    assert_eq!(
        status.restart_count, 0,
        "liveness ran before the start: {status:?}"
    );

    docker(&["exec", &docker_id(&pod, "app"), "touch", "/tmp/started"]);
    let pod = wait_pod(
        client,
        "slow",
        "the container to start and be ready",
        |pod| status_of(pod, "app").is_some_and(|s| s.started == Some(true) && s.ready),
    )
    .await;
    assert_eq!(status_of(&pod, "app").unwrap().restart_count, 0);
    assert_eq!(condition(&pod, "Ready").unwrap().0, "True");
}

#[tokio::test]
async fn a_restarted_daemon_keeps_its_containers_and_removes_orphans() {
    let mut cluster = start().await;
    let id = cluster_id(&cluster).await;

    // Docker nodes report the engine, the machine and its images.
    let node = Api::<Node>::all(cluster.client.clone());
    let status = eventually("the node to list its images", || {
        let node = node.clone();
        async move {
            let status = node.get("kubarium-control-plane").await.ok()?.status?;
            status.images.as_ref().filter(|i| !i.is_empty())?;
            Some(status)
        }
    })
    .await;
    let info = status.node_info.unwrap();
    assert!(
        info.container_runtime_version.starts_with("docker://"),
        "{info:?}"
    );
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(status.capacity.unwrap()["cpu"].0, cpus.to_string());
    assert!(status.allocatable.unwrap().contains_key("memory"));
    assert!(
        status
            .images
            .unwrap()
            .iter()
            .any(|i| i.names.iter().flatten().any(|n| n == BUSYBOX)),
        "{BUSYBOX} is listed"
    );

    cluster.apply(&pod(
            "keeper",
            1,
            &[container(
                "app",
                "exec sleep 3600",
                "    readinessProbe:\n      exec:\n        command: [\"true\"]\n      periodSeconds: 1\n",
            )],
        ),
    );
    let before = wait_pod(&cluster.client, "keeper", "the pod to be Ready", |pod| {
        status_of(pod, "app").is_some_and(|s| s.ready)
    })
    .await;
    let app = docker_id(&before, "app");
    let uid = before.metadata.uid.clone().unwrap();
    let containers = |uid: &str| {
        let mut ids: Vec<String> = docker(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=io.kubernetes.pod.uid={uid}"),
        ])
        .lines()
        .map(str::to_owned)
        .collect();
        ids.sort();
        ids
    };
    let kept = containers(&uid);
    assert_eq!(kept.len(), 2, "a sandbox and the app: {kept:?}");

    // Down goes the daemon; its containers run on. A container of a pod that no longer
    // exists appears meanwhile.
    let listen = cluster.daemon.url.trim_start_matches("https://").to_owned();
    cluster.daemon.stop_with("TERM");
    assert!(
        docker(&["inspect", "--format", "{{.State.Running}}", &app]) == "true",
        "the app container runs on while the daemon is down"
    );
    let orphan = docker(&[
        "run",
        "-d",
        "--label",
        &format!("kubarium.dev/cluster={id}"),
        "--label",
        "kubarium.dev/node=kubarium-control-plane",
        "--label",
        "io.kubernetes.pod.namespace=default",
        "--label",
        "io.kubernetes.pod.name=gone",
        "--label",
        "io.kubernetes.pod.uid=00000000-0000-0000-0000-00000000dead",
        "--label",
        "io.kubernetes.container.name=app",
        "--label",
        "io.kubernetes.docker.type=container",
        BUSYBOX,
        "sleep",
        "3600",
    ]);
    let dir = cluster.daemon.take_dir();
    cluster.daemon = Daemon::start_in(
        dir,
        &[
            "--listen",
            &listen,
            "--nodes",
            "1",
            "--runtime",
            "docker",
            "--ingress-http-port",
            "0",
            "--ingress-https-port",
            "0",
        ],
    );
    cluster.client = cluster.daemon.client().await;

    eventually("the orphaned container to be removed", || {
        let orphan = orphan.clone();
        async move {
            let left = docker(&[
                "ps",
                "-aq",
                "--no-trunc",
                "--filter",
                &format!("id={orphan}"),
            ]);
            left.is_empty().then_some(())
        }
    })
    .await;
    // The new agent's worker reports the pod afresh: un-Ready until its readiness probe
    // passes again, then Ready, all along with the same container. Watched from the
    // revision seen before the restart, so no status in between is missed.
    let api = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let params = WatchParams::default().fields("metadata.name=keeper");
    let revision = before.metadata.resource_version.clone().unwrap();
    let stream = api.watch(&params, &revision).await.unwrap();
    futures_util::pin_mut!(stream);
    let mut unready = false;
    let after = tokio::time::timeout(SETTLE, async {
        while let Some(event) = stream.next().await {
            let WatchEvent::Modified(pod) = event.unwrap() else {
                continue;
            };
            let Some(status) = status_of(&pod, "app") else {
                continue;
            };
            assert_eq!(docker_id(&pod, "app"), app, "the same container");
            assert_eq!(status.restart_count, 0, "nothing restarted");
            unready |= !status.ready;
            if unready && status.ready {
                return pod;
            }
        }
        panic!("the watch of the adopted pod ended");
    })
    .await
    .expect("the adopted pod to be reported un-Ready, then Ready");
    assert_eq!(status_of(&after, "app").unwrap().restart_count, 0);
    assert_eq!(
        containers(&uid),
        kept,
        "the same sandbox and container, nothing new"
    );
    assert_eq!(
        docker(&["inspect", "--format", "{{.State.Running}}", &app]),
        "true"
    );
}
