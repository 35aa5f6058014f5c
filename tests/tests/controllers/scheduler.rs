//! Scheduling on a kind-like cluster (a tainted control plane and two workers): pods spread
//! over the workers, node selectors, affinity, anti-affinity and taints are respected, an
//! unschedulable pod carries upstream's message in PodScheduled and a FailedScheduling
//! event (as `kubectl describe` shows), and schedules once a node fits; every pod carries a
//! decision record that parses.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kubarium_controllers::scheduler::{ANNOTATION, Decision};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::support::{Hollow, SETTLE};

const CONTROL_PLANE: &str = "kubarium-control-plane";
const WORKERS: [&str; 2] = ["kubarium-worker", "kubarium-worker2"];

/// A stand-in for a node agent's node, for measurements at a scale where running the agents
/// would measure them too: Ready, labelled as the agents label theirs, 4 CPUs, 8 GiB and
/// 110 pods. Nothing runs the pods bound to it.
async fn stand_in_node(client: &Client, name: &str) {
    let nodes = Api::<Node>::all(client.clone());
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubarium.dev/runtime": "hollow",
    });
    let mut spec = json!({});
    if name == CONTROL_PLANE {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        spec = json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]});
    }
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }))
    .unwrap();
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => return,
        Err(error) => panic!("create node {name}: {error}"),
    }
    let resources = json!({"cpu": "4", "memory": "8Gi", "pods": "110"});
    let status = json!({"status": {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status"}],
    }});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

/// A three-node cluster (`--nodes 3`: the control plane and two workers), once all three
/// are Ready.
async fn three_nodes() -> Hollow {
    let cluster = Hollow::start(3, &[]).await;
    let nodes = Api::<Node>::all(cluster.client.clone());
    let deadline = Instant::now() + SETTLE;
    loop {
        let list = nodes.list(&ListParams::default()).await.unwrap();
        let ready = list.items.iter().filter(|n| ready(n)).count();
        if ready >= 3 {
            return cluster;
        }
        assert!(Instant::now() < deadline, "only {ready} of 3 nodes Ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn pod(name: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["containers"] = json!([{"name": "app", "image": "kubarium/demo"}]);
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": spec,
    }))
    .unwrap()
}

async fn create(client: &Client, pod: Pod) {
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
}

/// Waits until `check` accepts the pod.
async fn wait_for(client: &Client, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    let api = Api::<Pod>::namespaced(client.clone(), "default");
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(pod) = api.get_opt(name).await.unwrap()
            && check(&pod)
        {
            return pod;
        }
        assert!(
            Instant::now() < deadline,
            "pod {name}: timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

async fn bound(client: &Client, name: &str) -> String {
    let pod = wait_for(client, name, "a node", |p| node_of(p).is_some()).await;
    node_of(&pod).unwrap().to_owned()
}

fn pod_scheduled(pod: &Pod) -> Option<(String, String, String)> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

async fn unschedulable(client: &Client, name: &str) -> String {
    let pod = wait_for(client, name, "PodScheduled=False", |p| {
        pod_scheduled(p)
            .is_some_and(|(status, reason, _)| status == "False" && reason == "Unschedulable")
    })
    .await;
    pod_scheduled(&pod).unwrap().2
}

fn decision(pod: &Pod) -> Decision {
    let value = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION))
        .expect("a decision annotation");
    Decision::from_annotation(value).expect("the decision parses")
}

#[tokio::test]
async fn pods_spread_over_the_workers_never_on_the_control_plane() {
    let cluster = three_nodes().await;
    let client = &cluster.client;
    for i in 0..6 {
        create(client, pod(&format!("web-{i}"), json!({}))).await;
    }
    let mut placed = BTreeMap::<String, usize>::new();
    for i in 0..6 {
        *placed
            .entry(bound(client, &format!("web-{i}")).await)
            .or_default() += 1;
    }
    assert!(!placed.contains_key(CONTROL_PLANE), "{placed:?}");
    assert_eq!(placed.len(), 2, "both workers get pods: {placed:?}");

    let web0 = wait_for(client, "web-0", "its decision", |p| {
        p.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANNOTATION))
    })
    .await;
    let d = decision(&web0);
    assert_eq!(d.node.as_deref(), node_of(&web0));
    assert_eq!((d.nodes, d.feasible), (3, 2));
    assert_eq!(d.rejected[0].nodes, [CONTROL_PLANE]);
    assert_eq!(d.scores.len(), 2);
    assert_eq!(
        Some(d.scores[0].node.as_str()),
        node_of(&web0),
        "the chosen node leads"
    );

    let node = node_of(&web0).unwrap().to_owned();
    let events = Api::<Event>::namespaced(client.clone(), "default");
    let expected = format!("Successfully assigned default/web-0 to {node}");
    let deadline = Instant::now() + SETTLE;
    loop {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=web-0"))
            .await
            .unwrap();
        if list.items.iter().any(|e| {
            e.reason.as_deref() == Some("Scheduled")
                && e.message.as_deref() == Some(expected.as_str())
                && e.source.as_ref().and_then(|s| s.component.as_deref())
                    == Some("default-scheduler")
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "no Scheduled event for web-0");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let described = cluster.kubectl(&["describe", "pod", "web-0"]);
    assert!(described.contains(&expected), "{described}");
}

#[tokio::test]
async fn selectors_affinity_anti_affinity_and_taints_are_respected() {
    let cluster = three_nodes().await;
    let client = &cluster.client;
    cluster.kubectl(&["label", "node", WORKERS[1], "disktype=ssd"]);
    // The label reaches the scheduler's cache through its informer before the pods arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    create(
        client,
        pod("ssd", json!({"nodeSelector": {"disktype": "ssd"}})),
    )
    .await;
    let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disktype", "operator": "DoesNotExist"}]}]}}}});
    create(client, pod("no-ssd", affinity)).await;
    let tolerant = json!({
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}],
    });
    create(client, pod("on-control-plane", tolerant)).await;
    assert_eq!(bound(client, "ssd").await, WORKERS[1]);
    assert_eq!(bound(client, "no-ssd").await, WORKERS[0]);
    assert_eq!(bound(client, "on-control-plane").await, CONTROL_PLANE);

    let solo = |name: &str| {
        let mut p = pod(
            name,
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"group": "solo"}}, "topologyKey": "kubernetes.io/hostname"}]}}}),
        );
        p.metadata.labels = Some(BTreeMap::from([("group".to_owned(), "solo".to_owned())]));
        p
    };
    create(client, solo("solo-0")).await;
    let first = bound(client, "solo-0").await;
    create(client, solo("solo-1")).await;
    let second = bound(client, "solo-1").await;
    assert_ne!(first, second);
    assert!(WORKERS.contains(&first.as_str()) && WORKERS.contains(&second.as_str()));
    create(client, solo("solo-2")).await;
    let message = unschedulable(client, "solo-2").await;
    assert_eq!(
        message,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
         2 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: \
         1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.."
    );

    // Deleting one of the others frees its node: the pending one takes it.
    Api::<Pod>::namespaced(client.clone(), "default")
        .delete(
            "solo-0",
            &kube::api::DeleteParams::default().grace_period(0),
        )
        .await
        .unwrap();
    assert_eq!(bound(client, "solo-2").await, first);
}

#[tokio::test]
async fn an_unschedulable_pod_says_why_and_schedules_once_a_node_fits() {
    let cluster = three_nodes().await;
    let client = &cluster.client;
    create(client, pod("small", json!({}))).await;
    create(
        client,
        pod("picky", json!({"nodeSelector": {"disktype": "nvme"}})),
    )
    .await;
    let huge: Pod = serde_json::from_value(json!({
        "metadata": {"name": "huge"},
        "spec": {"containers": [{"name": "app", "image": "kubarium/demo",
                                 "resources": {"requests": {"cpu": "100"}}}]},
    }))
    .unwrap();
    create(client, huge).await;

    let message = unschedulable(client, "huge").await;
    assert_eq!(
        message,
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
         2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, \
         2 No preemption victims found for incoming pod.."
    );
    let expected = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
                    2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: \
                    3 Preemption is not helpful for scheduling..";
    assert_eq!(unschedulable(client, "picky").await, expected);
    let picky = wait_for(client, "picky", "its decision", |p| {
        p.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANNOTATION))
    })
    .await;
    let d = decision(&picky);
    assert_eq!(d.node, None);
    assert_eq!(d.message.as_deref(), Some(expected));
    assert_eq!(d.rejected.iter().map(|r| r.count).sum::<u32>(), 3);

    let deadline = Instant::now() + SETTLE;
    loop {
        let described = cluster.kubectl(&["describe", "pod", "picky"]);
        if described.contains("FailedScheduling")
            && described.contains("didn't match Pod's node affinity/selector")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no FailedScheduling in:\n{described}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    cluster.kubectl(&["label", "node", WORKERS[0], "disktype=nvme"]);
    assert_eq!(bound(client, "picky").await, WORKERS[0]);
    let picky = wait_for(client, "picky", "PodScheduled=True", |p| {
        pod_scheduled(p).is_some_and(|(status, _, _)| status == "True")
    })
    .await;
    assert_eq!(decision(&picky).node.as_deref(), Some(WORKERS[0]));
    // A gated pod waits, saying so, until its gates are gone.
    create(
        client,
        pod(
            "gated",
            json!({"schedulingGates": [{"name": "example.com/wait"}]}),
        ),
    )
    .await;
    let gated = wait_for(client, "gated", "PodScheduled=False SchedulingGated", |p| {
        pod_scheduled(p)
            .is_some_and(|(status, reason, _)| status == "False" && reason == "SchedulingGated")
    })
    .await;
    assert_eq!(
        pod_scheduled(&gated).unwrap().2,
        "Scheduling is blocked due to non-empty scheduling gates"
    );
    assert_eq!(node_of(&gated), None);
    Api::<Pod>::namespaced(client.clone(), "default")
        .patch(
            "gated",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"schedulingGates": null}})),
        )
        .await
        .unwrap();
    assert!(WORKERS.contains(&bound(client, "gated").await.as_str()));

    // The small pod was never in doubt.
    assert!(WORKERS.contains(&bound(client, "small").await.as_str()));
}

/// A measurement, not a check (timings depend on the machine and the build): 10,000 pods
/// created by 64 clients, held back by a node selector no node matches, then released onto
/// 1,000 stand-in nodes by labelling them; pods bound per second after the release printed.
/// Run it against a release kubariumd with `--run-ignored only`; `cargo xtask bench
/// scheduler` is the benchmark proper, on hollow nodes.
#[tokio::test]
#[ignore = "a measurement, run on demand"]
async fn throughput_on_a_thousand_stand_in_nodes() {
    use futures_util::{StreamExt, TryStreamExt, stream};
    use kube::runtime::{WatchStreamExt, watcher};

    const NODES: usize = 1_000;
    const PODS: usize = 10_000;
    let cluster = Hollow::start(0, &[]).await;
    let client = cluster.client.clone();
    stream::iter(0..NODES)
        .for_each_concurrent(32, |i| {
            let client = client.clone();
            async move { stand_in_node(&client, &format!("stand-in-{i}")).await }
        })
        .await;
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let watching = pods.clone();
    let observer = tokio::spawn(async move {
        let mut bound = std::collections::HashSet::new();
        let stream = watcher(watching, watcher::Config::default()).default_backoff();
        futures_util::pin_mut!(stream);
        while let Some(event) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(pod) = event
                && node_of(&pod).is_some()
            {
                bound.insert(pod.metadata.name.clone().unwrap_or_default());
                if bound.len() >= PODS {
                    return Instant::now();
                }
            }
        }
        unreachable!("the watch ended")
    });
    let started = Instant::now();
    stream::iter(0..PODS)
        .for_each_concurrent(64, |i| {
            let pods = pods.clone();
            async move {
                let p: Pod = serde_json::from_value(json!({
                    "metadata": {"name": format!("pod-{i}"), "labels": {"app": "bench"}},
                    "spec": {"containers": [{"name": "app", "image": "kubarium/demo"}],
                             "nodeSelector": {"bench": "go"}},
                }))
                .unwrap();
                pods.create(&PostParams::default(), &p).await.unwrap();
            }
        })
        .await;
    let created = started.elapsed();
    // Let the unschedulable writes settle before the release.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let released = Instant::now();
    let nodes = Api::<Node>::all(client.clone());
    stream::iter(0..NODES)
        .for_each_concurrent(64, |i| {
            let nodes = nodes.clone();
            async move {
                let patch = json!({"metadata": {"labels": {"bench": "go"}}});
                nodes
                    .patch(
                        &format!("stand-in-{i}"),
                        &PatchParams::default(),
                        &Patch::Merge(patch),
                    )
                    .await
                    .unwrap();
            }
        })
        .await;
    let labelled = released.elapsed();
    let done = tokio::time::timeout(Duration::from_secs(600), observer)
        .await
        .unwrap()
        .unwrap();
    let elapsed = done.duration_since(released);
    eprintln!(
        "{PODS} pods created in {created:?}; released onto {NODES} stand-in nodes (labelled in {labelled:?}): \
         all bound {elapsed:?} after the release ({:.0} pods/s)",
        PODS as f64 / elapsed.as_secs_f64()
    );
}
