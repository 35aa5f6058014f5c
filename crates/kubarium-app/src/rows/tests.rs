//! Rows from fixture objects, one kind at a time.

use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::row;
use crate::catalogue::find;
use crate::ipc::resources::{Cell, Row, Summary};

fn now() -> Timestamp {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

fn row_of(resource: &str, object: Value) -> Row {
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    row(find(resource).unwrap(), &object, now())
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

fn pod(status: Value, spec: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-1", "namespace": "default", "uid": "u-1", "resourceVersion": "7",
            "creationTimestamp": "2026-11-28T11:00:00Z",
            "labels": {"app": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d",
                "uid": "rs-1", "controller": true}],
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        "spec": spec,
        "status": status,
    })
}

fn pod_summary(row: &Row) -> &crate::ipc::resources::PodSummary {
    match &row.summary {
        Summary::Pod(pod) => pod,
        other => panic!("not a pod summary: {other:?}"),
    }
}

#[test]
fn a_running_pod() {
    let row = row_of(
        "pods",
        pod(
            json!({
                "phase": "Running", "podIP": "10.244.1.5",
                "conditions": [{"type": "Ready", "status": "True"},
                               {"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [
                    {"name": "app", "ready": true, "restartCount": 0, "image": "nginx", "imageID": "",
                     "state": {"running": {"startedAt": "2026-11-28T11:00:05Z"}}},
                    {"name": "log", "ready": true, "restartCount": 0, "image": "busybox", "imageID": "",
                     "state": {"running": {"startedAt": "2026-11-28T11:00:05Z"}}},
                ],
            }),
            json!({
                "nodeName": "kubarium-worker",
                "containers": [
                    {"name": "app", "image": "nginx",
                     "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}},
                     "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "a"}}},
                             {"name": "B", "valueFrom": {"secretKeyRef": {"name": "token", "key": "b"}}}],
                     "envFrom": [{"configMapRef": {"name": "env"}}]},
                    {"name": "log", "image": "busybox",
                     "resources": {"requests": {"cpu": "0.5", "memory": "1e3"}}},
                ],
                "initContainers": [
                    {"name": "setup", "image": "busybox",
                     "resources": {"requests": {"cpu": "1", "memory": "16Mi"}}},
                ],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}},
                    {"name": "tls", "secret": {"secretName": "web-tls"}},
                    {"name": "conf", "configMap": {"name": "settings"}},
                ],
            }),
        ),
    );
    assert_eq!(row.name, "web-1");
    assert_eq!(row.namespace.as_deref(), Some("default"));
    assert_eq!(row.uid, "u-1");
    assert_eq!(row.resource_version, "7");
    assert_eq!(row.created_at.as_deref(), Some("2026-11-28T11:00:00Z"));
    assert_eq!(row.owners[0].name, "web-5d");
    assert!(row.owners[0].controller);
    assert!(!row.deleting);
    assert_eq!(
        row.cells,
        [
            text("2/2"),
            text("Running"),
            text("0"),
            text("2026-11-28T11:00:00Z"),
            text("10.244.1.5"),
            text("kubarium-worker"),
            text("<none>"),
            text("<none>"),
        ]
    );
    let pod = pod_summary(&row);
    assert_eq!(pod.node.as_deref(), Some("kubarium-worker"));
    assert_eq!(pod.phase, "Running");
    assert_eq!(pod.status, "Running");
    assert!(pod.ready);
    assert_eq!((pod.ready_containers, pod.total_containers), (2, 2));
    // 750m of app containers, but the init container alone needs 1 CPU.
    assert_eq!(pod.cpu_request_milli, 1000);
    assert_eq!(pod.memory_request_bytes, 64 * 1024 * 1024 + 1000);
    assert_eq!(pod.unschedulable, None);
    assert_eq!(pod.containers, ["app", "log", "setup"]);
    assert_eq!(pod.config_maps, ["env", "settings"]);
    assert_eq!(pod.secrets, ["token", "web-tls"]);
    assert_eq!(pod.claims, ["data-web-1"]);
}

#[test]
fn sidecars_add_to_requests() {
    let row = row_of(
        "pods",
        pod(
            json!({"phase": "Pending"}),
            json!({
                "containers": [{"name": "app", "resources": {"requests": {"cpu": "100m"}}}],
                "initContainers": [
                    {"name": "proxy", "restartPolicy": "Always",
                     "resources": {"requests": {"cpu": "200m"}}},
                    {"name": "migrate", "resources": {"requests": {"cpu": "250m"}}},
                ],
            }),
        ),
    );
    // app + sidecar = 300m; the migrate step = 250m + the sidecar before it = 450m.
    assert_eq!(pod_summary(&row).cpu_request_milli, 450);
}

#[test]
fn pod_statuses_read_as_kubectls() {
    let waiting = |reason: &str, restarts: u32| {
        json!({
            "phase": "Running",
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": restarts,
                "image": "x", "imageID": "", "state": {"waiting": {"reason": reason}}}],
        })
    };
    let spec = json!({"containers": [{"name": "app", "image": "x"}]});
    let crash = row_of("pods", pod(waiting("CrashLoopBackOff", 4), spec.clone()));
    assert_eq!(pod_summary(&crash).status, "CrashLoopBackOff");
    assert_eq!(pod_summary(&crash).restarts, 4);
    assert!(!pod_summary(&crash).ready);

    let init = row_of(
        "pods",
        pod(
            json!({
                "phase": "Pending",
                "initContainerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 0, "image": "x", "imageID": "",
                     "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                    {"name": "b", "ready": false, "restartCount": 0, "image": "x", "imageID": "",
                     "state": {"running": {}}},
                ],
            }),
            json!({
                "initContainers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
                "containers": [{"name": "app", "image": "x"}],
            }),
        ),
    );
    assert_eq!(pod_summary(&init).status, "Init:1/2");

    let done = row_of(
        "pods",
        pod(
            json!({
                "phase": "Succeeded",
                "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
                    "image": "x", "imageID": "",
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            }),
            spec.clone(),
        ),
    );
    assert_eq!(pod_summary(&done).status, "Completed");

    let mut deleting = pod(json!({"phase": "Running"}), spec.clone());
    deleting["metadata"]["deletionTimestamp"] = json!("2026-11-28T11:59:00Z");
    let deleting = row_of("pods", deleting);
    assert!(deleting.deleting);
    assert_eq!(pod_summary(&deleting).status, "Terminating");

    let pending = row_of(
        "pods",
        pod(
            json!({
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient cpu."}],
            }),
            spec,
        ),
    );
    let summary = pod_summary(&pending);
    assert_eq!(summary.status, "Pending");
    assert_eq!(summary.node, None);
    assert_eq!(
        summary.unschedulable.as_deref(),
        Some("0/3 nodes are available: 3 Insufficient cpu.")
    );
}

#[test]
fn a_hollow_control_plane_node() {
    let row = row_of(
        "nodes",
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": "kubarium-control-plane", "uid": "n-1", "resourceVersion": "3",
                "creationTimestamp": "2026-11-28T10:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": "",
                           "kubarium.dev/runtime": "hollow"},
            },
            "spec": {
                "unschedulable": true,
                "taints": [
                    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                    {"key": "dedicated", "value": "infra", "effect": "NoExecute"},
                ],
            },
            "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"},
                              {"type": "Hostname", "address": "kubarium-control-plane"}],
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Hollow", "kernelVersion": "6.1",
                    "containerRuntimeVersion": "hollow://1", "machineID": "", "systemUUID": "",
                    "bootID": "", "kubeProxyVersion": "", "operatingSystem": "linux",
                    "architecture": "amd64"},
            },
        }),
    );
    assert_eq!(row.namespace, None);
    assert_eq!(
        &row.cells[..3],
        [
            text("Ready,SchedulingDisabled"),
            text("control-plane"),
            text("2026-11-28T10:00:00Z")
        ]
    );
    let Summary::Node(node) = &row.summary else {
        panic!("not a node summary")
    };
    assert!(node.ready);
    assert_eq!(node.not_ready_reason, None);
    assert!(node.unschedulable);
    assert_eq!(node.roles, ["control-plane"]);
    assert_eq!(node.cpu_allocatable_milli, 4000);
    assert_eq!(node.memory_allocatable_bytes, 8 * 1024 * 1024 * 1024);
    assert!(node.hollow);
    assert_eq!(node.internal_ip.as_deref(), Some("172.18.0.2"));
    assert_eq!(
        node.taints,
        [
            "node-role.kubernetes.io/control-plane:NoSchedule",
            "dedicated=infra:NoExecute"
        ]
    );
}

#[test]
fn a_node_that_is_not_ready_says_why() {
    let row = row_of(
        "nodes",
        json!({
            "metadata": {"name": "w", "labels": {"kubarium.dev/runtime": "docker"}},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown",
                "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]},
        }),
    );
    let Summary::Node(node) = &row.summary else {
        panic!("not a node summary")
    };
    assert!(!node.ready);
    assert!(!node.hollow);
    assert_eq!(
        node.not_ready_reason.as_deref(),
        Some("NodeStatusUnknown: Kubelet stopped posting node status.")
    );
    assert_eq!(row.cells[0], text("NotReady"));
}

#[test]
fn a_service() {
    let row = row_of(
        "services",
        json!({
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-11-28T11:00:00Z"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080, "targetPort": 8080},
                          {"port": 53, "protocol": "UDP"}]},
        }),
    );
    assert_eq!(
        &row.cells[..5],
        [
            text("NodePort"),
            text("10.96.0.10"),
            text("<none>"),
            text("80:30080/TCP,53/UDP"),
            text("2026-11-28T11:00:00Z"),
        ]
    );
    let Summary::Service(service) = &row.summary else {
        panic!("not a service summary")
    };
    assert_eq!(service.service_type, "NodePort");
    assert_eq!(service.ports, ["80:30080/TCP", "53/UDP"]);
    assert_eq!(service.selector.as_ref().unwrap()["app"], "web");
}

#[test]
fn an_ingress() {
    let row = row_of(
        "ingresses",
        json!({
            "metadata": {"name": "site", "namespace": "default"},
            "spec": {
                "defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
                "rules": [
                    {"host": "a.example", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}},
                    {"host": "b.example", "http": {"paths": [
                        {"path": "/api", "pathType": "Prefix",
                         "backend": {"service": {"name": "api", "port": {"number": 8080}}}}]}},
                ],
            },
        }),
    );
    let Summary::Ingress(ingress) = &row.summary else {
        panic!("not an ingress summary")
    };
    assert_eq!(ingress.services, ["api", "fallback", "web"]);
    assert_eq!(ingress.hosts, ["a.example", "b.example"]);
}

#[test]
fn an_event() {
    let row = row_of(
        "events",
        json!({
            "metadata": {"name": "web-1.1", "namespace": "default", "creationTimestamp": "2026-11-28T11:00:00Z"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "u-1"},
            "reason": "BackOff", "message": "Back-off restarting failed container", "type": "Warning",
            "count": 5, "firstTimestamp": "2026-11-28T11:00:00Z", "lastTimestamp": "2026-11-28T11:30:00Z",
            "source": {"component": "kubelet", "host": "kubarium-worker"},
        }),
    );
    assert_eq!(row.cells[0], text("2026-11-28T11:30:00Z"), "LAST SEEN");
    assert_eq!(row.cells[1], text("Warning"));
    assert_eq!(row.cells[3], text("pod/web-1"));
    assert_eq!(row.cells[7], text("2026-11-28T11:00:00Z"), "FIRST SEEN");
    let Summary::Event(event) = &row.summary else {
        panic!("not an event summary")
    };
    assert_eq!(event.event_type, "Warning");
    assert_eq!(event.reason, "BackOff");
    assert_eq!(event.count, 5);
    assert_eq!(event.involved_uid.as_deref(), Some("u-1"));
    assert_eq!(event.last_seen.as_deref(), Some("2026-11-28T11:30:00Z"));
    assert_eq!(event.source, "kubelet");
}

#[test]
fn workloads() {
    let deployment = row_of(
        "deployments",
        json!({
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-11-28T11:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
        }),
    );
    assert_eq!(
        deployment.cells,
        [
            text("2/3"),
            Cell::Number(3.0),
            Cell::Number(2.0),
            text("2026-11-28T11:00:00Z"),
            text("app"),
            text("nginx:1.27"),
            text("app=web"),
        ]
    );
    let Summary::Workload(workload) = &deployment.summary else {
        panic!("not a workload summary")
    };
    assert_eq!(workload.desired, Some(3));
    assert_eq!(workload.ready, 2);
    assert_eq!(workload.selector["app"], "web");

    let set = row_of(
        "statefulsets",
        json!({
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}, "serviceName": "db",
                "template": {"spec": {"containers": [{"name": "db", "image": "postgres"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}}]},
        }),
    );
    let Summary::Workload(workload) = &set.summary else {
        panic!("not a workload summary")
    };
    assert_eq!(workload.desired, Some(1), "replicas default to 1");
    assert_eq!(workload.claim_templates, ["data"]);
}

#[test]
fn kinds_without_summaries_still_have_cells() {
    let row = row_of(
        "configmaps",
        json!({
            "metadata": {"name": "settings", "namespace": "default", "creationTimestamp": "2026-11-28T11:00:00Z"},
            "data": {"a": "1", "b": "2"},
        }),
    );
    assert_eq!(row.cells, [Cell::Number(2.0), text("2026-11-28T11:00:00Z")]);
    assert_eq!(row.summary, Summary::None);
}

/// How long rows for ten thousand pods take (the Reset a 10,000-pod watch sends first):
/// `cargo test -p kubarium-app --lib -- --ignored --nocapture ten_thousand`.
#[test]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
fn ten_thousand_pod_rows() {
    let objects: Vec<DynamicObject> = (0..10_000)
        .map(|i| {
            let mut object = pod(
                json!({"phase": "Running", "podIP": "10.244.1.5",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                        "image": "nginx", "imageID": "", "state": {"running": {}}}]}),
                json!({"nodeName": "kubarium-worker", "containers": [{"name": "app", "image": "nginx",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}),
            );
            object["metadata"]["name"] = json!(format!("web-{i}"));
            object["metadata"]["uid"] = json!(format!("u-{i}"));
            serde_json::from_value(object).unwrap()
        })
        .collect();
    let kind = find("pods").unwrap();
    let printing = std::time::Instant::now();
    for object in &objects {
        kind.resource
            .table_row(&object.metadata, &object.data, now());
    }
    println!(
        "of which the API server's printer: {:?}",
        printing.elapsed()
    );
    let started = std::time::Instant::now();
    let rows: Vec<Row> = objects.iter().map(|o| row(kind, o, now())).collect();
    let elapsed = started.elapsed();
    let json = serde_json::to_vec(&crate::ipc::resources::ResourceBatch::Reset { rows }).unwrap();
    println!(
        "10,000 pod rows: built in {elapsed:?}, serialised ({} KiB) in {:?} more",
        json.len() / 1024,
        started.elapsed() - elapsed
    );
}
