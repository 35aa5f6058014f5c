//! PodDisruptionBudgets: the disruption controller keeps a budget's status, and the
//! eviction subresource refuses evictions it does not allow, so `kubectl drain` waits and
//! retries as on any cluster — until there are enough pods elsewhere.

use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{EvictParams, ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::support::{Hollow, eventually};

const WORKER: &str = "kubarium-worker";
const WORKER2: &str = "kubarium-worker2";

/// The `app=web` pods: (name, node, ready, being deleted).
async fn web_pods(client: &Client) -> Vec<(String, String, bool, bool)> {
    Api::<Pod>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|pod| {
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            (
                pod.metadata.name.clone().unwrap_or_default(),
                pod.spec.and_then(|s| s.node_name).unwrap_or_default(),
                ready,
                pod.metadata.deletion_timestamp.is_some(),
            )
        })
        .collect()
}

/// Waits until budget `web` has observed its generation and reports these figures:
/// (expected, healthy, desired, allowed).
async fn budget_reaches(client: &Client, want: (i32, i32, i32, i32)) -> PodDisruptionBudget {
    let budgets = Api::<PodDisruptionBudget>::namespaced(client.clone(), "default");
    eventually(&format!("budget web at {want:?}"), || async {
        let budget = budgets.get("web").await.ok()?;
        let status = budget.status.clone()?;
        (status.observed_generation == budget.metadata.generation
            && (
                status.expected_pods,
                status.current_healthy,
                status.desired_healthy,
                status.disruptions_allowed,
            ) == want)
            .then_some(budget)
    })
    .await
}

/// `kubectl drain` of `node`: whether it succeeded, and what it printed (both streams).
fn drain(cluster: &Hollow, node: &str, timeout: &str) -> (bool, String) {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args([
            "drain",
            node,
            "--ignore-daemonsets",
            &format!("--timeout={timeout}"),
        ])
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_blocks_kubectl_drain_until_there_are_enough_pods() {
    let cluster = Hollow::start(3, &[]).await;
    let client = cluster.client.clone();

    // Both pods on kubarium-worker (the control plane is tainted, worker2 cordoned).
    cluster.kubectl(&["cordon", WORKER2]);
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]},
            },
        },
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let status = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    cluster.kubectl(&["uncordon", WORKER2]);

    let out = cluster.kubectl(&[
        "create",
        "pdb",
        "web",
        "--selector=app=web",
        "--min-available=2",
    ]);
    assert_eq!(out.trim(), "poddisruptionbudget.policy/web created");
    let budget = budget_reaches(&client, (2, 2, 2, 0)).await;
    let condition = &budget.status.unwrap().conditions.unwrap()[0];
    assert_eq!(
        (
            condition.type_.as_str(),
            condition.status.as_str(),
            condition.reason.as_str()
        ),
        ("DisruptionAllowed", "False", "InsufficientPods")
    );
    let table = cluster.kubectl(&["get", "pdb"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "NAME",
            "MIN",
            "AVAILABLE",
            "MAX",
            "UNAVAILABLE",
            "ALLOWED",
            "DISRUPTIONS",
            "AGE"
        ],
        "{table}"
    );
    assert_eq!(rows[1][..4], ["web", "2", "N/A", "0"], "{table}");

    // A direct eviction: 429 with upstream's Status. (kube-rs retries 429s by default for
    // minutes; this client answers at once, as kubectl's does.)
    let pods = web_pods(&client).await;
    let victim = pods[0].0.clone();
    let mut config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(cluster.kubeconfig()).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    config.default_retry = false;
    let once = Client::try_from(config).unwrap();
    let refused = Api::<Pod>::namespaced(once, "default")
        .evict(&victim, &EvictParams::default())
        .await
        .unwrap_err();
    let kube::Error::Api(status) = refused else {
        panic!("not a Status: {refused:?}");
    };
    assert_eq!(status.code, 429);
    assert_eq!(status.reason, "TooManyRequests");
    assert_eq!(
        status.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let cause = &status.details.as_ref().unwrap().causes[0];
    assert_eq!(cause.reason, "DisruptionBudget");
    assert_eq!(
        cause.message,
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );

    // kubectl drain is refused, retries, and gives up at its timeout; the pods stay.
    let (drained, printed) = drain(&cluster, WORKER, "8s");
    assert!(!drained, "{printed}");
    assert!(
        printed.contains(&format!("node/{WORKER} cordoned")),
        "{printed}"
    );
    assert!(
        printed.contains(
            "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget."
        ),
        "{printed}"
    );
    let after = web_pods(&client).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after
            .iter()
            .all(|(_, node, ready, deleting)| node == WORKER && *ready && !deleting),
        "{after:?}"
    );

    // A third pod (on worker2: worker is cordoned) lets one go at a time: the same drain
    // completes as each replacement becomes ready elsewhere.
    cluster.kubectl(&["scale", "deployment/web", "--replicas=3"]);
    budget_reaches(&client, (3, 3, 2, 1)).await;
    let (drained, printed) = drain(&cluster, WORKER, "120s");
    assert!(drained, "{printed}");
    assert!(
        printed.contains(&format!("node/{WORKER} drained")),
        "{printed}"
    );
    for (name, _, _, _) in &pods {
        assert!(
            printed.contains(&format!("pod/{name} evicted")),
            "{printed}"
        );
    }
    eventually("three ready pods on worker2", || async {
        let pods = web_pods(&client).await;
        (pods.len() == 3
            && pods
                .iter()
                .all(|(_, node, ready, deleting)| node == WORKER2 && *ready && !deleting))
        .then_some(())
    })
    .await;
    budget_reaches(&client, (3, 3, 2, 1)).await;
}
