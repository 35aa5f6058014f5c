//! A Service forwarded in the kernel: its proxy container programs nftables DNAT in its own
//! network namespace, so connections to the cluster IP reach the replicas while the proxy's
//! processes are frozen (`docker pause`; a userspace relay would leave them hanging), and an
//! endpoint change reaches new connections the same way.

use std::collections::BTreeSet;

use crate::services::{
    answering_pods, client, client_running, cluster_ip, demo, in_client, ready_pods, turn_unready,
};
use crate::support::{Docker, cluster_id, docker, eventually};

/// Unpauses the proxy container however the test ends.
struct Paused(String);

impl Paused {
    fn new(container: &str) -> Self {
        docker(&["pause", container]);
        Self(container.to_owned())
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["unpause", &self.0])
            .output();
    }
}

/// `count` GETs of `url` from the client pod, each on a new connection, with a 5 s limit
/// each; the pods that answered, `None` if one failed.
fn pods_answering(cluster: &Docker, url: &str, count: u32) -> Option<Vec<String>> {
    let script =
        format!("for i in $(seq {count}); do timeout 5 wget -q -O - {url} || exit 1; done");
    in_client(cluster, &script).map(|output| answering_pods(&output))
}

#[tokio::test]
async fn a_service_forwards_in_the_kernel() {
    let cluster = Docker::start_with_images(2, &[]).await;
    cluster.apply(&demo("fast", 2, "ClusterIP", 80));
    cluster.apply(&client());
    let pods = ready_pods(&cluster, "fast", 2).await;
    client_running(&cluster).await;
    let ip = cluster_ip(&cluster, "fast").await;
    let url = format!("http://{ip}/api");

    // The proxy says it forwards in the kernel once it has both endpoints.
    let cluster_label = format!("label=kubarium.dev/cluster={}", cluster_id(&cluster).await);
    let proxy = docker(&[
        "ps",
        "-q",
        "--filter",
        &cluster_label,
        "--filter",
        "label=kubarium.dev/service-name=fast",
    ]);
    assert!(
        !proxy.is_empty() && !proxy.contains('\n'),
        "one proxy container: {proxy:?}"
    );
    eventually("the proxy to forward both endpoints in the kernel", || {
        let output = std::process::Command::new("docker")
            .args(["logs", &proxy])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        let line = log
            .lines()
            .rev()
            .find(|line| line.contains("forwarding in"))
            .map(str::to_owned);
        async move {
            line.filter(|line| {
                line.contains("forwarding in the kernel") && line.contains("(2 endpoint rules)")
            })
        }
    })
    .await;

    // Frozen, the proxy's processes answer nothing: the kernel forwards to both replicas.
    {
        let _paused = Paused::new(&proxy);
        let answered: BTreeSet<String> = pods_answering(&cluster, &url, 30)
            .expect("every request through the frozen proxy is answered")
            .into_iter()
            .collect();
        let all: BTreeSet<String> = pods.iter().map(|(name, _)| name.clone()).collect();
        assert_eq!(answered, all, "30 connections should reach both replicas");
    }

    // A replica turned unready leaves the rules: new connections go to the other one, still
    // with the proxy frozen once the change is in.
    let (unready, unready_ip) = pods[0].clone();
    turn_unready(&cluster, &unready_ip);
    ready_pods(&cluster, "fast", 1).await;
    eventually("the unready replica to get no more new connections", || {
        let answered = pods_answering(&cluster, &url, 20);
        let unready = unready.clone();
        async move { answered.filter(|pods| !pods.contains(&unready)).map(|_| ()) }
    })
    .await;
    let _paused = Paused::new(&proxy);
    let answered = pods_answering(&cluster, &url, 20)
        .expect("every request through the frozen proxy is answered");
    assert_eq!(answered.len(), 20);
    assert!(
        answered.iter().all(|pod| *pod == pods[1].0),
        "only the ready replica answers: {answered:?}"
    );
}
