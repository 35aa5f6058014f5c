//! Docker restarted under a running cluster, on an engine of the test's own ([`Engine`]):
//! while it is away the nodes are NotReady saying where Docker was looked for and the API
//! keeps answering; when it is back the agents reconnect, the same pods run again (their
//! containers restarted and counted as the kubelet counts them) and the Service answers
//! again.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::ListParams;

use crate::engine::Engine;
use crate::services::demo;
use crate::support::{Docker, assert_infra_available, curl, curl_until, eventually};

/// The `Ready` condition of every node: `(name, status, reason, message)`.
async fn readiness(client: &kube::Client) -> Option<Vec<(String, String, String, String)>> {
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .ok()?;
    nodes
        .items
        .into_iter()
        .map(|node| {
            let ready = node
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            Some((
                node.metadata.name?,
                ready.status,
                ready.reason.unwrap_or_default(),
                ready.message.unwrap_or_default(),
            ))
        })
        .collect()
}

/// The web pods, once `count` of them run with every container running and ready.
async fn running_pods(cluster: &Docker, what: &str, restarts: i32) -> Vec<Pod> {
    let api = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    eventually(what, || {
        let api = api.clone();
        async move {
            let pods = api
                .list(&ListParams::default().labels("app=web"))
                .await
                .ok()?
                .items;
            let settled = pods.len() == 2
                && pods.iter().all(|pod| {
                    let Some(status) = pod.status.as_ref() else {
                        return false;
                    };
                    let containers = status.container_statuses.as_deref().unwrap_or_default();
                    status.phase.as_deref() == Some("Running")
                        && !containers.is_empty()
                        && containers.iter().all(|c| {
                            c.ready
                                && c.restart_count == restarts
                                && c.state.as_ref().is_some_and(|s| s.running.is_some())
                        })
                });
            settled.then_some(pods)
        }
    })
    .await
}

fn names(pods: &[Pod]) -> Vec<String> {
    let mut names: Vec<String> = pods
        .iter()
        .filter_map(|pod| pod.metadata.name.clone())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn docker_restarted_under_a_running_cluster_agents_reconnect_and_pods_run_again() {
    assert_infra_available();
    // Declared first, so it outlives the cluster's daemon when the test ends.
    let mut engine = Engine::start();
    let host = engine.host();
    let cluster = Docker::start_with_env(1, &[], &[("DOCKER_HOST", &host)]).await;
    let port = kubarium_tests::free_port();
    cluster.apply(&demo("web", 2, "LoadBalancer", port));
    let before = running_pods(&cluster, "two web pods running", 0).await;
    let url = format!("http://127.0.0.1:{port}/api");
    curl_until("the Service to answer", &[&url], |out| {
        out.contains("\"pod\"")
    })
    .await;
    assert!(
        engine
            .docker(&["ps", "--format", "{{.Names}}"])
            .contains("k8s_web_web-"),
        "the pods run on the private engine"
    );

    engine.stop();
    let down = eventually("every node NotReady for want of Docker", || async {
        let nodes = readiness(&cluster.client).await?;
        nodes
            .iter()
            .all(|(_, status, _, _)| status == "False")
            .then_some(nodes)
    })
    .await;
    for (node, _, reason, message) in &down {
        assert_eq!(reason, "KubeletNotReady", "{node}");
        assert!(
            message.contains(&format!("Docker is not reachable at {host}")),
            "{node}'s message names where Docker was looked for: {message}"
        );
    }
    // The API keeps serving without Docker: kubectl still lists the pods.
    let listed = cluster.kubectl(&["get", "pods", "-o", "name"]);
    for name in names(&before) {
        assert!(listed.contains(&format!("pod/{name}")), "{listed}");
    }
    assert!(
        curl(&[&url]).is_none(),
        "nothing answers with the engine stopped"
    );

    engine.restart();
    eventually("every node Ready again", || async {
        let nodes = readiness(&cluster.client).await?;
        nodes
            .iter()
            .all(|(_, status, _, _)| status == "True")
            .then_some(())
    })
    .await;
    // The same pods (nothing replaced them), each container started again once, as the
    // kubelet counts a container Docker stopped.
    let after = running_pods(&cluster, "the web pods running again, restarted once", 1).await;
    assert_eq!(names(&after), names(&before));
    for pod in &after {
        let status = pod.status.as_ref().unwrap();
        for container in status.container_statuses.iter().flatten() {
            let last = container
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref());
            assert!(
                last.is_some(),
                "{}'s lastState is the container Docker stopped: {container:?}",
                pod.metadata.name.as_deref().unwrap_or_default()
            );
        }
    }
    curl_until("the Service to answer again", &[&url], |out| {
        out.contains("\"pod\"")
    })
    .await;
}
