//! What a container is configured with: env and files from ConfigMaps and Secrets (and a
//! ConfigMap update reaching the mounted file), the downward API, a missing ConfigMap
//! (`CreateContainerConfigError` until it exists), a missing image (`ErrImagePull`, then
//! `ImagePullBackOff`) and a StatefulSet pod's claim outliving the pod. Files and env are
//! read with `docker exec` in the pod's container, found by its labels.

use std::process::Command;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, ContainerStateWaiting, Event, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::{BUSYBOX, Docker, eventually, wait_pod};

/// A cluster of one Docker node, with the images the scenarios need; its containers and
/// network go when it is dropped.
async fn start() -> Docker {
    Docker::start_with_images(1, &[]).await
}

/// Runs `script` with `sh -c` in container `container` of the pod with uid `uid`; its
/// stdout, or `None` if the container is not there or the command failed.
fn exec(uid: &str, container: &str, script: &str) -> Option<String> {
    let found = Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=io.kubernetes.pod.uid={uid}"),
            "--filter",
            &format!("label=io.kubernetes.container.name={container}"),
        ])
        .output()
        .ok()?;
    let id = String::from_utf8_lossy(&found.stdout)
        .split_whitespace()
        .next()?
        .to_owned();
    let output = Command::new("docker")
        .args(["exec", &id, "sh", "-c", script])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

async fn create<K>(client: &kube::Client, object: serde_json::Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let object: K = serde_json::from_value(object).unwrap();
    Api::<K>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &object)
        .await
        .unwrap()
}

fn running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        && pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|all| {
                all.iter()
                    .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
            })
}

fn waiting(pod: &Pod) -> Option<ContainerStateWaiting> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .clone()
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

async fn events_of(client: &kube::Client, pod: &str) -> Vec<(String, String)> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod}")))
        .await
        .map(|list| {
            list.items
                .into_iter()
                .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn env_and_files_from_a_config_map_and_a_secret_and_updates_reach_the_files() {
    let docker = start().await;
    let client = &docker.client;
    let _: ConfigMap = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"colour": "blue", "game.properties": "lives=3\n"}
        }),
    )
    .await;
    let _: Secret = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "stringData": {"password": "hunter2", "user": "admin"}
        }),
    )
    .await;
    let _: Pod = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "configured"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "app", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", "echo started as $(GREETING); sleep 3600"],
                    "env": [
                        {"name": "GREETING", "value": "hello-$(COLOUR)"},
                        {"name": "COLOUR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "colour"}}},
                        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                        {"name": "EXPANDED", "value": "$(COLOUR)-$(PASSWORD)"}
                    ],
                    "envFrom": [{"prefix": "DB_", "secretRef": {"name": "db"}}],
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/config"},
                        {"name": "secret", "mountPath": "/etc/secret"},
                        {"name": "pinned", "mountPath": "/etc/pinned/colour", "subPath": "colour"}
                    ]
                }],
                "volumes": [
                    {"name": "config", "configMap": {"name": "settings", "items": [
                        {"key": "colour", "path": "colour"},
                        {"key": "game.properties", "path": "games/game.properties", "mode": 0o600}
                    ]}},
                    {"name": "secret", "secret": {"secretName": "db", "defaultMode": 0o400}},
                    {"name": "pinned", "configMap": {"name": "settings"}}
                ]
            }
        }),
    )
    .await;
    let pod = wait_pod(client, "configured", "the configured pod to run", running).await;
    let uid = uid(&pod);
    let env = exec(&uid, "app", "env | sort").unwrap();
    for line in [
        "COLOUR=blue",
        "PASSWORD=hunter2",
        "EXPANDED=blue-hunter2",
        "DB_password=hunter2",
        "DB_user=admin",
        "KUBERNETES_SERVICE_HOST=",
        "KUBERNETES_SERVICE_PORT=443",
    ] {
        assert!(env.contains(line), "{line} is missing from\n{env}");
    }
    // GREETING was declared before COLOUR, so $(COLOUR) stays as written.
    assert!(env.contains("GREETING=hello-$(COLOUR)"), "{env}");
    assert_eq!(exec(&uid, "app", "cat /etc/config/colour").unwrap(), "blue");
    assert_eq!(
        exec(&uid, "app", "cat /etc/config/games/game.properties").unwrap(),
        "lives=3\n"
    );
    let modes = exec(
        &uid,
        "app",
        "stat -L -c '%a %n' /etc/config/games/game.properties /etc/secret/password /etc/secret/user",
    )
    .unwrap();
    assert_eq!(
        modes,
        "600 /etc/config/games/game.properties\n400 /etc/secret/password\n400 /etc/secret/user\n"
    );
    assert_eq!(
        exec(&uid, "app", "cat /etc/secret/password").unwrap(),
        "hunter2"
    );
    assert!(
        exec(&uid, "app", "touch /etc/config/new").is_none(),
        "configMap volumes are read-only"
    );
    // On the host, no one but root reaches the pod's files.
    let pods_dir = docker.daemon.data_dir().join("pods");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&pods_dir).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o700, "{}", pods_dir.display());

    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"colour": "red"}})),
        )
        .await
        .unwrap();
    eventually("the new colour to reach the mounted file", || async {
        (exec(&uid, "app", "cat /etc/config/colour")? == "red").then_some(())
    })
    .await;
    // A subPath mount keeps the file it was started with, as upstream.
    assert_eq!(exec(&uid, "app", "cat /etc/pinned/colour").unwrap(), "blue");
    // The environment is fixed when the container starts.
    assert!(exec(&uid, "app", "env").unwrap().contains("COLOUR=blue"));

    Api::<Pod>::namespaced(client.clone(), "default")
        .delete("configured", &DeleteParams::default())
        .await
        .unwrap();
    let pod_dir = docker.daemon.data_dir().join("pods").join(&uid);
    eventually("the pod's volumes to be removed with it", || async {
        (!pod_dir.exists()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_downward_api_in_env_and_files() {
    let docker = start().await;
    let client = &docker.client;
    let _: Pod = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "downward", "labels": {"app": "web", "tier": "front"}},
            "spec": {
                "containers": [{
                    "name": "app", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "3600"],
                    "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                        {"name": "MEMORY_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                        {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}
                    ],
                    "volumeMounts": [{"name": "info", "mountPath": "/etc/podinfo"}]
                }],
                "volumes": [{"name": "info", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                    {"path": "memory", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}}
                ]}}]
            }
        }),
    )
    .await;
    let pod = wait_pod(client, "downward", "the downward pod to run", running).await;
    let uid = uid(&pod);
    let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).unwrap();
    let env = exec(&uid, "app", "env").unwrap();
    for line in [
        "POD_NAME=downward".to_owned(),
        format!("POD_IP={ip}"),
        "NODE=kubarium-control-plane".to_owned(),
        "APP=web".to_owned(),
        "MEMORY_MI=64".to_owned(),
        "CPU_M=500".to_owned(),
    ] {
        assert!(env.contains(&line), "{line} is missing from\n{env}");
    }
    assert_eq!(
        exec(&uid, "app", "cat /etc/podinfo/labels").unwrap(),
        "app=\"web\"\ntier=\"front\""
    );
    assert_eq!(
        exec(&uid, "app", "cat /etc/podinfo/name").unwrap(),
        "downward"
    );
    assert_eq!(exec(&uid, "app", "cat /etc/podinfo/memory").unwrap(), "64");
    Api::<Pod>::namespaced(client.clone(), "default")
        .patch(
            "downward",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "back"}}})),
        )
        .await
        .unwrap();
    eventually("the new label to reach the file", || async {
        exec(&uid, "app", "cat /etc/podinfo/labels")?
            .contains("tier=\"back\"")
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_config_map_holds_the_container_until_it_exists() {
    let docker = start().await;
    let client = &docker.client;
    let _: Pod = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "patient"},
            "spec": {"containers": [{
                "name": "app", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"],
                "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "mode"}}}]
            }]}
        }),
    )
    .await;
    let pod = wait_pod(client, "patient", "CreateContainerConfigError", |pod| {
        waiting(pod).is_some_and(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
    })
    .await;
    assert_eq!(
        waiting(&pod).and_then(|w| w.message).as_deref(),
        Some("configmap \"later\" not found")
    );
    assert_eq!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Pending")
    );
    eventually("the Failed event", || async {
        events_of(client, "patient")
            .await
            .iter()
            .any(|(reason, message)| {
                reason == "Failed" && message == "Error: configmap \"later\" not found"
            })
            .then_some(())
    })
    .await;
    let _: ConfigMap = create(
        client,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}, "data": {"other": "x"}}),
    )
    .await;
    let pod = wait_pod(client, "patient", "the message about the key", |pod| {
        waiting(pod).and_then(|w| w.message).as_deref()
            == Some("couldn't find key mode in ConfigMap default/later")
    })
    .await;
    drop(pod);
    Api::<ConfigMap>::namespaced(client.clone(), "default")
        .patch(
            "later",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"mode": "fast"}})),
        )
        .await
        .unwrap();
    let pod = wait_pod(
        client,
        "patient",
        "the pod to run once its ConfigMap is complete",
        running,
    )
    .await;
    assert!(
        exec(&uid(&pod), "app", "env")
            .unwrap()
            .contains("MODE=fast")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_backs_off_with_a_message() {
    let docker = start().await;
    let client = &docker.client;
    let image = "kubarium.dev/does-not-exist:1.0";
    let _: Pod = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "imageless"},
            "spec": {"containers": [{"name": "app", "image": image, "command": ["sleep", "3600"]}]}
        }),
    )
    .await;
    let pod = wait_pod(client, "imageless", "ImagePullBackOff", |pod| {
        waiting(pod).is_some_and(|w| w.reason.as_deref() == Some("ImagePullBackOff"))
    })
    .await;
    let message = waiting(&pod).and_then(|w| w.message).unwrap_or_default();
    assert!(
        message.starts_with(&format!("Back-off pulling image \"{image}\"")),
        "{message}"
    );
    for (reason, start) in [
        ("Pulling", format!("Pulling image \"{image}\"")),
        ("Failed", format!("Failed to pull image \"{image}\": ")),
        ("Failed", "Error: ErrImagePull".to_owned()),
        ("BackOff", format!("Back-off pulling image \"{image}\"")),
    ] {
        // Events are written in the background: wait for each.
        eventually(&format!("a {reason} event starting {start:?}"), || async {
            events_of(client, "imageless")
                .await
                .iter()
                .any(|(r, m)| r == reason && m.starts_with(&start))
                .then_some(())
        })
        .await;
    }
    // Pointing the pod at an image that is there gets it going, back-off or not.
    Api::<Pod>::namespaced(client.clone(), "default")
        .patch(
            "imageless",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"containers": [{"name": "app", "image": BUSYBOX}]}})),
        )
        .await
        .unwrap();
    wait_pod(
        client,
        "imageless",
        "the pod to run the fixed image",
        running,
    )
    .await;
}
#[tokio::test(flavor = "multi_thread")]
async fn a_stateful_set_pods_claim_outlives_the_pod() {
    let docker = start().await;
    let client = &docker.client;
    let _: StatefulSet = create(
        client,
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db", "replicas": 1,
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                        "name": "db", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", "[ -f /data/first ] || echo $(POD_UID) > /data/first; sleep 3600"],
                        "env": [{"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                    }]}
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
                }]
            }
        }),
    )
    .await;
    let first = wait_pod(client, "db-0", "db-0 to run", running).await;
    let first_uid = uid(&first);
    let written = eventually("the first pod to write its file", || async {
        exec(&first_uid, "db", "cat /data/first")
    })
    .await;
    assert_eq!(written.trim(), first_uid);
    Api::<Pod>::namespaced(client.clone(), "default")
        .delete("db-0", &DeleteParams::default())
        .await
        .unwrap();
    let second = wait_pod(client, "db-0", "a new db-0 to run", |pod| {
        uid(pod) != first_uid && running(pod)
    })
    .await;
    let kept = eventually("the new pod to read the file", || async {
        exec(&uid(&second), "db", "cat /data/first")
    })
    .await;
    assert_eq!(kept.trim(), first_uid, "the claim's data survived the pod");
}

#[tokio::test(flavor = "multi_thread")]
async fn projected_and_host_path_volumes_and_privileged_refused() {
    let docker = start().await;
    let client = &docker.client;
    let _: ConfigMap = create(
        client,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ca"}, "data": {"ca.crt": "CERT"}}),
    )
    .await;
    let host = docker.daemon.data_dir().join("host-data");
    let host_path = host.to_string_lossy().into_owned();
    let _: Pod = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "projected"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "app", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", "echo from-the-pod > /host/written; sleep 3600"],
                    "volumeMounts": [
                        {"name": "access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
                        {"name": "host", "mountPath": "/host"}
                    ]
                }],
                "volumes": [
                    {"name": "access", "projected": {"sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                        {"configMap": {"name": "ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
                    ]}},
                    {"name": "host", "hostPath": {"path": host_path, "type": "DirectoryOrCreate"}}
                ]
            }
        }),
    )
    .await;
    let pod = wait_pod(client, "projected", "the projected pod to run", running).await;
    let projected_uid = uid(&pod);
    let dir = "/var/run/secrets/kubernetes.io/serviceaccount";

    // A pod that asks for nothing gets its service account's credentials where in-cluster
    // clients read them: a token the API server accepts, the cluster's CA, the namespace.
    let _: Pod = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "in-cluster"},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                "name": "app", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"]}]}
        }),
    )
    .await;
    let in_cluster =
        uid(&wait_pod(client, "in-cluster", "the in-cluster pod to run", running).await);
    let token = exec(&in_cluster, "app", &format!("cat {dir}/token")).unwrap();
    let who = docker.kubectl(&[
        "auth",
        "whoami",
        &format!("--token={token}"),
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert_eq!(who, "system:serviceaccount:default:default");
    let ca = exec(&in_cluster, "app", &format!("cat {dir}/ca.crt")).unwrap();
    let root: ConfigMap = Api::namespaced(client.clone(), "default")
        .get("kube-root-ca.crt")
        .await
        .unwrap();
    let root = root.data.unwrap_or_default();
    assert_eq!(root.get("ca.crt").map(|c| c.trim()), Some(ca.trim()));
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert_eq!(
        exec(&in_cluster, "app", &format!("cat {dir}/namespace")).unwrap(),
        "default"
    );
    let token = exec(&projected_uid, "app", &format!("cat {dir}/token")).unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    assert_eq!(
        exec(&projected_uid, "app", &format!("cat {dir}/ca.crt")).unwrap(),
        "CERT"
    );
    assert_eq!(
        exec(&projected_uid, "app", &format!("cat {dir}/namespace")).unwrap(),
        "default"
    );
    let written = eventually("the pod's file on the host", || async {
        std::fs::read_to_string(host.join("written")).ok()
    })
    .await;
    assert_eq!(written, "from-the-pod\n");

    let missing = docker.daemon.data_dir().join("no-such-file");
    let _: Pod = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unmountable"},
            "spec": {
                "containers": [{"name": "app", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"],
                    "volumeMounts": [{"name": "file", "mountPath": "/file"}]}],
                "volumes": [{"name": "file", "hostPath": {"path": missing.to_string_lossy(), "type": "File"}}]
            }
        }),
    )
    .await;
    let expected = format!(
        "MountVolume.SetUp failed for volume \"file\" : hostPath type check failed: {} is not a file",
        missing.display()
    );
    eventually("the FailedMount event", || async {
        events_of(client, "unmountable")
            .await
            .iter()
            .any(|(reason, message)| reason == "FailedMount" && *message == expected)
            .then_some(())
    })
    .await;
    // The event and the pod's status are separate writes: the status may follow.
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    eventually("the container waiting in ContainerCreating", || async {
        let pod = pods.get("unmountable").await.ok()?;
        (waiting(&pod).and_then(|w| w.reason).as_deref() == Some("ContainerCreating")).then_some(())
    })
    .await;

    let _: Pod = create(
        client,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"},
            "spec": {"containers": [{"name": "app", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"], "securityContext": {"privileged": true}}]}
        }),
    )
    .await;
    let pod = wait_pod(
        client,
        "privileged",
        "the privileged pod to be refused",
        |pod| {
            waiting(pod).is_some_and(|w| w.reason.as_deref() == Some("CreateContainerConfigError"))
        },
    )
    .await;
    let message = waiting(&pod).and_then(|w| w.message).unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "pod with UID \"{}\" specified privileged container, but is disallowed",
            uid(&pod)
        )),
        "{message}"
    );
}
