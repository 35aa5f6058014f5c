//! DaemonSets: a pod on every eligible node (the tainted control-plane node only with a
//! toleration), following nodes added and removed, and a rolling update to a new template.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::{Hollow, eventually, settles};

const NODES: &[&str] = &[
    "kubarium-control-plane",
    "kubarium-worker",
    "kubarium-worker2",
];

fn agent(tolerate_control_plane: bool) -> DaemonSet {
    let mut ds = json!({
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "agent", "image": "agent:1"}]},
            },
        },
    });
    if tolerate_control_plane {
        ds["spec"]["template"]["spec"]["tolerations"] = json!([{
            "key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]);
    }
    serde_json::from_value(ds).unwrap()
}

/// The nodes the DaemonSet's pods run on once every one of them is ready and none is being
/// deleted; otherwise each pod as (name, node, phase, ready, being deleted).
async fn ready_nodes(pods: &Api<Pod>) -> Result<BTreeSet<String>, String> {
    let list = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .map_err(|e| e.to_string())?;
    let mut nodes = BTreeSet::new();
    let mut settled = true;
    let mut seen = Vec::new();
    for pod in &list.items {
        let status = pod.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let deleting = pod.metadata.deletion_timestamp.is_some();
        settled &= ready && !deleting && node.clone().is_some_and(|n| nodes.insert(n));
        seen.push((
            pod.metadata.name.clone().unwrap_or_default(),
            node,
            status.and_then(|s| s.phase.clone()),
            ready,
            deleting,
        ));
    }
    if settled {
        Ok(nodes)
    } else {
        Err(format!("{seen:?}"))
    }
}

async fn on_nodes(pods: &Api<Pod>, expected: &[&str]) -> BTreeSet<String> {
    let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    settles(&format!("daemon pods ready on {expected:?}"), || async {
        let nodes = ready_nodes(pods).await?;
        if nodes == expected {
            Ok(nodes)
        } else {
            Err(format!("ready on {nodes:?}"))
        }
    })
    .await
}

async fn status(
    sets: &Api<DaemonSet>,
    check: impl Fn(&k8s_openapi::api::apps::v1::DaemonSetStatus) -> bool,
) -> DaemonSet {
    eventually("the DaemonSet's status", || async {
        sets.get("agent").await.ok().filter(|d| {
            d.status
                .as_ref()
                .is_some_and(|s| s.observed_generation == d.metadata.generation && check(s))
        })
    })
    .await
}

#[tokio::test]
async fn a_pod_per_eligible_node_following_nodes_added_and_removed() {
    // The node lifecycle's and the DaemonSet controller's debug lines tell a failure apart.
    let log =
        "info,kubarium_controllers::nodelifecycle=debug,kubarium_controllers::daemonset=debug";
    let cluster = Hollow::start_env(3, &[], &[("RUST_LOG", log)]).await;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let sets = Api::<DaemonSet>::namespaced(cluster.client.clone(), "default");
    sets.create(&PostParams::default(), &agent(false))
        .await
        .unwrap();
    on_nodes(&pods, &["kubarium-worker", "kubarium-worker2"]).await;
    status(&sets, |s| {
        s.desired_number_scheduled == 2 && s.number_ready == 2 && s.number_available == Some(2)
    })
    .await;

    // Pinned to its node as upstream does, with the daemon tolerations.
    let pod = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .unwrap()
        .items
        .remove(0);
    let spec = pod.spec.unwrap();
    let terms = spec
        .affinity
        .unwrap()
        .node_affinity
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .unwrap()
        .node_selector_terms;
    let field = &terms[0].match_fields.as_ref().unwrap()[0];
    assert_eq!(
        (field.key.as_str(), field.operator.as_str()),
        ("metadata.name", "In")
    );
    assert_eq!(
        field.values.as_deref(),
        Some(&[spec.node_name.clone().unwrap()][..])
    );
    let tolerated: Vec<String> = spec
        .tolerations
        .unwrap()
        .into_iter()
        .filter_map(|t| t.key)
        .collect();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/unschedulable",
    ] {
        assert!(tolerated.contains(&key.to_owned()), "{tolerated:?}");
    }
    assert!(
        pod.metadata
            .labels
            .unwrap()
            .contains_key("controller-revision-hash")
    );

    // A node added gets a pod; a node deleted loses it.
    let node: Node =
        serde_json::from_value(json!({"metadata": {"name": "kubarium-worker3", "labels": {
        "kubarium.dev/managed-node": "true", "kubernetes.io/hostname": "kubarium-worker3"}}}))
        .unwrap();
    Api::<Node>::all(cluster.client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap();
    on_nodes(
        &pods,
        &["kubarium-worker", "kubarium-worker2", "kubarium-worker3"],
    )
    .await;
    status(&sets, |s| {
        s.desired_number_scheduled == 3 && s.number_available == Some(3)
    })
    .await;
    Api::<Node>::all(cluster.client.clone())
        .delete("kubarium-worker3", &DeleteParams::default())
        .await
        .unwrap();
    on_nodes(&pods, &["kubarium-worker", "kubarium-worker2"]).await;
    status(&sets, |s| {
        s.desired_number_scheduled == 2 && s.current_number_scheduled == 2
    })
    .await;

    let events = cluster.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=agent",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message,FROM:.source.component",
    ]);
    assert!(
        events.contains("SuccessfulCreate") && events.contains("Created pod: agent-"),
        "{events}"
    );
    assert!(events.contains("daemonset-controller"), "{events}");
    // client-go's recorder leaves a controller's reportingInstance empty (it is the source's
    // host), so kubectl's SOURCE column names the component alone.
    let wide = cluster.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=agent",
        "-o",
        "wide",
    ]);
    assert!(
        wide.contains("daemonset-controller ") && !wide.contains("daemonset-controller, "),
        "{wide}"
    );
    let rollout = cluster.kubectl(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(
        rollout.contains("daemon set \"agent\" successfully rolled out"),
        "{rollout}"
    );
}

#[tokio::test]
async fn a_toleration_reaches_the_control_plane_and_a_rolling_update_replaces_every_pod() {
    let cluster = Hollow::start(3, &[]).await;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let sets = Api::<DaemonSet>::namespaced(cluster.client.clone(), "default");
    sets.create(&PostParams::default(), &agent(true))
        .await
        .unwrap();
    on_nodes(&pods, NODES).await;
    let before = status(&sets, |s| s.number_available == Some(3)).await;
    assert_eq!(before.status.unwrap().updated_number_scheduled, Some(3));

    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}}});
    sets.patch("agent", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    status(&sets, |s| {
        s.updated_number_scheduled == Some(3) && s.number_available == Some(3)
    })
    .await;
    on_nodes(&pods, NODES).await;
    let list = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .unwrap();
    for pod in list.items {
        assert_eq!(
            pod.spec.unwrap().containers[0].image.as_deref(),
            Some("agent:2")
        );
    }
    let rollout = cluster.kubectl(&["rollout", "status", "ds/agent", "--timeout=60s"]);
    assert!(
        rollout.contains("daemon set \"agent\" successfully rolled out"),
        "{rollout}"
    );
    let revisions = cluster.kubectl(&["get", "controllerrevisions", "-o", "name"]);
    assert_eq!(revisions.lines().count(), 2, "{revisions}");
}
