//! The cluster DNS server (`kubarium-infra dns`) from a pod, for what `services.rs` does not
//! ask: SRV for a named port, PTR for a cluster IP, NXDOMAIN under the cluster domain, and an
//! outside name that fails (or resolves) fast rather than hanging when the host is offline.

use std::process::Command;

use k8s_openapi::api::core::v1::Service;
use kube::Api;

use crate::support::{BUSYBOX, Docker, eventually, wait_pod};

/// A Service with a named port and no pods behind it, and a busybox pod to ask from.
fn manifests() -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata: {{name: named}}
spec:
  selector: {{app: nothing}}
  ports: [{{name: http, port: 80}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: asker}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: asker
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
"#
    )
}

/// `nslookup <args>` in the asker pod: stdout and stderr together, whatever the exit status
/// (NXDOMAIN exits 1).
fn nslookup(cluster: &Docker, args: &str) -> String {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(["exec", "asker", "--", "sh", "-c"])
        .arg(format!("nslookup {args} 2>&1"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn cluster_dns_answers_srv_ptr_and_nxdomain_and_fails_fast_outside() {
    let cluster = Docker::start_with_images(1, &[]).await;
    cluster.apply(&manifests());
    wait_pod(&cluster.client, "asker", "the asker pod to run", |pod| {
        pod.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|phase| phase == "Running")
    })
    .await;
    let ip = crate::services::cluster_ip(&cluster, "named").await;

    // The named port's SRV record, once the services controller has written the table.
    eventually("the SRV record of the named port", || {
        let output = nslookup(
            &cluster,
            "-type=srv _http._tcp.named.default.svc.cluster.local",
        );
        async move {
            output
                .contains("0 100 80 named.default.svc.cluster.local")
                .then_some(())
        }
    })
    .await;

    // The cluster IP's PTR names the Service. Asked of the cluster DNS server directly: pods
    // resolve through Docker's embedded DNS, which answers PTR for its own containers' addresses
    // (the proxy container holds the cluster IP) with the container's name.
    let dns_ip = Api::<Service>::namespaced(cluster.client.clone(), "kube-system")
        .get("kube-dns")
        .await
        .unwrap()
        .spec
        .unwrap()
        .cluster_ip
        .unwrap();
    let output = nslookup(&cluster, &format!("{ip} {dns_ip}"));
    assert!(
        output.contains("name = named.default.svc.cluster.local"),
        "PTR of {ip}: {output}"
    );

    // A missing name under the cluster domain is NXDOMAIN, not forwarded.
    let output = nslookup(&cluster, "missing.default.svc.cluster.local");
    assert!(output.contains("NXDOMAIN"), "{output}");

    // An outside name goes upstream (Docker's embedded DNS, then the host's resolvers),
    // and a name that exists nowhere (`.example` is reserved) gets no address, online or
    // offline, rather than a hang (the nslookup returns).
    let output = nslookup(&cluster, "kubarium-dns-test.example");
    assert!(!output.contains("Name:"), "{output}");
}
