//! An emptyDir with `medium: Memory` on Docker: a tmpfs volume of the pod's (sized by
//! `sizeLimit`), filled by an init container and shared by the pod's containers, that goes
//! with the pod and outlives its sandbox. Files are read with `docker exec` in the pod's
//! containers.

use std::process::Command;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

use crate::support::{BUSYBOX, Docker, cluster_id, docker, eventually, wait_pod, wait_pod_running};

/// Runs `script` with `sh -c` in container `container` of pod `uid`: its stdout, or `None`
/// if the container is not there or the command failed.
fn exec(uid: &str, container: &str, script: &str) -> Option<String> {
    let id = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=io.kubernetes.pod.uid={uid}"),
        "--filter",
        &format!("label=io.kubernetes.container.name={container}"),
    ]);
    let id = id.split_whitespace().next()?;
    let output = Command::new("docker")
        .args(["exec", id, "sh", "-c", script])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The names of the cluster's Docker volumes of pod `uid`.
fn volumes_of(cluster: &str, uid: &str) -> Vec<String> {
    docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=kubarium.dev/cluster={cluster}"),
        "--filter",
        &format!("label=io.kubernetes.pod.uid={uid}"),
    ])
    .split_whitespace()
    .map(str::to_owned)
    .collect()
}

/// Applies pod `name`, one container sleeping with a Memory emptyDir at `/scratch`, and
/// waits until it runs.
async fn run_sleeper(cluster: &Docker, name: &str) -> Pod {
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    volumeMounts:
    - name: scratch
      mountPath: /scratch
  volumes:
  - name: scratch
    emptyDir:
      medium: Memory
"#
    ));
    wait_pod(&cluster.client, name, "the pod to run", |pod| {
        pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_empty_dir_is_a_sized_tmpfs_shared_by_the_pods_containers_and_goes_with_it() {
    let cluster = Docker::start_with_images(1, &[]).await;
    let id = cluster_id(&cluster).await;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let container = |name: &str, script: &str| {
        json!({
            "name": name, "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", script],
            "resources": {"limits": {"memory": "64Mi"}},
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]
        })
    };
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "in-memory"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "initContainers": [container("init", "echo from-init > /scratch/init")],
            "containers": [
                container("writer", "echo from-writer > /scratch/shared; sleep 3600"),
                container("reader", "sleep 3600"),
            ],
            "volumes": [{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}]
        }
    }))
    .unwrap();
    let pod = pods.create(&PostParams::default(), &pod).await.unwrap();
    let uid = pod.metadata.uid.clone().unwrap();
    wait_pod(&cluster.client, "in-memory", "the pod to run", |pod| {
        pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;

    // What the init container (gone before the others started) and the writer wrote, the
    // reader reads: one tmpfs, held for the pod by its sandbox.
    let read = eventually("the reader to see both files", || {
        let uid = uid.clone();
        async move {
            exec(&uid, "reader", "cat /scratch/init /scratch/shared")
                .filter(|out| out.lines().count() == 2)
        }
    })
    .await;
    assert_eq!(read, "from-init\nfrom-writer\n");
    let mounted = exec(&uid, "reader", "grep ' /scratch ' /proc/mounts").unwrap();
    assert!(
        mounted.starts_with("tmpfs /scratch tmpfs rw") && mounted.contains("size=16384k"),
        "{mounted}"
    );
    let df = exec(&uid, "writer", "df -k /scratch | tail -n 1").unwrap();
    let fields: Vec<&str> = df.split_whitespace().collect();
    assert_eq!(fields.first().copied(), Some("tmpfs"), "{df}");
    assert_eq!(fields.get(1).copied(), Some("16384"), "{df}");
    let mode = exec(&uid, "reader", "stat -c %a /scratch").unwrap();
    assert_eq!(mode.trim(), "1777");
    assert_eq!(volumes_of(&id, &uid), [format!("kubarium_{uid}_scratch")]);

    pods.delete("in-memory", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the pod's volume to go with it", || {
        let (id, uid) = (id.clone(), uid.clone());
        async move { volumes_of(&id, &uid).is_empty().then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_cluster_removes_its_memory_volumes() {
    let mut cluster = Docker::start_with_images(1, &[]).await;
    let id = cluster_id(&cluster).await;
    run_sleeper(&cluster, "keeper").await;
    let label = format!("label=kubarium.dev/cluster={id}");
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &label])
            .lines()
            .count(),
        1
    );
    // Stopped, the cluster keeps its pod and volume; deleted, it leaves neither.
    let data_dir = cluster.daemon.data_dir().to_owned();
    assert!(cluster.daemon.stop_with("TERM").success());
    let deleted = kubarium_tests::daemon::Daemon::command(&data_dir, &["delete"])
        .output()
        .unwrap();
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    assert_eq!(docker(&["volume", "ls", "-q", "--filter", &label]), "");
    assert_eq!(docker(&["ps", "-aq", "--filter", &label]), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_empty_dir_keeps_its_files_when_the_sandbox_is_killed() {
    let cluster = Docker::start_with_images(1, &[]).await;
    let before = run_sleeper(&cluster, "survivor").await;
    let uid = before.metadata.uid.clone().unwrap();
    let ip = before.status.as_ref().and_then(|s| s.pod_ip.clone());
    exec(&uid, "main", "echo kept > /scratch/file").unwrap();
    let sandbox = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=io.kubernetes.pod.uid={uid}"),
        "--filter",
        "label=io.kubernetes.docker.type=podsandbox",
    ]);
    assert_eq!(sandbox.lines().count(), 1, "{sandbox}");
    docker(&["kill", &sandbox]);

    // As the kubelet: the sandbox is made again and the container restarted in it.
    wait_pod_running(&cluster, "survivor", 1).await;
    eventually("the SandboxChanged event", || async {
        let events = cluster.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=survivor",
            "-o",
            "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
        ]);
        events
            .lines()
            .any(|line| {
                line == "SandboxChanged: Pod sandbox changed, it will be killed and re-created."
            })
            .then_some(())
    })
    .await;
    let read = eventually("the restarted container to read the file", || {
        let uid = uid.clone();
        async move { exec(&uid, "main", "cat /scratch/file") }
    })
    .await;
    assert_eq!(read, "kept\n");
    let after = wait_pod(&cluster.client, "survivor", "the pod's status", |_| true).await;
    assert_eq!(
        after.status.and_then(|s| s.pod_ip),
        ip,
        "the pod's IP is kept"
    );
}
