//! Pods as Docker containers: a sandbox holding the pod's network, containers sharing its
//! localhost, restart policies with their exit codes and reasons, init containers in order,
//! graceful termination (and the final status a watcher's DELETED event carries), OOMKilled, a container killed from outside restarted and counted,
//! and the labels and addresses every container gets. Everything is checked as a user sees
//! it: kubectl and the pod's status, and `docker` for what lives in the engine.

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::Api;
use kube::api::{WatchEvent, WatchParams};

use crate::support::{BUSYBOX, Docker, SETTLE, cluster_id, docker, eventually, wait_pod};

/// A pod of busybox containers, each running `sh -c <script>`.
fn pod_yaml(name: &str, restart_policy: &str, extra: &str, containers: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {restart_policy}\n{extra}  containers:\n"
    );
    for (container, script) in containers {
        yaml.push_str(&container_yaml(container, script, ""));
    }
    yaml
}

fn container_yaml(name: &str, script: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    image: {BUSYBOX}\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\"]\n    args: [{}]\n{extra}",
        serde_json::to_string(script).unwrap()
    )
}

fn status_of<'a>(pod: &'a Pod, container: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .find(|s| s.name == container)
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// The terminated state of `container` (current, or last when `last`).
fn terminated(pod: &Pod, container: &str, last: bool) -> Option<(i32, String)> {
    let status = status_of(pod, container)?;
    let state = if last {
        status.last_state.as_ref()
    } else {
        status.state.as_ref()
    }?;
    let terminated = state.terminated.as_ref()?;
    Some((
        terminated.exit_code,
        terminated.reason.clone().unwrap_or_default(),
    ))
}

#[tokio::test]
async fn containers_of_a_pod_share_localhost_and_carry_the_clusters_labels() {
    let cluster = Docker::start_with_images(1, &[]).await;
    cluster.apply(&pod_yaml(
        "pair",
        "Never",
        "",
        &[
            (
                "server",
                "mkdir -p /www && echo hello-from-server > /www/index.html && exec httpd -f -p 8080 -h /www",
            ),
            (
                "client",
                "for i in $(seq 1 300); do wget -q -O /tmp/got http://localhost:8080/index.html && grep -q hello-from-server /tmp/got && exit 0; sleep 0.2; done; exit 1",
            ),
        ],
    ));
    let pod = wait_pod(
        &cluster.client,
        "pair",
        "client to fetch from server",
        |pod| terminated(pod, "client", false).is_some(),
    )
    .await;
    assert_eq!(
        terminated(&pod, "client", false),
        Some((0, "Completed".to_owned())),
        "the client could not reach the server over localhost: {:?}",
        pod.status
    );
    assert!(
        status_of(&pod, "server")
            .and_then(|s| s.state.as_ref())
            .is_some_and(|s| s.running.is_some())
    );
    assert_eq!(phase(&pod), Some("Running"));

    // The pod's address is on the cluster's network; its host's is set.
    let status = pod.status.clone().unwrap();
    let pod_ip = status.pod_ip.clone().expect("podIP is set");
    assert!(status.host_ip.is_some(), "hostIP is set");
    let uid = pod.metadata.uid.clone().unwrap();
    let id = cluster_id(&cluster).await;
    let network = docker(&[
        "network",
        "ls",
        "--filter",
        &format!("label=kubarium.dev/cluster={id}"),
        "--format",
        "{{.Name}}",
    ]);
    assert!(
        network.starts_with("kubarium-"),
        "one network per cluster: {network}"
    );
    let addresses = docker(&[
        "network",
        "inspect",
        &network,
        "--format",
        "{{range .Containers}}{{.IPv4Address}} {{end}}",
    ]);
    assert!(
        addresses
            .split_whitespace()
            .any(|a| a.split('/').next() == Some(pod_ip.as_str())),
        "podIP {pod_ip} is not on {network}: {addresses}"
    );

    // Every container carries the labels, and dockershim's names.
    let listed = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=io.kubernetes.pod.uid={uid}"),
        "--format",
        "{{.Names}} {{.Label \"kubarium.dev/cluster\"}} {{.Label \"kubarium.dev/node\"}} {{.Label \"io.kubernetes.pod.namespace\"}} {{.Label \"io.kubernetes.pod.name\"}} {{.Label \"io.kubernetes.container.name\"}}",
    ]);
    let mut rows: Vec<&str> = listed.lines().collect();
    rows.sort();
    let expected: Vec<String> = ["POD", "client", "server"]
        .iter()
        .map(|c| {
            format!("k8s_{c}_pair_default_{uid}_0 {id} kubarium-control-plane default pair {c}")
        })
        .collect();
    assert_eq!(rows, expected);

    cluster.kubectl(&["delete", "pod", "pair", "--grace-period=1", "--wait=true"]);
    let left = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.kubernetes.pod.uid={uid}"),
    ]);
    assert_eq!(left, "", "a deleted pod's containers are removed");
}

#[tokio::test]
async fn restart_policies_decide_what_an_exit_means() {
    let cluster = Docker::start_with_images(1, &[]).await;
    cluster.apply(&pod_yaml("never-ok", "Never", "", &[("main", "exit 0")]));
    cluster.apply(&pod_yaml("never-fails", "Never", "", &[("main", "exit 2")]));
    cluster.apply(&pod_yaml(
        "onfailure-ok",
        "OnFailure",
        "",
        &[("main", "exit 0")],
    ));
    cluster.apply(&pod_yaml(
        "onfailure-fails",
        "OnFailure",
        "",
        &[("main", "exit 3")],
    ));

    let pod = wait_pod(&cluster.client, "never-ok", "never-ok to succeed", |p| {
        phase(p) == Some("Succeeded")
    })
    .await;
    assert_eq!(
        terminated(&pod, "main", false),
        Some((0, "Completed".to_owned()))
    );

    let pod = wait_pod(&cluster.client, "never-fails", "never-fails to fail", |p| {
        phase(p) == Some("Failed")
    })
    .await;
    assert_eq!(
        terminated(&pod, "main", false),
        Some((2, "Error".to_owned()))
    );
    assert_eq!(status_of(&pod, "main").unwrap().restart_count, 0);

    let pod = wait_pod(
        &cluster.client,
        "onfailure-ok",
        "onfailure-ok to succeed",
        |p| phase(p) == Some("Succeeded"),
    )
    .await;
    assert_eq!(
        terminated(&pod, "main", false),
        Some((0, "Completed".to_owned()))
    );
    assert_eq!(status_of(&pod, "main").unwrap().restart_count, 0);

    let pod = wait_pod(
        &cluster.client,
        "onfailure-fails",
        "onfailure-fails to be restarted",
        |p| status_of(p, "main").is_some_and(|s| s.restart_count >= 1),
    )
    .await;
    assert_eq!(
        terminated(&pod, "main", true),
        Some((3, "Error".to_owned()))
    );
    assert_ne!(phase(&pod), Some("Failed"));
    assert_ne!(phase(&pod), Some("Succeeded"));
}

#[tokio::test]
async fn init_containers_run_in_order_before_the_app() {
    let cluster = Docker::start_with_images(1, &[]).await;
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ordered\nspec:\n  restartPolicy: Never\n  volumes:\n  - name: work\n    emptyDir: {}\n  initContainers:\n",
    );
    let mount = "    volumeMounts:\n    - name: work\n      mountPath: /work\n";
    yaml.push_str(&container_yaml(
        "first",
        "sleep 1; echo first >> /work/order",
        mount,
    ));
    yaml.push_str(&container_yaml(
        "second",
        "echo second >> /work/order",
        mount,
    ));
    yaml.push_str("  containers:\n");
    yaml.push_str(&container_yaml(
        "app",
        "echo app >> /work/order; test \"$(cat /work/order | tr '\\n' ' ')\" = 'first second app '",
        mount,
    ));
    cluster.apply(&yaml);
    let pod = wait_pod(&cluster.client, "ordered", "the pod to finish", |p| {
        matches!(phase(p), Some("Succeeded" | "Failed"))
    })
    .await;
    assert_eq!(
        terminated(&pod, "first", false),
        Some((0, "Completed".to_owned()))
    );
    assert_eq!(
        terminated(&pod, "second", false),
        Some((0, "Completed".to_owned()))
    );
    assert_eq!(
        terminated(&pod, "app", false),
        Some((0, "Completed".to_owned())),
        "the app did not see the init containers' writes in order: {:?}",
        pod.status
    );
    assert_eq!(phase(&pod), Some("Succeeded"));
}

/// Applies pod `name` (its `metadata` lines added) with a grace period of `grace` seconds
/// and two containers, `handles-term` (exits 0 on SIGTERM) and `ignores-term`, and waits
/// until both run.
async fn run_term_pair(cluster: &Docker, name: &str, metadata: &str, grace: u32) -> Pod {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n{metadata}spec:\n  terminationGracePeriodSeconds: {grace}\n  containers:\n"
    );
    yaml.push_str(&container_yaml(
        "handles-term",
        "trap 'exit 0' TERM; while true; do sleep 0.2; done",
        "",
    ));
    yaml.push_str(&container_yaml(
        "ignores-term",
        "trap '' TERM; while true; do sleep 0.2; done",
        "",
    ));
    cluster.apply(&yaml);
    wait_pod(&cluster.client, name, "both containers to run", |p| {
        ["handles-term", "ignores-term"].iter().all(|c| {
            status_of(p, c)
                .and_then(|s| s.state.as_ref())
                .is_some_and(|s| s.running.is_some())
        })
    })
    .await
}

#[tokio::test]
async fn termination_sends_term_then_kills_after_the_grace_period() {
    let cluster = Docker::start_with_images(1, &[]).await;
    // A finalizer keeps the pod, and its final status, after its node has finished it.
    let pod = run_term_pair(
        &cluster,
        "graceful",
        "  finalizers: [kubarium.dev/test-hold]\n",
        3,
    )
    .await;
    let uid = pod.metadata.uid.clone().unwrap();

    cluster.kubectl(&["delete", "pod", "graceful", "--wait=false"]);
    let last = wait_pod(&cluster.client, "graceful", "both containers to end", |p| {
        ["handles-term", "ignores-term"]
            .iter()
            .all(|c| terminated(p, c, false).is_some())
    })
    .await;
    assert_eq!(
        terminated(&last, "handles-term", false),
        Some((0, "Completed".to_owned())),
        "a container that handles SIGTERM ends with its own exit code: {:?}",
        last.status
    );
    assert_eq!(
        terminated(&last, "ignores-term", false),
        Some((137, "Error".to_owned())),
        "a container that ignores SIGTERM is killed after the grace period: {:?}",
        last.status
    );
    let left = eventually("the pod's containers to be removed", || async {
        let left = docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.kubernetes.pod.uid={uid}"),
        ]);
        left.is_empty().then_some(())
    });
    left.await;
    let hold = r#"[{"op": "remove", "path": "/metadata/finalizers"}]"#;
    cluster.kubectl(&["patch", "pod", "graceful", "--type=json", "-p", hold]);
}

#[tokio::test]
async fn a_watcher_sees_the_deleted_pod_with_how_its_containers_ended() {
    let cluster = Docker::start_with_images(1, &[]).await;
    let running = run_term_pair(&cluster, "watched", "", 2).await;
    let api = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let params = WatchParams::default().fields("metadata.name=watched");
    let revision = running.metadata.resource_version.clone().unwrap();
    let stream = api.watch(&params, &revision).await.unwrap();
    futures_util::pin_mut!(stream);

    cluster.kubectl(&["delete", "pod", "watched", "--wait=false"]);
    let deleted = tokio::time::timeout(SETTLE, async {
        while let Some(event) = stream.next().await {
            if let WatchEvent::Deleted(pod) = event.unwrap() {
                return pod;
            }
        }
        panic!("the watch ended before the pod was deleted");
    })
    .await
    .expect("the DELETED event");
    // The node wrote the final status before it finished the deletion, as the kubelet does.
    assert_eq!(
        terminated(&deleted, "handles-term", false),
        Some((0, "Completed".to_owned())),
        "{:?}",
        deleted.status
    );
    assert_eq!(
        terminated(&deleted, "ignores-term", false),
        Some((137, "Error".to_owned())),
        "{:?}",
        deleted.status
    );
    assert_eq!(phase(&deleted), Some("Failed"));
    let status = deleted.status.as_ref().unwrap();
    assert!(status.container_statuses.iter().flatten().all(|s| !s.ready));
    for kind in ["Ready", "ContainersReady"] {
        let condition = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == kind)
            .unwrap();
        assert_eq!(condition.status, "False", "{condition:?}");
    }
}

#[tokio::test]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let cluster = Docker::start_with_images(1, &[]).await;
    let limits = "    resources:\n      limits:\n        memory: 16Mi\n";
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hungry\nspec:\n  restartPolicy: Never\n  containers:\n{}",
        // The allocation waits a moment: containerd starts watching a container's cgroup
        // for OOM kills only once it has started, so a kill before then can go unreported.
        container_yaml(
            "eater",
            "sleep 1; dd if=/dev/zero of=/dev/null bs=128M count=1",
            limits
        )
    );
    cluster.apply(&yaml);
    let pod = wait_pod(&cluster.client, "hungry", "the container to end", |p| {
        terminated(p, "eater", false).is_some()
    })
    .await;
    assert_eq!(
        terminated(&pod, "eater", false),
        Some((137, "OOMKilled".to_owned())),
        "{:?}",
        pod.status
    );
    assert_eq!(phase(&pod), Some("Failed"));
}

#[tokio::test]
async fn a_container_killed_from_outside_is_restarted_and_counted() {
    let cluster = Docker::start_with_images(1, &[]).await;
    cluster.apply(&pod_yaml(
        "victim",
        "Always",
        "",
        &[("main", "exec sleep 3600")],
    ));
    let pod = wait_pod(&cluster.client, "victim", "the container to run", |p| {
        status_of(p, "main")
            .and_then(|s| s.state.as_ref())
            .is_some_and(|s| s.running.is_some())
    })
    .await;
    let container = status_of(&pod, "main")
        .and_then(|s| s.container_id.clone())
        .unwrap();
    let id = container
        .strip_prefix("docker://")
        .expect("a docker:// container id");
    docker(&["kill", id]);
    let pod = wait_pod(
        &cluster.client,
        "victim",
        "the container to run again",
        |p| {
            status_of(p, "main").is_some_and(|s| {
                s.restart_count == 1 && s.state.as_ref().is_some_and(|s| s.running.is_some())
            })
        },
    )
    .await;
    assert_eq!(
        terminated(&pod, "main", true),
        Some((137, "Error".to_owned()))
    );
    let now = status_of(&pod, "main")
        .and_then(|s| s.container_id.clone())
        .unwrap();
    assert_ne!(now, container, "a new container runs");
    let out = cluster.kubectl(&[
        "get",
        "pod",
        "victim",
        "-o",
        "jsonpath={.status.containerStatuses[0].restartCount}",
    ]);
    assert_eq!(out, "1");
}

#[tokio::test]
async fn without_docker_nodes_are_not_ready_and_say_why() {
    let dir = tempfile::TempDir::new().unwrap();
    let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
    let daemon = kubarium_tests::daemon::Daemon::start_in_env(
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
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let client = daemon.client().await;
    let nodes = Api::<k8s_openapi::api::core::v1::Node>::all(client);
    let message = eventually("the node to say Docker is not reachable", || {
        let nodes = nodes.clone();
        async move {
            let node = nodes.get("kubarium-control-plane").await.ok()?;
            let ready = node
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            (ready.status == "False").then_some(ready.message.unwrap_or_default())
        }
    })
    .await;
    assert!(
        message.contains("Docker is not reachable at unix:///nonexistent/docker.sock"),
        "{message}"
    );
    assert!(message.contains("--runtime hollow"), "{message}");
}

#[tokio::test]
async fn deleting_a_stopped_cluster_removes_its_containers_network_and_data() {
    let mut cluster = Docker::start_with_images(1, &[]).await;
    cluster.apply(&pod_yaml(
        "sleeper",
        "Always",
        "",
        &[("main", "sleep 3600")],
    ));
    wait_pod(&cluster.client, "sleeper", "sleeper Running", |pod| {
        phase(pod) == Some("Running")
    })
    .await;
    let id = cluster_id(&cluster).await;
    let label = format!("label=kubarium.dev/cluster={id}");
    let data_dir = cluster.daemon.data_dir().to_owned();

    // A running cluster is not deleted under itself.
    let refused = kubarium_tests::daemon::Daemon::command(&data_dir, &["delete"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("in use"), "{stderr}");

    // Stopping the daemon leaves the pod and the service data plane running (a restart
    // adopts them); deleting removes them.
    assert!(cluster.daemon.stop_with("TERM").success());
    let pod = ["--filter", "label=io.kubernetes.pod.name=sleeper"];
    let pod_args = [&["ps", "-q", "--filter", &label][..], &pod[..]].concat();
    assert_eq!(docker(&pod_args).lines().count(), 2);
    let units_args = [
        &["ps", "-q", "--filter", &label][..],
        &["--filter", "label=kubarium.dev/unit"][..],
    ]
    .concat();
    assert!(
        docker(&units_args).lines().count() >= 2,
        "the DNS and ingress units run"
    );
    let all = docker(&["ps", "-aq", "--filter", &label]).lines().count();
    let deleted = kubarium_tests::daemon::Daemon::command(&data_dir, &["delete"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&deleted.stdout);
    assert!(
        deleted.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    assert!(
        stdout.contains(&format!("{all} containers removed")),
        "{stdout}"
    );
    assert_eq!(docker(&["ps", "-aq", "--filter", &label]), "");
    assert_eq!(docker(&["network", "ls", "-q", "--filter", &label]), "");
    assert!(!data_dir.exists());
}
