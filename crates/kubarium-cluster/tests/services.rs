//! The services controller in a real (hollow) cluster: LoadBalancer and Ingress status, the
//! default IngressClass, port conflicts as events, and units removed with their Service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kubarium_cluster::{ClusterBuilder, RuntimeKind};
use kubarium_node::network::plane::{
    Applied, DataPlane, PlaneError, Protocol, PublishedPort, UnitKey, UnitSpec,
};
use kubarium_node::runtime::BoxFuture;
use kubarium_node::{ServiceProxy, ServicesConfig};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

/// Polls `check` until it gives a value, for up to ten seconds.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn load_balancer(name: &str, port: i32) -> Service {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"name": "http", "port": port, "targetPort": 8080}]
        }
    }))
    .unwrap()
}

async fn warnings(client: &kube::Client, name: &str) -> Vec<Event> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect()
}

#[tokio::test]
async fn load_balancers_and_ingresses_get_status_and_units_follow_services() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ClusterBuilder::new(dir.path())
        .listen("127.0.0.1:0".parse().unwrap())
        .runtime(RuntimeKind::Hollow)
        .nodes(1)
        .ingress_ports(18080, 18443)
        .start()
        .await
        .unwrap();
    let client = cluster.client();
    let plane = cluster
        .hollow_plane()
        .expect("a hollow cluster has a hollow plane");

    // The default IngressClass exists as soon as the cluster has started.
    let class = Api::<IngressClass>::all(client.clone())
        .get("kubarium")
        .await
        .unwrap();
    assert_eq!(
        class.metadata.annotations.unwrap()["ingressclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert_eq!(
        class.spec.unwrap().controller.as_deref(),
        Some("kubarium.dev/ingress")
    );

    // A LoadBalancer Service is published and its status says 127.0.0.1 with its port.
    let services = Api::<Service>::namespaced(client.clone(), "default");
    let web = services
        .create(&PostParams::default(), &load_balancer("web", 80))
        .await
        .unwrap();
    let status = eventually("the LoadBalancer's status", || {
        let services = services.clone();
        async move {
            let web = services.get("web").await.ok()?;
            web.status?.load_balancer?.ingress?.into_iter().next()
        }
    })
    .await;
    assert_eq!(status.ip.as_deref(), Some("127.0.0.1"));
    let ports = status.ports.unwrap();
    assert_eq!((ports[0].port, ports[0].protocol.as_str()), (80, "TCP"));
    let key = UnitKey::Service {
        namespace: "default".into(),
        name: "web".into(),
        uid: web.metadata.uid.clone().unwrap(),
    };
    let unit = plane.unit(&key).expect("the Service's unit");
    let node_port = u16::try_from(web.spec.unwrap().ports.unwrap()[0].node_port.unwrap()).unwrap();
    assert_eq!(
        unit.published,
        [
            PublishedPort {
                host: node_port,
                container: node_port,
                protocol: Protocol::Tcp
            },
            PublishedPort {
                host: 80,
                container: 80,
                protocol: Protocol::Tcp
            },
        ]
    );
    assert!(plane.unit(&UnitKey::Dns).is_some(), "the DNS unit runs");

    // A second LoadBalancer on the same port cannot be published: a Warning says so.
    services
        .create(&PostParams::default(), &load_balancer("clash", 80))
        .await
        .unwrap();
    let warning = eventually("a SyncLoadBalancerFailed event", || {
        let client = client.clone();
        async move {
            warnings(&client, "clash")
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("SyncLoadBalancerFailed"))
        }
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let message = warning.message.unwrap();
    assert!(message.contains("127.0.0.1:80"), "{message}");

    // An Ingress without a class is served, with its TLS Secret, and its status has the
    // ingress ports.
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "site-tls", "namespace": "default"},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": "CERT\n", "tls.key": "KEY\n"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let ingress: Ingress = serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "site", "namespace": "default"},
        "spec": {
            "tls": [{"hosts": ["web.example.com"], "secretName": "site-tls"}],
            "rules": [{"host": "web.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}
            ]}}]
        }
    }))
    .unwrap();
    let ingresses = Api::<Ingress>::namespaced(client.clone(), "default");
    ingresses
        .create(&PostParams::default(), &ingress)
        .await
        .unwrap();
    let status = eventually("the Ingress's status", || {
        let ingresses = ingresses.clone();
        async move {
            let site = ingresses.get("site").await.ok()?;
            site.status?.load_balancer?.ingress?.into_iter().next()
        }
    })
    .await;
    assert_eq!(status.ip.as_deref(), Some("127.0.0.1"));
    let ports: Vec<i32> = status.ports.unwrap().iter().map(|p| p.port).collect();
    assert_eq!(ports, [18080, 18443]);
    let files = eventually("the certificate in the ingress unit", || async {
        let files = plane.unit(&UnitKey::Ingress)?.spec.files;
        (files.len() == 2).then_some(files)
    })
    .await;
    let config = String::from_utf8(files[0].content.clone()).unwrap();
    assert!(
        config.contains("route web.example.com Prefix / default/site ->"),
        "{config}"
    );
    assert!(
        config.contains("cert web.example.com /etc/kubarium/tls/default_site-tls.pem"),
        "{config}"
    );
    assert_eq!(files[1].path, "etc/kubarium/tls/default_site-tls.pem");
    assert_eq!(files[1].content, b"CERT\nKEY\n");

    // Deleting the Service removes its unit; the port is free and the other one gets it.
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the deleted Service's unit to go", || async {
        plane.unit(&key).is_none().then_some(())
    })
    .await;
    let status = eventually(
        "the second LoadBalancer's status once the port is free",
        || {
            let services = services.clone();
            async move {
                let clash = services.get("clash").await.ok()?;
                clash.status?.load_balancer?.ingress?.into_iter().next()
            }
        },
    )
    .await;
    assert_eq!(status.ip.as_deref(), Some("127.0.0.1"));

    // A Service that stops being a LoadBalancer loses its status (the API server drops it
    // with the type) and its published ports (once the plane follows).
    let patch = serde_json::json!({"spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": null}]}});
    services
        .patch(
            "clash",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(patch),
        )
        .await
        .unwrap();
    eventually("the status to be cleared", || {
        let services = services.clone();
        async move {
            let clash = services.get("clash").await.ok()?;
            let ingress = clash.status?.load_balancer?.ingress.unwrap_or_default();
            ingress.is_empty().then_some(())
        }
    })
    .await;
    eventually("the ClusterIP Service's proxy to publish nothing", || {
        let units = plane.units_now();
        async move {
            let (_, clash) = units
                .iter()
                .find(|(key, _)| matches!(key, UnitKey::Service { name, .. } if name == "clash"))?;
            clash.spec.publish.is_empty().then_some(())
        }
    })
    .await;
    cluster.shutdown().await;
}

/// A plane whose applies take a while, recording how many run at once per unit.
#[derive(Default)]
struct SlowPlane {
    state: std::sync::Mutex<SlowState>,
}

#[derive(Default)]
struct SlowState {
    in_flight: std::collections::HashMap<UnitKey, u32>,
    most_at_once: u32,
    applies: Vec<UnitSpec>,
}

impl DataPlane for SlowPlane {
    fn apply(&self, spec: UnitSpec) -> BoxFuture<'_, Result<Applied, PlaneError>> {
        Box::pin(async move {
            {
                let mut state = self.state.lock().unwrap();
                let running = state.in_flight.entry(spec.key.clone()).or_default();
                *running += 1;
                let running = *running;
                state.most_at_once = state.most_at_once.max(running);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            let mut state = self.state.lock().unwrap();
            *state.in_flight.get_mut(&spec.key).unwrap() -= 1;
            let published = spec.publish.clone();
            state.applies.push(spec);
            Ok(Applied { published })
        })
    }

    fn remove(&self, _key: UnitKey) -> BoxFuture<'_, kubarium_node::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn units(&self) -> BoxFuture<'_, kubarium_node::Result<Vec<UnitKey>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

#[tokio::test]
async fn a_burst_of_changes_is_applied_debounced_and_never_twice_at_once_per_unit() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ClusterBuilder::new(dir.path())
        .listen("127.0.0.1:0".parse().unwrap())
        .runtime(RuntimeKind::Hollow)
        .nodes(1)
        .start()
        .await
        .unwrap();
    let client = cluster.client();
    // A second controller against the same cluster, with the slow plane.
    let plane = std::sync::Arc::new(SlowPlane::default());
    let controller = ServiceProxy::start(client.clone(), plane.clone(), ServicesConfig::default())
        .await
        .unwrap();
    let services = Api::<Service>::namespaced(client.clone(), "default");
    let created = services
        .create(&PostParams::default(), &load_balancer("burst", 80))
        .await
        .unwrap();
    let key = UnitKey::Service {
        namespace: "default".into(),
        name: "burst".into(),
        uid: created.metadata.uid.unwrap(),
    };
    // Twenty port changes, as fast as the API server takes them.
    for port in 1..=20 {
        let patch = serde_json::json!({"spec": {"ports": [{"name": "http", "port": 9000 + port, "targetPort": 8080}]}});
        services
            .patch(
                "burst",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(patch),
            )
            .await
            .unwrap();
    }
    let last = eventually("the last port to be applied", || {
        let plane = plane.clone();
        let key = key.clone();
        async move {
            let state = plane.state.lock().unwrap();
            let last = state.applies.iter().rev().find(|s| s.key == key)?;
            let config = String::from_utf8(last.files[0].content.clone()).ok()?;
            config.contains("tcp 9020 ").then_some(config)
        }
    })
    .await;
    assert!(last.contains("tcp 9020 "), "{last}");
    let (most_at_once, applies) = {
        let state = plane.state.lock().unwrap();
        let applies = state.applies.iter().filter(|s| s.key == key).count();
        (state.most_at_once, applies)
    };
    assert_eq!(most_at_once, 1, "a unit was applied twice at once");
    assert!(
        applies < 15,
        "{applies} applies for 21 versions: not debounced"
    );
    controller.shutdown().await;
    cluster.shutdown().await;
}
