//! Per-kind summaries: what the map, topology graph and details pages need beyond the
//! cells, read straight from the object's JSON (`data` is the object without `metadata`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::quantity;
use crate::ipc::resources::{
    Cell, Column, EventSummary, IngressSummary, NodeSummary, PodSummary, ServiceSummary,
    WorkloadSummary,
};

/// Node label naming the runtime a node's pods run in (`kubarium_node::node::RUNTIME_LABEL`);
/// `hollow` nodes simulate their pods.
const RUNTIME_LABEL: &str = "kubarium.dev/runtime";
/// Prefix of the role labels kubectl's ROLES column reads.
const ROLE_PREFIX: &str = "node-role.kubernetes.io/";

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn count(value: &Value) -> u32 {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// The condition `type_` of a status's conditions.
fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    items(&status["conditions"])
        .iter()
        .find(|c| c["type"] == type_)
}

/// A pod; its READY, STATUS and RESTARTS come from the printed cells, so they read exactly
/// as kubectl's.
pub(super) fn pod(data: &Value, columns: &[Column], cells: &[Cell]) -> PodSummary {
    let spec = &data["spec"];
    let status = &data["status"];
    let cell = |name: &str| {
        columns
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| cells.get(i))
    };
    let (ready_containers, total_containers) = match cell("READY") {
        Some(Cell::Text(ready)) => ready
            .split_once('/')
            .map(|(a, b)| (a.parse().unwrap_or(0), b.parse().unwrap_or(0)))
            .unwrap_or((0, 0)),
        _ => (0, 0),
    };
    let restarts = match cell("RESTARTS") {
        // Whole counts are far below u32::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(Cell::Number(n)) => *n as u32,
        Some(Cell::Text(t)) => t
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    let pod_status = match cell("STATUS") {
        Some(Cell::Text(t)) => t.clone(),
        _ => String::new(),
    };
    let (cpu_request_milli, memory_request_bytes) = requests(spec);
    let unschedulable = condition(status, "PodScheduled")
        .filter(|c| c["status"] == "False")
        .map(|c| {
            text(&c["message"])
                .filter(|m| !m.is_empty())
                .or_else(|| text(&c["reason"]))
                .unwrap_or_else(|| "The scheduler has not placed it yet.".to_owned())
        });
    let containers = ["containers", "initContainers"]
        .iter()
        .flat_map(|list| items(&spec[*list]))
        .filter_map(|c| text(&c["name"]))
        .collect();
    let used = Uses::of(spec);
    PodSummary {
        node: text(&spec["nodeName"]).filter(|n| !n.is_empty()),
        phase: text(&status["phase"]).unwrap_or_else(|| "Pending".to_owned()),
        status: pod_status,
        ready: condition(status, "Ready").is_some_and(|c| c["status"] == "True"),
        ready_containers,
        total_containers,
        restarts,
        pod_ip: text(&status["podIP"]).filter(|ip| !ip.is_empty()),
        cpu_request_milli,
        memory_request_bytes,
        unschedulable,
        containers,
        config_maps: used.config_maps.into_iter().collect(),
        secrets: used.secrets.into_iter().collect(),
        claims: used.claims.into_iter().collect(),
    }
}

/// (cpu millicores, memory bytes) a container requests.
fn container_requests(container: &Value) -> (u64, u64) {
    let requests = &container["resources"]["requests"];
    (
        requests["cpu"]
            .as_str()
            .and_then(quantity::milli)
            .unwrap_or(0),
        requests["memory"]
            .as_str()
            .and_then(quantity::units)
            .unwrap_or(0),
    )
}

/// A pod's requests as the scheduler counts them (`resourcehelper.PodRequests`): the app
/// containers and sidecars (restartable init containers) together, or the largest init
/// step (an init container plus the sidecars started before it) if that is more, plus the
/// pod overhead.
fn requests(spec: &Value) -> (u64, u64) {
    let mut cpu = 0u64;
    let mut memory = 0u64;
    for container in items(&spec["containers"]) {
        let (c, m) = container_requests(container);
        cpu = cpu.saturating_add(c);
        memory = memory.saturating_add(m);
    }
    let (mut sidecar_cpu, mut sidecar_memory) = (0u64, 0u64);
    let (mut init_cpu, mut init_memory) = (0u64, 0u64);
    for container in items(&spec["initContainers"]) {
        let (c, m) = container_requests(container);
        let step = if container["restartPolicy"] == "Always" {
            cpu = cpu.saturating_add(c);
            memory = memory.saturating_add(m);
            sidecar_cpu = sidecar_cpu.saturating_add(c);
            sidecar_memory = sidecar_memory.saturating_add(m);
            (sidecar_cpu, sidecar_memory)
        } else {
            (
                c.saturating_add(sidecar_cpu),
                m.saturating_add(sidecar_memory),
            )
        };
        init_cpu = init_cpu.max(step.0);
        init_memory = init_memory.max(step.1);
    }
    let overhead = &spec["overhead"];
    (
        cpu.max(init_cpu).saturating_add(
            overhead["cpu"]
                .as_str()
                .and_then(quantity::milli)
                .unwrap_or(0),
        ),
        memory.max(init_memory).saturating_add(
            overhead["memory"]
                .as_str()
                .and_then(quantity::units)
                .unwrap_or(0),
        ),
    )
}

/// The ConfigMaps, Secrets and claims a pod refers to.
#[derive(Default)]
struct Uses {
    config_maps: BTreeSet<String>,
    secrets: BTreeSet<String>,
    claims: BTreeSet<String>,
}

impl Uses {
    fn of(spec: &Value) -> Self {
        let mut uses = Uses::default();
        let add = |set: &mut BTreeSet<String>, name: &Value| {
            if let Some(name) = name.as_str().filter(|n| !n.is_empty()) {
                set.insert(name.to_owned());
            }
        };
        for volume in items(&spec["volumes"]) {
            add(&mut uses.config_maps, &volume["configMap"]["name"]);
            add(&mut uses.secrets, &volume["secret"]["secretName"]);
            add(
                &mut uses.claims,
                &volume["persistentVolumeClaim"]["claimName"],
            );
            for source in items(&volume["projected"]["sources"]) {
                add(&mut uses.config_maps, &source["configMap"]["name"]);
                add(&mut uses.secrets, &source["secret"]["name"]);
            }
        }
        for pull in items(&spec["imagePullSecrets"]) {
            add(&mut uses.secrets, &pull["name"]);
        }
        let containers = ["containers", "initContainers", "ephemeralContainers"]
            .into_iter()
            .flat_map(|list| items(&spec[list]));
        for container in containers {
            for env in items(&container["env"]) {
                add(
                    &mut uses.config_maps,
                    &env["valueFrom"]["configMapKeyRef"]["name"],
                );
                add(&mut uses.secrets, &env["valueFrom"]["secretKeyRef"]["name"]);
            }
            for from in items(&container["envFrom"]) {
                add(&mut uses.config_maps, &from["configMapRef"]["name"]);
                add(&mut uses.secrets, &from["secretRef"]["name"]);
            }
        }
        uses
    }
}

/// A node.
pub(super) fn node(metadata: &ObjectMeta, data: &Value) -> NodeSummary {
    let status = &data["status"];
    let ready = condition(status, "Ready");
    let is_ready = ready.is_some_and(|c| c["status"] == "True");
    let not_ready_reason = if is_ready {
        None
    } else {
        Some(match ready {
            Some(c) => match (text(&c["reason"]), text(&c["message"])) {
                (Some(reason), Some(message)) if !message.is_empty() => {
                    format!("{reason}: {message}")
                }
                (Some(reason), _) => reason,
                (None, Some(message)) => message,
                (None, None) => "The node's Ready condition is not True.".to_owned(),
            },
            None => "The node has not reported whether it is Ready yet.".to_owned(),
        })
    };
    let labels = metadata.labels.as_ref();
    let mut roles: Vec<String> = labels
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| {
            if let Some(role) = key.strip_prefix(ROLE_PREFIX) {
                Some(role.to_owned()).filter(|r| !r.is_empty())
            } else if key == "kubernetes.io/role" {
                Some(value.clone()).filter(|r| !r.is_empty())
            } else {
                None
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    let allocatable = &status["allocatable"];
    let taints = items(&data["spec"]["taints"])
        .iter()
        .map(|taint| {
            let key = taint["key"].as_str().unwrap_or_default();
            let effect = taint["effect"].as_str().unwrap_or_default();
            match taint["value"].as_str().filter(|v| !v.is_empty()) {
                Some(value) => format!("{key}={value}:{effect}"),
                None => format!("{key}:{effect}"),
            }
        })
        .collect();
    NodeSummary {
        ready: is_ready,
        not_ready_reason,
        unschedulable: data["spec"]["unschedulable"].as_bool().unwrap_or(false),
        roles,
        cpu_allocatable_milli: allocatable["cpu"]
            .as_str()
            .and_then(quantity::milli)
            .unwrap_or(0),
        memory_allocatable_bytes: allocatable["memory"]
            .as_str()
            .and_then(quantity::units)
            .unwrap_or(0),
        hollow: labels
            .and_then(|l| l.get(RUNTIME_LABEL))
            .is_some_and(|r| r == "hollow"),
        internal_ip: items(&status["addresses"])
            .iter()
            .find(|a| a["type"] == "InternalIP")
            .and_then(|a| text(&a["address"])),
        taints,
    }
}

/// A Service.
pub(super) fn service(data: &Value) -> ServiceSummary {
    let spec = &data["spec"];
    let selector = string_map(&spec["selector"]);
    ServiceSummary {
        selector: (!selector.is_empty()).then_some(selector),
        service_type: text(&spec["type"]).unwrap_or_else(|| "ClusterIP".to_owned()),
        ports: items(&spec["ports"])
            .iter()
            .map(|port| {
                let protocol = port["protocol"].as_str().unwrap_or("TCP");
                match port["nodePort"].as_u64() {
                    Some(node_port) => format!("{}:{node_port}/{protocol}", port["port"]),
                    None => format!("{}/{protocol}", port["port"]),
                }
            })
            .collect(),
    }
}

/// An Ingress.
pub(super) fn ingress(data: &Value) -> IngressSummary {
    let spec = &data["spec"];
    let mut services = BTreeSet::new();
    let mut hosts = Vec::new();
    if let Some(name) = spec["defaultBackend"]["service"]["name"].as_str() {
        services.insert(name.to_owned());
    }
    for rule in items(&spec["rules"]) {
        if let Some(host) = rule["host"].as_str()
            && !hosts.iter().any(|h| h == host)
        {
            hosts.push(host.to_owned());
        }
        for path in items(&rule["http"]["paths"]) {
            if let Some(name) = path["backend"]["service"]["name"].as_str() {
                services.insert(name.to_owned());
            }
        }
    }
    IngressSummary {
        services: services.into_iter().collect(),
        hosts,
    }
}

/// The latest of an Event's lastTimestamp, eventTime, firstTimestamp and
/// creationTimestamp, as written.
pub(super) fn event_last_seen(metadata: &ObjectMeta, data: &Value) -> Option<String> {
    let created = metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.to_string());
    ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .filter_map(|field| data[*field].as_str().map(str::to_owned))
        .chain(created)
        .filter_map(|text| Some((text.parse::<Timestamp>().ok()?, text)))
        .max_by_key(|(time, _)| *time)
        .map(|(_, text)| text)
}

/// A core v1 Event.
pub(super) fn event(metadata: &ObjectMeta, data: &Value) -> EventSummary {
    let involved = &data["involvedObject"];
    let count = data["count"]
        .as_u64()
        .or_else(|| data["series"]["count"].as_u64())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1);
    let source = text(&data["reportingComponent"])
        .filter(|s| !s.is_empty())
        .or_else(|| text(&data["source"]["component"]))
        .unwrap_or_default();
    EventSummary {
        event_type: text(&data["type"]).unwrap_or_else(|| "Normal".to_owned()),
        reason: text(&data["reason"]).unwrap_or_default(),
        message: text(&data["message"]).unwrap_or_default(),
        involved_kind: text(&involved["kind"]).unwrap_or_default(),
        involved_name: text(&involved["name"]).unwrap_or_default(),
        involved_namespace: text(&involved["namespace"]).filter(|n| !n.is_empty()),
        involved_uid: text(&involved["uid"]).filter(|u| !u.is_empty()),
        count,
        last_seen: event_last_seen(metadata, data),
        source,
    }
}

/// A Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or CronJob.
pub(super) fn workload(kind: &str, data: &Value) -> WorkloadSummary {
    let spec = &data["spec"];
    let status = &data["status"];
    // A CronJob's pods are its Jobs' pods: its selector is the job template's.
    let spec = if kind == "CronJob" {
        &spec["jobTemplate"]["spec"]
    } else {
        spec
    };
    let replicas = || {
        Some(
            spec["replicas"]
                .as_u64()
                .map_or(1, |_| count(&spec["replicas"])),
        )
    };
    let (desired, ready) = match kind {
        "Deployment" | "ReplicaSet" | "StatefulSet" => {
            (replicas(), count(&status["readyReplicas"]))
        }
        "DaemonSet" => (
            Some(count(&status["desiredNumberScheduled"])),
            count(&status["numberReady"]),
        ),
        "Job" => (
            Some(
                spec["completions"]
                    .as_u64()
                    .map_or(1, |_| count(&spec["completions"])),
            ),
            count(&status["ready"]),
        ),
        "CronJob" => (None, items(&status["active"]).len().try_into().unwrap_or(0)),
        _ => (None, 0),
    };
    WorkloadSummary {
        selector: string_map(&spec["selector"]["matchLabels"]),
        desired,
        ready,
        claim_templates: items(&spec["volumeClaimTemplates"])
            .iter()
            .filter_map(|t| text(&t["metadata"]["name"]))
            .collect(),
    }
}
