//! The demo image as the lessons use it: its applets through `kubectl exec` (`cat` and `ls`
//! on a mounted ConfigMap, `wget -qO-` against the pod's own server, `env`, `hostname`), the
//! server's `/name` and the lesson content in `/api` (files, re-read after a ConfigMap edit,
//! `DEMO_*` variables from a Secret, the `$DEMO_DATA/created` marker), and `hit` spreading
//! new connections over a Service's replicas.

use std::collections::BTreeSet;
use std::process::Command;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

use crate::support::{Docker, eventually};

/// A ConfigMap mounted at /etc/demo, a Secret as DEMO_PASSWORD, an emptyDir as DEMO_DATA,
/// two replicas of the demo server and a Service in front of them.
const WEB: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: web-files}
data:
  greeting: "hello from a ConfigMap\n"
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: s3cret}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: kubarium.dev/demo:1
        imagePullPolicy: IfNotPresent
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: http}
          periodSeconds: 1
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: POD_UID
          valueFrom: {fieldRef: {fieldPath: metadata.uid}}
        - name: DEMO_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        - {name: DEMO_DATA, value: /data}
        volumeMounts:
        - {name: files, mountPath: /etc/demo}
        - {name: data, mountPath: /data}
      volumes:
      - name: files
        configMap: {name: web-files}
      - name: data
        emptyDir: {}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"#;

/// `kubectl exec <pod> -- <command>`: (exit code, stdout, stderr).
fn exec(cluster: &Docker, pod: &str, command: &[&str]) -> (i32, String, String) {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(["exec", pod, "--"])
        .args(command)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Waits for both replicas to be Ready; their names and uids.
async fn ready_replicas(cluster: &Docker) -> Vec<(String, String)> {
    let api = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    eventually("2 ready replicas of web", || {
        let api = api.clone();
        async move {
            let pods = api
                .list(&ListParams::default().labels("app=web"))
                .await
                .ok()?;
            let ready: Vec<(String, String)> = pods
                .items
                .iter()
                .filter(|pod| {
                    pod.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .filter_map(|pod| Some((pod.metadata.name.clone()?, pod.metadata.uid.clone()?)))
                .collect();
            (ready.len() == 2).then_some(ready)
        }
    })
    .await
}

#[tokio::test]
async fn the_demo_images_tools_show_what_a_lesson_mounted_and_reach_a_service() {
    let cluster = Docker::start_with_images(1, &[]).await;
    cluster.apply(WEB);
    let replicas = ready_replicas(&cluster).await;
    let (pod, uid) = &replicas[0];

    let (code, out, err) = exec(&cluster, pod, &["cat", "/etc/demo/greeting"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "hello from a ConfigMap\n"),
        "{err}"
    );
    let (code, out, err) = exec(&cluster, pod, &["ls", "/etc/demo"]);
    assert_eq!((code, out.as_str()), (0, "greeting\n"), "{err}");
    let (code, _, err) = exec(&cluster, pod, &["cat", "/etc/demo/missing"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cat: can't open '/etc/demo/missing': No such file or directory"),
        "{err}"
    );

    let (code, out, err) = exec(
        &cluster,
        pod,
        &["wget", "-qO-", "http://localhost:8080/name"],
    );
    assert_eq!((code, out.trim()), (0, pod.as_str()), "{err}");
    let (code, api, err) = exec(
        &cluster,
        pod,
        &["wget", "-qO-", "http://localhost:8080/api"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        api.contains(r#""files": {"greeting": "hello from a ConfigMap\n"}"#),
        "{api}"
    );
    assert!(
        api.contains(r#""env": {"DEMO_PASSWORD": "s3cret"}"#),
        "{api}"
    );
    assert!(
        api.contains(&format!(r#""data": "created by {pod} ({uid}) at "#)),
        "{api}"
    );
    // The page reads the files on each request, so an edited ConfigMap shows once the
    // node has re-synced the volume.
    cluster.apply(&WEB.replace("hello from a ConfigMap", "edited"));
    eventually("the edited ConfigMap to show in /api", || {
        let (_, api, _) = exec(
            &cluster,
            pod,
            &["wget", "-qO-", "http://localhost:8080/api"],
        );
        async move { api.contains(r#""greeting": "edited\n""#).then_some(()) }
    })
    .await;
    let (code, _, err) = exec(
        &cluster,
        pod,
        &["wget", "-qO-", "http://localhost:8080/nope"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("wget: server returned error: HTTP/1.1 404 Not Found"),
        "{err}"
    );

    let (code, env, _) = exec(&cluster, pod, &["env"]);
    assert_eq!(code, 0);
    assert!(env.lines().any(|l| l == "DEMO_PASSWORD=s3cret"), "{env}");
    assert!(env.lines().any(|l| l == "PATH=/bin"), "{env}");
    let (code, out, _) = exec(&cluster, pod, &["hostname"]);
    assert_eq!((code, out.trim()), (0, pod.as_str()));

    // New connections through the Service reach both replicas (the Services lesson's
    // experiment); retried while the Service's endpoints catch up with readiness.
    let names: BTreeSet<String> = replicas.iter().map(|(name, _)| name.clone()).collect();
    eventually("hit through the Service to reach both replicas", || {
        let (code, out, _) = exec(&cluster, pod, &["hit", "http://web/name", "10"]);
        let answered: BTreeSet<String> = out.lines().map(str::to_owned).collect();
        let names = names.clone();
        async move { (code == 0 && out.lines().count() == 10 && answered == names).then_some(()) }
    })
    .await;
}
