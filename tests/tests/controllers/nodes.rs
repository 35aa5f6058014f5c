//! Node lifecycle scenarios: a node that stops reporting goes Unknown and gets the
//! unreachable taints, its pods leave after their toleration and it is untainted when it
//! returns; pods of a deleted node are garbage-collected; `kubectl cordon`, `uncordon` and
//! `drain` work.
//!
//! The nodes here are hand-made and kept alive by [`FakeAgent`], a test double that does
//! what a node agent does for the node controller (renew the Lease, post Ready, finish
//! deleting pods), so these scenarios do not depend on the agents or the scheduler.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::support::{Hollow, eventually};

/// Creates a Node named `name` with the contract's labels, Ready as of now, and its Lease.
async fn register(client: &Client, name: &str) {
    let now = Time(Timestamp::now());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubarium.dev/runtime": "hollow",
        }},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [ready_condition(&now, &now)],
        },
    }))
    .unwrap();
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": 40,
            "renewTime": MicroTime(Timestamp::now()),
        },
    }))
    .unwrap();
    Api::<Lease>::namespaced(client.clone(), "kube-node-lease")
        .create(&PostParams::default(), &lease)
        .await
        .unwrap();
}

fn ready_condition(heartbeat: &Time, transition: &Time) -> Value {
    json!({
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": heartbeat,
        "lastTransitionTime": transition,
    })
}

/// A test double for a node agent: while running, it renews the node's Lease and Ready
/// heartbeat every second and deletes (grace 0) the pods terminating on its node, as the
/// kubelet does. Dropping it stops it, like a crashed kubelet.
struct FakeAgent {
    task: tokio::task::JoinHandle<()>,
}

impl FakeAgent {
    fn start(client: &Client, node: &str) -> Self {
        let client = client.clone();
        let node = node.to_owned();
        let task = tokio::spawn(async move {
            let since = Time(Timestamp::now());
            let leases = Api::<Lease>::namespaced(client.clone(), "kube-node-lease");
            let nodes = Api::<Node>::all(client.clone());
            let pods = Api::<Pod>::all(client.clone());
            loop {
                let now = Timestamp::now();
                let renew = json!({"spec": {"renewTime": MicroTime(now)}});
                let _ = leases
                    .patch(&node, &PatchParams::default(), &Patch::Merge(renew))
                    .await;
                let status =
                    json!({"status": {"conditions": [ready_condition(&Time(now), &since)]}});
                let _ = nodes
                    .patch_status(&node, &PatchParams::default(), &Patch::Strategic(status))
                    .await;
                let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
                if let Ok(list) = pods.list(&on_node).await {
                    for pod in list
                        .items
                        .iter()
                        .filter(|p| p.metadata.deletion_timestamp.is_some())
                    {
                        let _ = Api::<Pod>::namespaced(client.clone(), &pod.namespace().unwrap())
                            .delete(&pod.name_any(), &DeleteParams::default().grace_period(0))
                            .await;
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Self { task }
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates a pod bound to `node` (no scheduler involved) from the JSON `spec` additions.
async fn bound_pod(client: &Client, name: &str, node: &str, extra: Value) -> Pod {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
    });
    merge(&mut pod, extra);
    let pod: Pod = serde_json::from_value(pod).unwrap();
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap()
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from,
    }
}

/// Marks a pod Running and Ready, as its agent would.
async fn run_pod(client: &Client, name: &str) {
    let now = Time(Timestamp::now());
    let status = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now},
    ]}});
    Api::<Pod>::namespaced(client.clone(), "default")
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(status))
        .await
        .unwrap();
}

fn taints(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|t| {
            t.iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect()
        })
        .unwrap_or_default()
}

fn condition<'a>(
    conditions: Option<&'a Vec<k8s_openapi::api::core::v1::NodeCondition>>,
    kind: &str,
) -> Option<&'a k8s_openapi::api::core::v1::NodeCondition> {
    conditions?.iter().find(|c| c.type_ == kind)
}

fn pod_condition(pod: &Pod, kind: &str) -> Option<(String, Option<String>)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)?;
    Some((c.status.clone(), c.reason.clone()))
}

async fn events_for(client: &Client, namespace: &str, name: &str) -> Vec<(String, String)> {
    let list = Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .unwrap();
    list.items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_stops_reporting_is_tainted_its_pods_evicted_and_it_recovers() {
    let cluster = Hollow::start(0, &["--runtime", "hollow"]).await;
    let client = cluster.client.clone();
    register(&client, "steady").await;
    register(&client, "failing").await;
    let _steady = FakeAgent::start(&client, "steady");
    let failing_agent = FakeAgent::start(&client, "failing");

    // Leaves after 5 s of unreachability; the other tolerates it for ever.
    let short = json!({"spec": {"tolerations": [{
        "key": "node.kubernetes.io/unreachable", "operator": "Exists",
        "effect": "NoExecute", "tolerationSeconds": 5,
    }]}});
    let forever = json!({"spec": {"tolerations": [{
        "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
    }]}});
    let patient = json!({"spec": {"tolerations": [{
        "key": "node.kubernetes.io/unreachable", "operator": "Exists",
        "effect": "NoExecute", "tolerationSeconds": 3600,
    }]}});
    bound_pod(&client, "short", "failing", short).await;
    bound_pod(&client, "patient", "failing", patient).await;
    bound_pod(&client, "forever", "failing", forever).await;
    run_pod(&client, "short").await;
    run_pod(&client, "forever").await;

    // The agent stops: within the grace (20 s) the node is Unknown and tainted.
    drop(failing_agent);
    let nodes = Api::<Node>::all(client.clone());
    let node = eventually(
        "the node to go Unknown with the unreachable taints",
        || async {
            let node = nodes.get("failing").await.ok()?;
            let tainted = taints(&node)
                == [
                    "node.kubernetes.io/unreachable:NoSchedule",
                    "node.kubernetes.io/unreachable:NoExecute",
                ];
            tainted.then_some(node)
        },
    )
    .await;
    let status = node.status.as_ref().unwrap();
    let ready = condition(status.conditions.as_ref(), "Ready").unwrap();
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        ready.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    for kind in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert_eq!(
            condition(status.conditions.as_ref(), kind).unwrap().status,
            "Unknown"
        );
    }
    let no_execute = &node.spec.as_ref().unwrap().taints.as_ref().unwrap()[1];
    assert!(no_execute.time_added.is_some(), "{no_execute:?}");
    let events = events_for(&client, "default", "failing").await;
    assert!(
        events.contains(&(
            "NodeNotReady".to_owned(),
            "Node failing status is now: NodeNotReady".to_owned()
        )),
        "{events:?}"
    );

    let describe = cluster.kubectl(&["describe", "node", "failing"]);
    for line in [
        "Taints:             node.kubernetes.io/unreachable:NoExecute",
        "Kubelet stopped posting node status.",
        "Node failing status is now: NodeNotReady",
    ] {
        assert!(describe.contains(line), "{line:?} not in {describe}");
    }
    let table = cluster.kubectl(&["get", "node", "failing", "--no-headers"]);
    assert!(table.contains(" NotReady "), "{table}");

    // Its pods are not ready; the one with 5 s of toleration is marked and deleted (it stays
    // Terminating: no agent is left to stop it), the other stays.
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    // Evicted: terminating (no agent is left to stop it) or, where something finished the
    // deletion already, gone.
    let short = eventually("the short-tolerating pod to be evicted", || async {
        match pods.get_opt("short").await.ok()? {
            Some(pod) if pod.metadata.deletion_timestamp.is_some() => Some(Some(pod)),
            Some(_) => None,
            None => Some(None),
        }
    })
    .await;
    if let Some(short) = short {
        assert_eq!(
            pod_condition(&short, "DisruptionTarget"),
            Some(("True".to_owned(), Some("DeletionByTaintManager".to_owned())))
        );
        assert_eq!(pod_condition(&short, "Ready").unwrap().0, "False");
    }
    let events = events_for(&client, "default", "short").await;
    assert!(
        events.contains(&(
            "TaintManagerEviction".to_owned(),
            "Marking for deletion Pod default/short".to_owned()
        )),
        "{events:?}"
    );
    let forever = pods.get("forever").await.unwrap();
    assert!(forever.metadata.deletion_timestamp.is_none());
    assert_eq!(pod_condition(&forever, "Ready").unwrap().0, "False");

    // The agent comes back: Ready again, untainted, and it finishes the eviction.
    let _back = FakeAgent::start(&client, "failing");
    eventually("the node to be Ready and untainted", || async {
        let node = nodes.get("failing").await.ok()?;
        let ready = condition(node.status.as_ref()?.conditions.as_ref(), "Ready")?;
        (ready.status == "True" && taints(&node).is_empty()).then_some(())
    })
    .await;
    eventually("the evicted pod to be gone", || async {
        pods.get_opt("short").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(pods.get_opt("forever").await.unwrap().is_some());
    // The eviction the patient pod was due in an hour is called off.
    let events = events_for(&client, "default", "patient").await;
    assert!(
        events.contains(&(
            "TaintManagerEviction".to_owned(),
            "Cancelling deletion of Pod default/patient".to_owned()
        )),
        "{events:?}"
    );
    assert!(
        pods.get("patient")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_of_a_deleted_node_are_garbage_collected() {
    let cluster = Hollow::start(0, &["--runtime", "hollow"]).await;
    let client = cluster.client.clone();
    register(&client, "doomed").await;
    bound_pod(&client, "orphan", "doomed", json!({})).await;
    Api::<Node>::all(client.clone())
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    eventually("the orphaned pod to be deleted", || async {
        pods.get_opt("orphan").await.ok()?.is_none().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_cordon_uncordon_and_drain() {
    let cluster = Hollow::start(0, &["--runtime", "hollow"]).await;
    let client = cluster.client.clone();
    register(&client, "worker").await;
    let _agent = FakeAgent::start(&client, "worker");
    let nodes = Api::<Node>::all(client.clone());

    let out = cluster.kubectl(&["cordon", "worker"]);
    assert_eq!(out.trim(), "node/worker cordoned");
    eventually("the unschedulable taint", || async {
        let node = nodes.get("worker").await.ok()?;
        (taints(&node) == ["node.kubernetes.io/unschedulable:NoSchedule"]).then_some(())
    })
    .await;
    let table = cluster.kubectl(&["get", "node", "worker", "--no-headers"]);
    assert!(table.contains(" Ready,SchedulingDisabled "), "{table}");
    let out = cluster.kubectl(&["uncordon", "worker"]);
    assert_eq!(out.trim(), "node/worker uncordoned");
    eventually("the unschedulable taint to go", || async {
        let node = nodes.get("worker").await.ok()?;
        taints(&node).is_empty().then_some(())
    })
    .await;

    // A bare pod, one with an emptyDir, and one a DaemonSet owns.
    let daemonset: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "logs", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "logs"}},
            "template": {
                "metadata": {"labels": {"app": "logs"}},
                "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }))
    .unwrap();
    let daemonset = Api::<DaemonSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &daemonset)
        .await
        .unwrap();
    bound_pod(&client, "bare", "worker", json!({})).await;
    let scratch = json!({"spec": {
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}],
    }});
    bound_pod(&client, "scratch", "worker", scratch).await;
    // The DaemonSet controller's own pod for the node, bound by the scheduler.
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let daemon_uid = daemonset.uid().unwrap();
    let daemon_pod = eventually("the DaemonSet's pod on the node", || async {
        let list = pods.list(&Default::default()).await.ok()?;
        list.items.into_iter().find_map(|pod| {
            let owned = pod
                .metadata
                .owner_references
                .as_ref()?
                .iter()
                .any(|o| o.uid == daemon_uid);
            let bound = pod.spec.as_ref()?.node_name.as_deref() == Some("worker");
            (owned && bound).then(|| pod.name_any())
        })
    })
    .await;

    let out = cluster.kubectl(&[
        "drain",
        "worker",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--force",
        "--timeout=60s",
    ]);
    assert!(out.contains("node/worker cordoned"), "{out}");
    assert!(out.contains("pod/bare evicted"), "{out}");
    assert!(out.contains("pod/scratch evicted"), "{out}");
    assert!(out.contains("node/worker drained"), "{out}");
    assert!(!out.contains(&format!("pod/{daemon_pod} evicted")), "{out}");
    assert!(pods.get_opt("bare").await.unwrap().is_none());
    assert!(pods.get_opt("scratch").await.unwrap().is_none());
    assert!(pods.get_opt(&daemon_pod).await.unwrap().is_some());
    eventually("the drained node's unschedulable taint", || async {
        let node = nodes.get("worker").await.ok()?;
        (taints(&node) == ["node.kubernetes.io/unschedulable:NoSchedule"]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_agent_makes_its_node_unreachable_until_it_starts_again() {
    let cluster = Hollow::start(3, &["--runtime", "hollow"]).await;
    let client = cluster.client.clone();
    let nodes = Api::<Node>::all(client.clone());
    for name in [
        "kubarium-control-plane",
        "kubarium-worker",
        "kubarium-worker2",
    ] {
        eventually("every node Ready", || async {
            let node = nodes.get(name).await.ok()?;
            let ready = condition(node.status.as_ref()?.conditions.as_ref(), "Ready")?;
            (ready.status == "True").then_some(())
        })
        .await;
    }
    let short = json!({"spec": {"tolerations": [{
        "key": "node.kubernetes.io/unreachable", "operator": "Exists",
        "effect": "NoExecute", "tolerationSeconds": 5,
    }]}});
    bound_pod(&client, "short", "kubarium-worker", short).await;
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    eventually("the pod to run", || async {
        let pod = pods.get("short").await.ok()?;
        (pod.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;

    cluster.kubectl(&[
        "annotate",
        "node",
        "kubarium-worker",
        "kubarium.dev/agent=stopped",
    ]);
    eventually("the stopped node to be Unknown and tainted", || async {
        let node = nodes.get("kubarium-worker").await.ok()?;
        let ready = condition(node.status.as_ref()?.conditions.as_ref(), "Ready")?.clone();
        let tainted = taints(&node)
            == [
                "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute",
            ];
        (ready.status == "Unknown" && tainted).then_some(())
    })
    .await;
    eventually("the pod to be evicted", || async {
        match pods.get_opt("short").await.ok()? {
            Some(pod) if pod.metadata.deletion_timestamp.is_none() => None,
            _ => Some(()),
        }
    })
    .await;
    let events = events_for(&client, "default", "short").await;
    assert!(
        events.contains(&(
            "TaintManagerEviction".to_owned(),
            "Marking for deletion Pod default/short".to_owned()
        )),
        "{events:?}"
    );

    cluster.kubectl(&["annotate", "node", "kubarium-worker", "kubarium.dev/agent-"]);
    eventually("the node to be Ready and untainted again", || async {
        let node = nodes.get("kubarium-worker").await.ok()?;
        let ready = condition(node.status.as_ref()?.conditions.as_ref(), "Ready")?;
        (ready.status == "True" && taints(&node).is_empty()).then_some(())
    })
    .await;
    eventually("its agent to finish the eviction", || async {
        pods.get_opt("short").await.ok()?.is_none().then_some(())
    })
    .await;
}

/// The done-when scenario end to end on real agents, scheduler and controllers: a node whose
/// agent stops goes Unknown, its pods are evicted after their toleration, and the
/// Deployment's replacements run on the node that is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_moves_off_a_stopped_node() {
    let cluster = Hollow::start(3, &[]).await;
    let client = cluster.client.clone();
    let deployment: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "web", "image": "kubarium/demo"}],
                    "tolerations": [{
                        "key": "node.kubernetes.io/unreachable", "operator": "Exists",
                        "effect": "NoExecute", "tolerationSeconds": 3,
                    }],
                },
            },
        },
    }))
    .unwrap();
    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let web = ListParams::default().labels("app=web");
    // (node, ready) of every web pod that is not being deleted.
    let placed = || async {
        let list = pods.list(&web).await.ok()?;
        Some(
            list.items
                .into_iter()
                .filter(|pod| pod.metadata.deletion_timestamp.is_none())
                .map(|pod| {
                    let ready = pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    let node = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
                    (node, ready)
                })
                .collect::<Vec<_>>(),
        )
    };
    let before = eventually("four web pods Ready", || async {
        let placed = placed().await?;
        (placed.len() == 4 && placed.iter().all(|(_, ready)| *ready)).then_some(placed)
    })
    .await;
    assert!(
        before
            .iter()
            .all(|(node, _)| node != "kubarium-control-plane"),
        "{before:?}"
    );
    let stopped = before[0].0.clone();
    let left = if stopped == "kubarium-worker" {
        "kubarium-worker2"
    } else {
        "kubarium-worker"
    };

    cluster.kubectl(&["annotate", "node", &stopped, "kubarium.dev/agent=stopped"]);
    let after = eventually("four web pods Ready on the node that is left", || async {
        let placed = placed().await?;
        (placed.len() == 4 && placed.iter().all(|(node, ready)| node == left && *ready))
            .then_some(placed)
    })
    .await;
    assert_eq!(after.len(), 4);
    let node = Api::<Node>::all(client.clone())
        .get(&stopped)
        .await
        .unwrap();
    assert!(
        taints(&node).contains(&"node.kubernetes.io/unreachable:NoExecute".to_owned()),
        "{:?}",
        taints(&node)
    );
}
