//! Learn mode's host commands on an app whose local cluster runs on Docker, called as the
//! desktop's commands call them: a GET through the ingress controller at the port chosen at
//! start (`--ingress-http-port 0`, read from the Ingress's status), the address for a
//! browser, an answer for a host no rule names, and a one-shot exec in the demo image.

use std::sync::Arc;
use std::time::Duration;

use kubarium_app::ipc::ClusterPhase;
use kubarium_app::{App, LocalCluster};
use kubarium_cluster::{ClusterBuilder, RuntimeKind};

use crate::support::{assert_infra_available, eventually, remove_cluster_resources};

/// Generous: the machine running the tests is shared and busy.
const WAIT: Duration = Duration::from_secs(180);

const BLUE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: blue}
spec:
  replicas: 1
  selector: {matchLabels: {app: blue}}
  template:
    metadata: {labels: {app: blue}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: kubarium.dev/demo:1
        imagePullPolicy: IfNotPresent
        ports: [{name: http, containerPort: 8080}]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
---
apiVersion: v1
kind: Service
metadata: {name: blue}
spec:
  selector: {app: blue}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: blue}
spec:
  rules:
  - host: blue.localhost
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: blue, port: {number: 80}}}}
"#;

/// Removes what the cluster left in Docker should the test fail midway.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(id) = std::fs::read_to_string(self.0.join("cluster-id")) {
            remove_cluster_resources(id.trim());
        }
    }
}

#[tokio::test]
async fn app_learn_ingress_and_exec_on_docker() {
    assert_infra_available();
    let data = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(data.path().to_owned());
    let local = LocalCluster::start(
        ClusterBuilder::new(data.path())
            .listen("127.0.0.1:0".parse().unwrap())
            .nodes(1)
            .runtime(RuntimeKind::Docker)
            .ingress_ports(0, 0),
    );
    tokio::time::timeout(
        WAIT,
        local
            .subscribe()
            .wait_for(|s| s.phase == ClusterPhase::Connected),
    )
    .await
    .expect("the cluster to connect")
    .unwrap();
    let app = App::local_only(Arc::clone(&local));
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(BLUE).unwrap();
    let client = local.client().await.unwrap();
    let outcomes = kubarium_app::apply_objects(client, documents, false)
        .await
        .unwrap();
    for outcome in outcomes {
        assert!(outcome.error.is_none(), "{outcome:?}");
    }

    // Through the controller, with the rule's host: the demo page names its pod.
    let answer = eventually("blue.localhost to answer through the ingress", || async {
        let answer = app.ingress_get("blue.localhost", "/name").await.ok()?;
        (answer.status == 200).then_some(answer)
    })
    .await;
    assert!(answer.body.starts_with("blue-"), "{answer:?}");
    let url = app.ingress_url("blue.localhost").await.unwrap();
    assert!(url.starts_with("http://blue.localhost:"), "{url}");
    assert_ne!(url, "http://blue.localhost:0/");
    let unknown = app.ingress_get("red.localhost", "/").await.unwrap();
    assert_eq!(unknown.status, 404, "{unknown:?}");

    // A one-shot exec in the demo image's applets, through the app's own client choice.
    let pod = answer.body.trim().to_owned();
    let result = app
        .exec_run(
            kubarium_app::LOCAL,
            "default",
            &pod,
            None,
            vec!["hostname".to_owned()],
        )
        .await
        .unwrap();
    assert_eq!(result.exit_code, Some(0), "{result:?}");
    assert_eq!(result.stdout.trim(), pod);

    local.shutdown().await;
    kubarium_cluster::delete_cluster(data.path()).await.unwrap();
}
