//! Scenarios: Endpoints and EndpointSlices follow the pods a Service selects.
//!
//! Until node agents run pods here, the pods are bound to a node no agent manages (a test
//! double), and the test writes their status (IP, Ready) through the status subresource as
//! a kubelet would.

use k8s_openapi::api::core::v1::{Endpoints, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::{Hollow, eventually};

/// A node no agent manages: pods bound to it get their status from the test.
const DOUBLE: &str = "endpoints-test-double";

async fn create_double_node(client: &kube::Client) {
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": DOUBLE, "labels": {"kubernetes.io/hostname": DOUBLE}},
    }))
    .unwrap();
    let _ = Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await;
}

/// A pod `name` bound to the double, serving a container port named `http` on `port`.
async fn create_pod(pods: &Api<Pod>, name: &str, port: i32) {
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "nodeName": DOUBLE,
            "containers": [{"name": "app", "image": "kubarium/demo",
                "ports": [{"name": "http", "containerPort": port}]}],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
}

/// Test double of a kubelet's status update: running at `ip`, ready or not.
async fn set_status(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let ready = if ready { "True" } else { "False" };
    let status = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": now}],
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

/// The Endpoints as `(ready ips, not-ready ips, port)` per subset, sorted.
fn summary(endpoints: &Endpoints) -> Vec<(Vec<String>, Vec<String>, i32)> {
    let mut out: Vec<_> = endpoints
        .subsets
        .iter()
        .flatten()
        .map(|s| {
            let ips = |a: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>| {
                a.iter().flatten().map(|a| a.ip.clone()).collect::<Vec<_>>()
            };
            let port = s.ports.as_ref().map_or(0, |p| p[0].port);
            (ips(&s.addresses), ips(&s.not_ready_addresses), port)
        })
        .collect();
    out.sort();
    out
}

/// The slices' endpoints as `(ip, ready, port)`, sorted.
fn slice_summary(slices: &[EndpointSlice]) -> Vec<(String, bool, i32)> {
    let mut out: Vec<_> = slices
        .iter()
        .flat_map(|s| {
            let port = s.ports.as_ref().and_then(|p| p[0].port).unwrap_or(0);
            s.endpoints.iter().map(move |e| {
                let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
                (e.addresses[0].clone(), ready, port)
            })
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn endpoints_and_slices_follow_pod_readiness() {
    let cluster = Hollow::start(1, &[]).await;
    let client = cluster.client.clone();
    create_double_node(&client).await;
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let services = Api::<Service>::namespaced(client.clone(), "default");
    let endpoints = Api::<Endpoints>::namespaced(client.clone(), "default");
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), "default");
    let service: Service = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"team": "a"}},
        "spec": {"selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }))
    .unwrap();
    let service = services
        .create(&PostParams::default(), &service)
        .await
        .unwrap();

    // No pods yet: an Endpoints without subsets and a placeholder slice.
    let selected = ListParams::default().labels("kubernetes.io/service-name=web");
    let placeholder = eventually("a placeholder slice", || async {
        let list = slices.list(&selected).await.unwrap().items;
        (list.len() == 1).then(|| list[0].clone())
    })
    .await;
    assert!(placeholder.endpoints.is_empty());
    let labels = placeholder.metadata.labels.clone().unwrap();
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(labels["team"], "a");
    assert_eq!(placeholder.address_type, "IPv4");
    let owner = &placeholder.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Service", service.metadata.uid.as_deref().unwrap())
    );
    eventually("empty endpoints", || async {
        endpoints.get_opt("web").await.unwrap()
    })
    .await;

    // Named target ports resolve per pod; readiness splits addresses.
    create_pod(&pods, "a", 8080).await;
    create_pod(&pods, "b", 9090).await;
    create_pod(&pods, "no-ip", 8080).await;
    set_status(&pods, "a", "10.244.1.10", true).await;
    set_status(&pods, "b", "10.244.1.11", false).await;
    let mut want = vec![
        (vec!["10.244.1.10".to_owned()], vec![], 8080),
        (vec![], vec!["10.244.1.11".to_owned()], 9090),
    ];
    want.sort();
    let found = eventually("endpoints with a ready and a not-ready pod", || async {
        let found = endpoints.get("web").await.unwrap();
        (summary(&found) == want).then_some(found)
    })
    .await;
    let annotations = found.metadata.annotations.clone().unwrap_or_default();
    assert!(annotations.contains_key("endpoints.kubernetes.io/last-change-trigger-time"));
    let address = &found.subsets.as_ref().unwrap()[0]
        .addresses
        .as_ref()
        .unwrap()[0];
    assert_eq!(address.node_name.as_deref(), Some(DOUBLE));
    assert_eq!(
        address.target_ref.as_ref().unwrap().name.as_deref(),
        Some("a")
    );
    let want_slices = vec![
        ("10.244.1.10".to_owned(), true, 8080),
        ("10.244.1.11".to_owned(), false, 9090),
    ];
    eventually("slices with a ready and a not-ready pod", || async {
        let list = slices.list(&selected).await.unwrap().items;
        (slice_summary(&list) == want_slices).then_some(())
    })
    .await;

    // b becomes ready; a is deleted.
    set_status(&pods, "b", "10.244.1.11", true).await;
    pods.delete(
        "a",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    let want = vec![(vec!["10.244.1.11".to_owned()], vec![], 9090)];
    eventually(
        "endpoints after a pod went and one became ready",
        || async {
            let found = endpoints.get("web").await.unwrap();
            (summary(&found) == want).then_some(())
        },
    )
    .await;
    let want_slices = vec![("10.244.1.11".to_owned(), true, 9090)];
    eventually("slices after a pod went and one became ready", || async {
        let list = slices.list(&selected).await.unwrap().items;
        (slice_summary(&list) == want_slices).then_some(())
    })
    .await;
    let described = cluster.kubectl(&["get", "endpoints", "web"]);
    assert!(described.contains("10.244.1.11:9090"), "{described}");

    // Deleting the service takes its Endpoints and (through the garbage collector) slices.
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("endpoints and slices gone with the service", || async {
        let gone = endpoints.get_opt("web").await.unwrap().is_none()
            && slices.list(&selected).await.unwrap().items.is_empty();
        gone.then_some(())
    })
    .await;
}

#[tokio::test]
async fn headless_service_endpoints_carry_hostnames() {
    let cluster = Hollow::start(1, &[]).await;
    let client = cluster.client.clone();
    create_double_node(&client).await;
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let service: Service = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}},
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "db-0", "labels": {"app": "db"}},
        "spec": {"nodeName": DOUBLE, "hostname": "db-0", "subdomain": "db",
            "containers": [{"name": "db", "image": "kubarium/demo"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    set_status(&pods, "db-0", "10.244.2.5", true).await;
    let endpoints = Api::<Endpoints>::namespaced(client.clone(), "default");
    let found = eventually("headless endpoints", || async {
        let found = endpoints.get_opt("db").await.unwrap()?;
        found.subsets.is_some().then_some(found)
    })
    .await;
    let subset = &found.subsets.as_ref().unwrap()[0];
    assert!(subset.ports.is_none());
    let address = &subset.addresses.as_ref().unwrap()[0];
    assert_eq!(
        (address.ip.as_str(), address.hostname.as_deref()),
        ("10.244.2.5", Some("db-0"))
    );
    assert_eq!(
        found
            .metadata
            .labels
            .unwrap()
            .get("service.kubernetes.io/headless")
            .map(String::as_str),
        Some("")
    );
    let slices = Api::<EndpointSlice>::namespaced(client, "default");
    let selected = ListParams::default().labels("kubernetes.io/service-name=db");
    eventually("a headless slice with the hostname", || async {
        let list = slices.list(&selected).await.unwrap().items;
        list.iter()
            .flat_map(|s| &s.endpoints)
            .any(|e| e.hostname.as_deref() == Some("db-0"))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn pods_run_by_hollow_nodes_become_endpoints_and_leave_gracefully() {
    let cluster = Hollow::start(1, &["--runtime", "hollow"]).await;
    let client = cluster.client.clone();
    cluster.kubectl(&["create", "namespace", "shop"]);
    let service: Service = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), "shop")
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), "shop");
    for name in ["web-1", "web-2"] {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"terminationGracePeriodSeconds": 1,
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "app", "image": "kubarium/demo"}]},
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let endpoints = Api::<Endpoints>::namespaced(client.clone(), "shop");
    eventually("both pods ready in the endpoints", || async {
        let found = endpoints.get_opt("web").await.unwrap()?;
        let ready = found
            .subsets
            .iter()
            .flatten()
            .flat_map(|s| s.addresses.iter().flatten())
            .count();
        (ready == 2).then_some(())
    })
    .await;
    // kubectl waits for the node agent to stop the pod.
    cluster.kubectl(&["delete", "pod", "web-1", "-n", "shop", "--timeout=60s"]);
    eventually("one pod left in the endpoints", || async {
        let found = endpoints.get("web").await.unwrap();
        let names: Vec<_> = found
            .subsets
            .iter()
            .flatten()
            .flat_map(|s| s.addresses.iter().flatten())
            .filter_map(|a| a.target_ref.as_ref()?.name.clone())
            .collect();
        (names == ["web-2"]).then_some(())
    })
    .await;
    // Deleting the namespace waits for the running pod to be stopped, then goes.
    cluster.kubectl(&["delete", "namespace", "shop", "--timeout=60s"]);
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    assert!(namespaces.get_opt("shop").await.unwrap().is_none());
}

/// A pod with a readiness gate runs, but is not Ready, and so not a ready endpoint, until
/// the condition its gate names is `True`; the condition, written by someone else, stays
/// through the kubelet's later writes.
#[tokio::test]
async fn a_readiness_gate_holds_a_running_pod_out_of_the_endpoints() {
    let cluster = Hollow::start(1, &["--runtime", "hollow"]).await;
    let client = cluster.client.clone();
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "gated"},
        "spec": {"selector": {"app": "gated"}, "ports": [{"port": 80}]},
    }))
    .unwrap();
    Api::<Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "gated", "labels": {"app": "gated"}},
        "spec": {"tolerations": [{"operator": "Exists"}],
            "readinessGates": [{"conditionType": "example.com/lb"}],
            "containers": [{"name": "app", "image": "kubarium/demo"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let ready = |pod: &Pod| {
        let conditions = pod.status.as_ref()?.conditions.as_ref()?;
        let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
        Some((
            ready.status.clone(),
            ready.reason.clone(),
            ready.message.clone(),
        ))
    };
    let held = eventually("the gated pod running, not Ready", || async {
        let pod = pods.get("gated").await.ok()?;
        let running = pod.status.as_ref()?.phase.as_deref() == Some("Running");
        ready(&pod).filter(|(_, reason, _)| running && reason.is_some())
    })
    .await;
    assert_eq!(
        held,
        (
            "False".to_owned(),
            Some("ReadinessGatesNotReady".to_owned()),
            Some(
                "corresponding condition of pod readiness gate \"example.com/lb\" does not exist."
                    .to_owned()
            )
        )
    );
    let endpoints = Api::<Endpoints>::namespaced(client.clone(), "default");
    let addresses = |found: &Endpoints, ready: bool| -> usize {
        found
            .subsets
            .iter()
            .flatten()
            .flat_map(|s| {
                if ready {
                    s.addresses.iter().flatten()
                } else {
                    s.not_ready_addresses.iter().flatten()
                }
            })
            .count()
    };
    eventually("the pod among the not-ready endpoints", || async {
        let found = endpoints.get_opt("gated").await.unwrap()?;
        (addresses(&found, false) == 1 && addresses(&found, true) == 0).then_some(())
    })
    .await;

    // What a load balancer controller does once the pod is behind it.
    cluster.kubectl(&[
        "patch",
        "pod",
        "gated",
        "--subresource=status",
        "--type=strategic",
        "-p",
        r#"{"status":{"conditions":[{"type":"example.com/lb","status":"True"}]}}"#,
    ]);
    eventually("the gated pod Ready and a ready endpoint", || async {
        let pod = pods.get("gated").await.ok()?;
        ready(&pod).filter(|(status, _, _)| status == "True")?;
        let found = endpoints.get_opt("gated").await.unwrap()?;
        (addresses(&found, true) == 1).then_some(())
    })
    .await;
    let pod = pods.get("gated").await.unwrap();
    let conditions = pod.status.unwrap().conditions.unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "example.com/lb" && c.status == "True"),
        "the gate's condition stays: {conditions:?}"
    );
}
