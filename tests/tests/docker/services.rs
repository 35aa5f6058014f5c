//! Services, DNS and Ingress on Docker, as a pod and the host see them: every DNS form and
//! the cluster IP from a client pod, load balancing across the demo server's replicas, an
//! unready replica dropped, headless and StatefulSet names, ExternalName, UDP; NodePort,
//! LoadBalancer and the ingress controller (host and path rules, TLS, a rule changed) from
//! the host with curl.

use std::collections::BTreeSet;
use std::process::Command;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::ListParams;

use crate::support::{BUSYBOX, Docker, curl, curl_until, eventually};

/// The demo server's image; its tag is the version it shows.
const DEMO: &str = "kubarium.dev/demo:v1";

/// A Deployment of the demo server, `replicas` strong, ready only while `/readyz` answers
/// (probed every second), and a Service `name` of `kind` in front of it on `port`.
pub(crate) fn demo(name: &str, replicas: u32, kind: &str, port: u16) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: web
        image: {DEMO}
        imagePullPolicy: IfNotPresent
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe:
          httpGet: {{path: /readyz, port: http}}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  type: {kind}
  selector: {{app: {name}}}
  ports: [{{name: http, port: {port}, targetPort: http}}]
"#
    )
}

/// A busybox pod to run wget and nslookup in.
pub(crate) fn client() -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - name: client\n    image: {BUSYBOX}\n    imagePullPolicy: IfNotPresent\n    command: [sleep, '3600']\n"
    )
}

/// Runs `script` with `sh -c` in the client pod; its output, or `None` if it failed.
pub(crate) fn in_client(cluster: &Docker, script: &str) -> Option<String> {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(["exec", "client", "--", "sh", "-c", script])
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The pods named in the demo server's `/api` answers in `output`.
pub(crate) fn answering_pods(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("\"pod\": \""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Waits until `count` pods labelled `app=<app>` are Ready; their names and addresses.
pub(crate) async fn ready_pods(cluster: &Docker, app: &str, count: usize) -> Vec<(String, String)> {
    let api = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let what = format!("{count} ready pods of {app}");
    eventually(&what, || {
        let api = api.clone();
        async move {
            let pods = api
                .list(&ListParams::default().labels(&format!("app={app}")))
                .await
                .ok()?;
            let ready: Vec<(String, String)> = pods
                .items
                .iter()
                .filter(|pod| pod.metadata.deletion_timestamp.is_none())
                .filter(|pod| {
                    pod.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .filter_map(|pod| {
                    Some((
                        pod.metadata.name.clone()?,
                        pod.status.as_ref()?.pod_ip.clone()?,
                    ))
                })
                .collect();
            (ready.len() == count).then_some(ready)
        }
    })
    .await
}

/// Waits for the client pod to run.
pub(crate) async fn client_running(cluster: &Docker) {
    crate::support::wait_pod(&cluster.client, "client", "the client pod to run", |pod| {
        pod.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|phase| phase == "Running")
    })
    .await;
}

/// The cluster IP of Service `name` in `default`.
pub(crate) async fn cluster_ip(cluster: &Docker, name: &str) -> String {
    Api::<Service>::namespaced(cluster.client.clone(), "default")
        .get(name)
        .await
        .unwrap()
        .spec
        .unwrap()
        .cluster_ip
        .unwrap()
}

/// Makes the demo server at `pod_ip` unready (its `/unready`, asked from the client pod).
pub(crate) fn turn_unready(cluster: &Docker, pod_ip: &str) {
    in_client(
        cluster,
        &format!("wget -q -O - http://{pod_ip}:8080/unready"),
    )
    .unwrap();
}

/// `GET url` from the client pod, retried until it answers; the pod that answered.
async fn first_answer(cluster: &Docker, url: &str) -> String {
    let script = format!("timeout 5 wget -q -O - {url}");
    eventually(&format!("{url} to answer from the client pod"), || {
        let answer = in_client(cluster, &script);
        async move { answering_pods(&answer?).into_iter().next() }
    })
    .await
}

#[tokio::test]
async fn a_service_reaches_every_ready_replica_by_each_dns_form_and_its_cluster_ip() {
    let cluster = Docker::start_with_images(2, &[]).await;
    cluster.apply(&demo("web", 3, "ClusterIP", 80));
    cluster.apply(&client());
    let pods = ready_pods(&cluster, "web", 3).await;
    client_running(&cluster).await;
    let ip = cluster_ip(&cluster, "web").await;
    for host in [
        "web",
        "web.default",
        "web.default.svc",
        "web.default.svc.cluster.local",
        ip.as_str(),
    ] {
        let pod = first_answer(&cluster, &format!("http://{host}/api")).await;
        assert!(pod.starts_with("web-"), "{host} was answered by {pod}");
    }

    // Thirty requests, each on a connection of its own, reach all three replicas.
    let many = "for i in $(seq 30); do timeout 5 wget -q -O - http://web/api; done";
    let answered: BTreeSet<String> = answering_pods(&in_client(&cluster, many).unwrap())
        .into_iter()
        .collect();
    let all: BTreeSet<String> = pods.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(answered, all, "30 requests should reach every replica");

    // A replica that turns unready stops answering (its address is asked directly).
    let (unready, unready_ip) = pods[0].clone();
    turn_unready(&cluster, &unready_ip);
    ready_pods(&cluster, "web", 2).await;
    eventually("the unready replica to get no more requests", || {
        let answered = in_client(&cluster, many).map(|output| answering_pods(&output));
        let unready = unready.clone();
        async move {
            let answered = answered?;
            (answered.len() == 30 && !answered.contains(&unready)).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn headless_statefulset_external_name_and_udp_services_resolve_and_answer() {
    let cluster = Docker::start_with_images(1, &[]).await;
    cluster.apply(&demo("web", 1, "ClusterIP", 80));
    cluster.apply(&client());
    let infra = format!("kubarium.dev/infra:{}", env!("CARGO_PKG_VERSION"));
    cluster.apply(&format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: db}}
spec:
  clusterIP: None
  selector: {{app: db}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  serviceName: db
  replicas: 2
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers:
      - name: db
        image: {DEMO}
        imagePullPolicy: IfNotPresent
        ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: alias}}
spec:
  type: ExternalName
  externalName: web.default.svc.cluster.local
---
apiVersion: v1
kind: Pod
metadata: {{name: udp, labels: {{app: udp}}}}
spec:
  containers:
  - name: echo
    image: {infra}
    imagePullPolicy: IfNotPresent
    command: [/kubarium-infra, echo]
    env: [{{name: PORT, value: "5353"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: udp}}
spec:
  selector: {{app: udp}}
  ports: [{{name: echo, port: 53, targetPort: 5353, protocol: UDP}}]
"#
    ));
    let db = ready_pods(&cluster, "db", 2).await;
    ready_pods(&cluster, "udp", 1).await;
    client_running(&cluster).await;

    // The headless name has every ready pod's address; each StatefulSet pod has its own.
    eventually("the headless service to resolve to both pods", || {
        let output = in_client(&cluster, "nslookup db.default.svc.cluster.local");
        let db = db.clone();
        async move {
            let output = output?;
            db.iter().all(|(_, ip)| output.contains(ip)).then_some(())
        }
    })
    .await;
    for (name, ip) in &db {
        let fqdn = format!("{name}.db.default.svc.cluster.local");
        eventually(&format!("{fqdn} to resolve to {ip}"), || {
            let output = in_client(&cluster, &format!("nslookup {fqdn}"));
            async move { output?.contains(ip.as_str()).then_some(()) }
        })
        .await;
        let pod = first_answer(&cluster, &format!("http://{name}.db:8080/api")).await;
        assert_eq!(&pod, name);
    }

    // ExternalName answers a CNAME, which the client follows to the web service.
    let pod = first_answer(&cluster, "http://alias/api").await;
    assert!(pod.starts_with("web-"), "alias was answered by {pod}");

    // UDP through the cluster IP, from the infra binary's client in the udp pod itself.
    let ip = cluster_ip(&cluster, "udp").await;
    eventually("a datagram to come back through the UDP service", || {
        let output = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .args(["exec", "udp", "--", "/kubarium-infra", "send", "udp"])
            .arg(format!("{ip}:53"))
            .arg("hello over udp")
            .output()
            .unwrap();
        async move {
            String::from_utf8_lossy(&output.stdout)
                .contains("hello over udp")
                .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn node_ports_load_balancers_and_ingress_answer_on_the_host() {
    let http = kubarium_tests::free_port().to_string();
    let https = kubarium_tests::free_port().to_string();
    let cluster = Docker::start_with_images(
        1,
        &["--ingress-http-port", &http, "--ingress-https-port", &https],
    )
    .await;
    let lb_port = kubarium_tests::free_port();
    cluster.apply(&demo("red", 1, "NodePort", 80));
    cluster.apply(&demo("blue", 1, "LoadBalancer", lb_port));
    ready_pods(&cluster, "red", 1).await;
    ready_pods(&cluster, "blue", 1).await;
    let services = Api::<Service>::namespaced(cluster.client.clone(), "default");

    // NodePort on 127.0.0.1.
    let red = services.get("red").await.unwrap();
    let node_port = red.spec.unwrap().ports.unwrap()[0].node_port.unwrap();
    let url = format!("http://127.0.0.1:{node_port}/api");
    curl_until("the NodePort to answer", &[&url], |out| {
        answering_pods(out)
            .iter()
            .any(|pod| pod.starts_with("red-"))
    })
    .await;

    // LoadBalancer: its status says 127.0.0.1 and its port, where it answers.
    let status = eventually("the LoadBalancer's status", || {
        let services = services.clone();
        async move {
            let blue = services.get("blue").await.ok()?;
            let ingress = blue.status?.load_balancer?.ingress?;
            ingress.into_iter().next()
        }
    })
    .await;
    assert_eq!(status.ip.as_deref(), Some("127.0.0.1"));
    let ports = status.ports.unwrap_or_default();
    assert!(
        ports.iter().any(|p| p.port == i32::from(lb_port)),
        "{ports:?}"
    );
    let url = format!("http://127.0.0.1:{lb_port}/api");
    curl_until("the LoadBalancer to answer", &[&url], |out| {
        answering_pods(out)
            .iter()
            .any(|pod| pod.starts_with("blue-"))
    })
    .await;

    // A second LoadBalancer on a port already taken gets a clear event.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    cluster
        .apply(&demo("green", 1, "LoadBalancer", taken_port).replace("replicas: 1", "replicas: 0"));
    eventually("an event saying the port is in use", || {
        let events = cluster.kubectl(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=green",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        let wanted = format!("127.0.0.1:{taken_port}");
        async move { events.contains(&wanted).then_some(()) }
    })
    .await;
    drop(taken);

    // Ingress: a TLS secret, host and path rules.
    let certified = rcgen::generate_simple_self_signed(vec!["red.example".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    cluster.kubectl(&[
        "create",
        "secret",
        "tls",
        "red-tls",
        "--cert",
        &cert.display().to_string(),
        "--key",
        &key.display().to_string(),
    ]);
    let ingress = |red_backend: &str| {
        format!(
            r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web}}
spec:
  tls: [{{hosts: [red.example], secretName: red-tls}}]
  rules:
  - host: red.example
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: {red_backend}, port: {{name: http}}}}}}}}
  - host: shop.example
    http:
      paths:
      - {{path: /api, pathType: Prefix, backend: {{service: {{name: blue, port: {{number: {lb_port}}}}}}}}}
      - {{path: /healthz, pathType: Exact, backend: {{service: {{name: red, port: {{number: 80}}}}}}}}
"#
        )
    };
    cluster.apply(&ingress("red"));
    eventually("the Ingress's status", || {
        let api = Api::<Ingress>::namespaced(cluster.client.clone(), "default");
        async move {
            let ingress = api.get("web").await.ok()?;
            let first = ingress.status?.load_balancer?.ingress?.into_iter().next()?;
            (first.ip.as_deref() == Some("127.0.0.1")).then_some(())
        }
    })
    .await;
    let resolve = |host: &str, port: &str| format!("{host}:{port}:127.0.0.1");
    let red_url = format!("http://red.example:{http}/api");
    curl_until(
        "red.example to reach red",
        &["--resolve", &resolve("red.example", &http), &red_url],
        |out| {
            answering_pods(out)
                .iter()
                .any(|pod| pod.starts_with("red-"))
        },
    )
    .await;
    let blue_url = format!("http://shop.example:{http}/api");
    curl_until(
        "shop.example/api to reach blue",
        &["--resolve", &resolve("shop.example", &http), &blue_url],
        |out| {
            answering_pods(out)
                .iter()
                .any(|pod| pod.starts_with("blue-"))
        },
    )
    .await;
    let healthz = format!("http://shop.example:{http}/healthz");
    let ok = curl(&["--resolve", &resolve("shop.example", &http), &healthz]);
    assert_eq!(
        ok.as_deref().map(str::trim),
        Some("ok"),
        "an Exact path matches itself"
    );
    let exact = format!("http://shop.example:{http}/healthz/more");
    let missing = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--resolve",
        &resolve("shop.example", &http),
        &exact,
    ]);
    assert_eq!(
        missing.as_deref(),
        Some("404"),
        "an Exact path matches only itself"
    );
    let nobody = format!("http://nobody.example:{http}/");
    let page = curl(&["--resolve", &resolve("nobody.example", &http), &nobody]).unwrap();
    assert!(page.contains("no Ingress rule matched"), "{page}");
    let tls_url = format!("https://red.example:{https}/api");
    let cacert = cert.display().to_string();
    curl_until(
        "red.example over TLS",
        &[
            "--cacert",
            &cacert,
            "--resolve",
            &resolve("red.example", &https),
            &tls_url,
        ],
        |out| {
            answering_pods(out)
                .iter()
                .any(|pod| pod.starts_with("red-"))
        },
    )
    .await;

    // A changed rule takes effect.
    cluster.apply(&ingress("blue"));
    curl_until(
        "red.example to reach blue after the change",
        &["--resolve", &resolve("red.example", &http), &red_url],
        |out| {
            answering_pods(out)
                .iter()
                .any(|pod| pod.starts_with("blue-"))
        },
    )
    .await;
}
