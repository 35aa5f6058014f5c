//! Scenarios: hollow node agents. Nodes register Ready with renewing Leases; pods bound by
//! `spec.nodeName` (no scheduler involved) run, finish, crash-loop and are deleted as the
//! kubelet does it, a status someone else wrote is put back (a terminal phase kept); `kubariumd node
//! add|stop|start|remove` drive the agents through the API.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::support::{Hollow, eventually};

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn renew_time(client: &Client, node: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), "kube-node-lease")
        .get_opt(node)
        .await
        .ok()??;
    let spec = lease.spec?;
    Some(serde_json::to_string(&spec.renew_time?).unwrap())
}

/// Waits until node `name`'s Lease is renewed after it was first seen.
async fn lease_renews(client: &Client, name: &str) {
    let first = eventually(&format!("a Lease for {name}"), || renew_time(client, name)).await;
    eventually(&format!("{name}'s Lease to be renewed"), || async {
        renew_time(client, name).await.filter(|t| *t != first)
    })
    .await;
}

async fn pod_where(client: &Client, name: &str, what: &str, ok: impl Fn(&Pod) -> bool) -> Pod {
    let api = Api::<Pod>::namespaced(client.clone(), "default");
    eventually(&format!("pod {name} {what}"), || async {
        api.get_opt(name).await.ok().flatten().filter(|pod| ok(pod))
    })
    .await
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn condition(pod: &Pod, type_: &str) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

async fn create_pod(client: &Client, pod: serde_json::Value) {
    let pod: Pod = serde_json::from_value(pod).unwrap();
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
}

async fn event_reasons(client: &Client, pod: &str) -> Vec<String> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect()
}

#[tokio::test]
async fn three_hollow_nodes_register_ready_with_renewing_leases() {
    let cluster = Hollow::start(3, &[]).await;
    let api = Api::<Node>::all(cluster.client.clone());
    let names = [
        "kubarium-control-plane",
        "kubarium-worker",
        "kubarium-worker2",
    ];
    let nodes = eventually("three Ready nodes", || async {
        let nodes = api.list(&ListParams::default()).await.ok()?.items;
        (nodes.len() == 3 && nodes.iter().all(is_ready)).then_some(nodes)
    })
    .await;
    let version = cluster
        .client
        .apiserver_version()
        .await
        .unwrap()
        .git_version;
    for (index, name) in names.iter().enumerate() {
        let node = nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no node {name}"));
        let labels = node.metadata.labels.clone().unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], *name);
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["kubarium.dev/runtime"], "hollow");
        assert_eq!(labels["kubarium.dev/managed-node"], "true");
        assert!(labels.contains_key("kubernetes.io/arch"));
        let spec = node.spec.clone().unwrap();
        assert_eq!(
            spec.pod_cidr.as_deref(),
            Some(format!("10.244.{index}.0/24").as_str())
        );
        let taints = spec.taints.unwrap_or_default();
        if index == 0 {
            assert!(labels.contains_key("node-role.kubernetes.io/control-plane"));
            assert_eq!(taints.len(), 1);
            assert_eq!(taints[0].key, "node-role.kubernetes.io/control-plane");
            assert_eq!(taints[0].effect, "NoSchedule");
        } else {
            assert!(taints.is_empty(), "{taints:?}");
        }
        let status = node.status.clone().unwrap();
        let info = status.node_info.unwrap();
        assert_eq!(info.kubelet_version, version);
        assert!(info.container_runtime_version.starts_with("hollow://"));
        assert_eq!(info.operating_system, "linux");
        let capacity = status.capacity.unwrap();
        assert_eq!(capacity["cpu"].0, "4");
        assert_eq!(capacity["memory"].0, "8Gi");
        assert_eq!(capacity["pods"].0, "110");
        let addresses = status.addresses.unwrap();
        assert_eq!(addresses[0].type_, "InternalIP");
        assert_eq!(addresses[0].address, format!("172.18.0.{}", index + 2));
        let ready = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.reason.as_deref(), Some("KubeletReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("kubelet is posting ready status")
        );
    }
    for name in names {
        lease_renews(&cluster.client, name).await;
        let lease = Api::<Lease>::namespaced(cluster.client.clone(), "kube-node-lease")
            .get(name)
            .await
            .unwrap();
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some(name));
        assert_eq!(spec.lease_duration_seconds, Some(40));
    }
    let table = cluster.kubectl(&["get", "nodes"]);
    assert!(table.contains("control-plane"), "{table}");
}

#[tokio::test]
async fn bound_pods_run_finish_crash_loop_and_delete_as_on_a_kubelet() {
    let cluster = Hollow::start(3, &[]).await;
    let client = &cluster.client;
    create_pod(client, json!({
        "metadata": {"name": "web"},
        "spec": {"nodeName": "kubarium-worker", "containers": [{"name": "nginx", "image": "nginx"}]}
    }))
    .await;
    create_pod(
        client,
        json!({
            "metadata": {"name": "job"},
            "spec": {
                "nodeName": "kubarium-worker2",
                "restartPolicy": "Never",
                "initContainers": [{"name": "setup", "image": "busybox"}],
                "containers": [{"name": "main", "image": "busybox"}]
            }
        }),
    )
    .await;
    create_pod(client, json!({
        "metadata": {"name": "crash", "annotations": {"hollow.kubarium.dev/exit-code": "1"}},
        "spec": {"nodeName": "kubarium-worker2", "containers": [{"name": "app", "image": "busybox"}]}
    }))
    .await;

    let web = pod_where(client, "web", "Running and Ready", |pod| {
        phase(pod) == "Running" && condition(pod, "Ready").as_deref() == Some("True")
    })
    .await;
    let status = web.status.clone().unwrap();
    assert!(
        status.pod_ip.as_deref().unwrap().starts_with("10.244.1."),
        "{status:?}"
    );
    assert_eq!(status.pod_ips.unwrap().len(), 1);
    assert_eq!(status.host_ip.as_deref(), Some("172.18.0.3"));
    assert!(status.start_time.is_some());
    for type_ in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "PodScheduled",
    ] {
        assert_eq!(condition(&web, type_).as_deref(), Some("True"), "{type_}");
    }
    let container = &status.container_statuses.unwrap()[0];
    assert!(container.ready && container.started == Some(true));
    assert_eq!(container.restart_count, 0);
    assert!(
        container
            .container_id
            .as_deref()
            .unwrap()
            .starts_with("hollow://")
    );
    assert!(container.image_id.contains("sha256:"));
    assert!(container.state.as_ref().unwrap().running.is_some());
    let reasons = eventually("the kubelet's events for web", || async {
        let reasons = event_reasons(client, "web").await;
        ["Pulled", "Created", "Started"]
            .iter()
            .all(|r| reasons.iter().any(|seen| seen == r))
            .then_some(reasons)
    })
    .await;
    assert!(!reasons.is_empty());

    let job = pod_where(client, "job", "Succeeded", |pod| phase(pod) == "Succeeded").await;
    let status = job.status.unwrap();
    let init = &status.init_container_statuses.unwrap()[0];
    let done = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(
        (done.exit_code, done.reason.as_deref()),
        (0, Some("Completed"))
    );
    let main = &status.container_statuses.unwrap()[0];
    assert_eq!(
        main.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );

    let crash = pod_where(client, "crash", "crash-looping", |pod| {
        pod.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first())
            .is_some_and(|c| {
                c.restart_count >= 1
                    && c.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
            })
    })
    .await;
    assert_eq!(phase(&crash), "Running");
    let app = &crash.status.unwrap().container_statuses.unwrap()[0];
    let last = app
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    let message = app
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(
        message.starts_with("back-off 10s restarting failed container=app pod=crash_default("),
        "{message}"
    );
    eventually("a BackOff event", || async {
        event_reasons(client, "crash")
            .await
            .iter()
            .any(|r| r == "BackOff")
            .then_some(())
    })
    .await;
    let table = cluster.kubectl(&["get", "pods"]);
    assert!(
        table.contains("CrashLoopBackOff") && table.contains("Completed"),
        "{table}"
    );

    // Someone else writes what the kubelet owns: it puts its own status back on its next
    // status sync (10 s), and keeps the condition that is not its.
    let ip = web.status.as_ref().unwrap().pod_ip.clone();
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let edit = json!({"status": {
        "podIP": "10.1.2.3",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Edited"},
            {"type": "example.com/Checked", "status": "True"},
        ],
    }});
    pods.patch_status("web", &PatchParams::default(), &Patch::Strategic(edit))
        .await
        .unwrap();
    pod_where(client, "web", "back to the kubelet's status", |pod| {
        pod.status.as_ref().unwrap().pod_ip == ip
            && condition(pod, "Ready").as_deref() == Some("True")
            && condition(pod, "example.com/Checked").as_deref() == Some("True")
    })
    .await;

    // A terminal phase is never left, whoever wrote it: the kubelet stops the containers and
    // keeps the phase.
    create_pod(client, json!({
        "metadata": {"name": "held"},
        "spec": {"nodeName": "kubarium-worker", "containers": [{"name": "app", "image": "nginx"}]}
    }))
    .await;
    pod_where(client, "held", "Running", |pod| phase(pod) == "Running").await;
    let failed = json!({"status": {"phase": "Failed"}});
    pods.patch_status("held", &PatchParams::default(), &Patch::Merge(failed))
        .await
        .unwrap();
    pod_where(client, "held", "Failed with its container stopped", |pod| {
        let stopped = |s: &k8s_openapi::api::core::v1::ContainerStatus| {
            s.state.as_ref().is_some_and(|s| s.terminated.is_some())
        };
        phase(pod) == "Failed"
            && pod
                .status
                .as_ref()
                .unwrap()
                .container_statuses
                .iter()
                .flatten()
                .all(stopped)
    })
    .await;

    // kubectl waits for the deletion to finish: the agent stops the container, then
    // deletes the pod with gracePeriodSeconds=0.
    cluster.kubectl(&["delete", "pod", "web", "--timeout=60s"]);
    let gone = Api::<Pod>::namespaced(client.clone(), "default")
        .get_opt("web")
        .await
        .unwrap();
    assert!(gone.is_none());
    eventually("a Killing event", || async {
        event_reasons(client, "web")
            .await
            .iter()
            .any(|r| r == "Killing")
            .then_some(())
    })
    .await;
}

/// Runs `kubariumd node <args>` against the cluster in `data_dir`.
fn kubariumd_node(data_dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(kubarium_tests::bin("kubariumd"))
        .arg("node")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn kubariumd_node_commands_add_stop_start_and_remove() {
    let cluster = Hollow::start(2, &[]).await;
    let client = &cluster.client;
    let dir = cluster.daemon.data_dir();
    let api = Api::<Node>::all(client.clone());

    let (ok, out) = kubariumd_node(dir, &["add"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "node kubarium-worker2 added");
    let (ok, out) = kubariumd_node(dir, &["add", "extra"]);
    assert!(ok && out.contains("node extra added"), "{out}");
    for name in ["kubarium-worker2", "extra"] {
        eventually(&format!("{name} Ready"), || async {
            api.get_opt(name)
                .await
                .ok()
                .flatten()
                .filter(is_ready)
                .map(|_| ())
        })
        .await;
        lease_renews(client, name).await;
    }
    // The command writes as itself, the node's agent as the kubelet.
    let extra = api.get("extra").await.unwrap();
    let managers: Vec<String> = (extra.metadata.managed_fields.iter().flatten())
        .map(|entry| entry.manager.clone().unwrap_or_default())
        .collect();
    assert!(
        managers.contains(&"kubariumd".to_owned()) && managers.contains(&"kubelet".to_owned()),
        "{managers:?}"
    );
    let (ok, out) = kubariumd_node(dir, &["add", "extra"]);
    assert!(!ok && out.contains("node extra already exists"), "{out}");

    let (ok, out) = kubariumd_node(dir, &["stop", "kubarium-worker2"]);
    assert!(ok && out.contains("node kubarium-worker2 stopped"), "{out}");
    let node = api.get("kubarium-worker2").await.unwrap();
    assert_eq!(
        node.metadata.annotations.unwrap()["kubarium.dev/agent"],
        "stopped"
    );
    // Any renewal in flight when the annotation landed has finished by now; after it the
    // Lease must stay as it is for more than two renewal periods.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped_at = renew_time(client, "kubarium-worker2").await.unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        renew_time(client, "kubarium-worker2").await.unwrap(),
        stopped_at
    );
    lease_renews(client, "extra").await;

    let (ok, out) = kubariumd_node(dir, &["start", "kubarium-worker2"]);
    assert!(ok && out.contains("node kubarium-worker2 started"), "{out}");
    lease_renews(client, "kubarium-worker2").await;

    let (ok, out) = kubariumd_node(dir, &["remove", "extra"]);
    assert!(ok && out.contains("node extra removed"), "{out}");
    eventually("node extra to be gone", || async {
        api.get_opt("extra")
            .await
            .ok()
            .and_then(|n| n.is_none().then_some(()))
    })
    .await;

    let (ok, out) = kubariumd_node(dir, &["stop", "nope"]);
    assert!(!ok && out.contains("node nope does not exist"), "{out}");
    let empty = tempfile::tempdir().unwrap();
    let (ok, out) = kubariumd_node(empty.path(), &["add"]);
    assert!(!ok && out.contains("no Kubarium cluster in"), "{out}");
}

/// A hollow pod's log says truthfully that it is simulated; exec and attach say why they
/// cannot run, through the same WebSocket path kubectl uses on Docker nodes.
#[tokio::test]
async fn hollow_pods_answer_logs_and_exec_clearly() {
    let cluster = Hollow::start(1, &[]).await;
    let pods: Api<Pod> = Api::default_namespaced(cluster.client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "quiet"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    eventually("pod quiet running", || async {
        let pod = pods.get("quiet").await.ok()?;
        (pod.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    let log = cluster.kubectl(&["logs", "quiet"]);
    assert!(log.contains("it is simulated and runs no process"), "{log}");
    let exec = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(["exec", "quiet", "--", "ls"])
        .output()
        .unwrap();
    assert!(!exec.status.success());
    let stderr = String::from_utf8_lossy(&exec.stderr);
    assert!(
        stderr.contains("hollow containers run no processes"),
        "{stderr}"
    );
}
