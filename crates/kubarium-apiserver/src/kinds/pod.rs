//! Pods: defaults (including what the ServiceAccount, DefaultTolerationSeconds and Priority
//! admission plugins add), validation, immutability of the spec, and the `kubectl get pods`
//! row with its STATUS reasoning.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, Pod, PodSpec, PodStatus, Probe, Volume,
};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::registry::table::{AGE, NAME, col, human_duration, wide};
use crate::registry::{Column, Kind, age, table_or_none};
use crate::validation::{Causes, is_dns_label};

const COLUMNS: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide(
        "IP",
        "string",
        "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    ),
    wide(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled.",
    ),
    wide(
        "Nominated Node",
        "string",
        "nominatedNodeName is set when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
    ),
    wide(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
    ),
];

/// Defaults of a pod spec (in pods and in every pod template).
pub(crate) fn default_spec(spec: &mut PodSpec) {
    spec.restart_policy
        .get_or_insert_with(|| "Always".to_owned());
    spec.dns_policy
        .get_or_insert_with(|| "ClusterFirst".to_owned());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.security_context.get_or_insert_with(Default::default);
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".to_owned());
    for container in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        default_container(container);
    }
    for volume in spec.volumes.iter_mut().flatten() {
        default_volume(volume);
    }
}

fn default_container(c: &mut Container) {
    c.termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".to_owned());
    c.termination_message_policy
        .get_or_insert_with(|| "File".to_owned());
    c.resources.get_or_insert_with(Default::default);
    if c.image_pull_policy.is_none() {
        c.image_pull_policy =
            Some(default_pull_policy(c.image.as_deref().unwrap_or_default()).to_owned());
    }
    for port in c.ports.iter_mut().flatten() {
        port.protocol.get_or_insert_with(|| "TCP".to_owned());
    }
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
    for env in c.env.iter_mut().flatten() {
        if let Some(field) = env.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            field.api_version.get_or_insert_with(|| "v1".to_owned());
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent`, as upstream defaults it.
pub(crate) fn default_pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or_default();
    let last = without_digest.rsplit('/').next().unwrap_or_default();
    match last.rsplit_once(':') {
        _ if image.contains('@') => "IfNotPresent",
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_probe(probe: &mut Probe) {
    probe.timeout_seconds.get_or_insert(1);
    probe.period_seconds.get_or_insert(10);
    probe.success_threshold.get_or_insert(1);
    probe.failure_threshold.get_or_insert(3);
    if let Some(http) = probe.http_get.as_mut() {
        http.scheme.get_or_insert_with(|| "HTTP".to_owned());
        http.path.get_or_insert_with(|| "/".to_owned());
    }
}

fn default_volume(volume: &mut Volume) {
    let has_source = volume.empty_dir.is_some()
        || volume.config_map.is_some()
        || volume.secret.is_some()
        || volume.host_path.is_some()
        || volume.persistent_volume_claim.is_some()
        || volume.downward_api.is_some()
        || volume.projected.is_some()
        || volume.nfs.is_some()
        || volume.csi.is_some()
        || volume.ephemeral.is_some()
        || volume.image.is_some();
    if !has_source {
        volume.empty_dir = Some(Default::default());
    }
    if let Some(cm) = volume.config_map.as_mut() {
        cm.default_mode.get_or_insert(0o644);
    }
    if let Some(secret) = volume.secret.as_mut() {
        secret.default_mode.get_or_insert(0o644);
    }
    if let Some(downward) = volume.downward_api.as_mut() {
        downward.default_mode.get_or_insert(0o644);
    }
    if let Some(projected) = volume.projected.as_mut() {
        projected.default_mode.get_or_insert(0o644);
    }
    if let Some(host) = volume.host_path.as_mut() {
        host.type_.get_or_insert_with(String::new);
    }
}

/// The taints a node gets when it stops reporting; the DefaultTolerationSeconds admission
/// plugin makes every pod tolerate them for a while.
const NODE_FAILURE_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// The DefaultTolerationSeconds admission plugin, on a new pod's JSON: a pod that does not
/// already tolerate `not-ready:NoExecute` or `unreachable:NoExecute` (a toleration with that
/// key or no key, and effect NoExecute or none) gets `Exists` tolerations for them with
/// `tolerationSeconds` = `seconds`, so it leaves a node that stopped reporting after that long.
pub(crate) fn admit_default_tolerations(pod: &mut Value, seconds: i64) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(tolerations) = crate::object::list_mut(spec, "tolerations") else {
        return;
    };
    for key in NODE_FAILURE_TAINTS {
        let tolerated = tolerations.iter().any(|t| {
            let t_key = t["key"].as_str().unwrap_or("");
            let effect = t["effect"].as_str().unwrap_or("");
            (t_key == key || t_key.is_empty()) && (effect == "NoExecute" || effect.is_empty())
        });
        if !tolerated {
            tolerations.push(serde_json::json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": seconds,
            }));
        }
    }
}

/// The QoS class of a pod from its containers' requests and limits.
fn qos_class(spec: &PodSpec) -> &'static str {
    let containers: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for container in &containers {
        let resources = container.resources.clone().unwrap_or_default();
        let requests = resources.requests.unwrap_or_default();
        let limits = resources.limits.unwrap_or_default();
        for resource in ["cpu", "memory"] {
            let request = requests.get(resource).or_else(|| limits.get(resource));
            let limit = limits.get(resource);
            if request.is_some() || limit.is_some() {
                any = true;
            }
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Validates a pod spec at `path` (`spec` or `spec.template.spec`).
pub(crate) fn validate_spec(spec: &PodSpec, path: &str, causes: &mut Causes) {
    validate_spec_with(spec, path, &[], causes);
}

/// As [`validate_spec`], with volumes the pod gets from elsewhere (a StatefulSet's claim
/// templates) counting as declared.
pub(crate) fn validate_spec_with(
    spec: &PodSpec,
    path: &str,
    extra_volumes: &[&str],
    causes: &mut Causes,
) {
    if spec.containers.is_empty() {
        causes.required(&format!("{path}.containers"), "");
    }
    let volumes: HashSet<&str> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .chain(extra_volumes.iter().copied())
        .collect();
    let mut names = HashSet::new();
    for (list, items) in [
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("containers", spec.containers.as_slice()),
    ] {
        for (i, c) in items.iter().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            if c.name.is_empty() {
                causes.required(&format!("{at}.name"), "");
            } else if !is_dns_label(&c.name) {
                causes.name(
                    &format!("{at}.name"),
                    &c.name,
                    crate::validation::NameRule::Label,
                );
            } else if !names.insert(c.name.as_str()) {
                causes.duplicate(&format!("{at}.name"), &c.name);
            }
            if c.image.as_deref().is_none_or(str::is_empty) {
                causes.required(&format!("{at}.image"), "");
            }
            causes.one_of(
                &format!("{at}.imagePullPolicy"),
                c.image_pull_policy.as_deref(),
                &["Always", "IfNotPresent", "Never"],
            );
            for (j, port) in c.ports.iter().flatten().enumerate() {
                if !(1..=65535).contains(&port.container_port) {
                    causes.invalid(
                        &format!("{at}.ports[{j}].containerPort"),
                        port.container_port,
                        "must be between 1 and 65535, inclusive",
                    );
                }
                causes.one_of(
                    &format!("{at}.ports[{j}].protocol"),
                    port.protocol.as_deref(),
                    &["SCTP", "TCP", "UDP"],
                );
            }
            for (j, mount) in c.volume_mounts.iter().flatten().enumerate() {
                if !volumes.contains(mount.name.as_str()) {
                    causes.push_not_found(&format!("{at}.volumeMounts[{j}].name"), &mount.name);
                }
                if mount.mount_path.is_empty() {
                    causes.required(&format!("{at}.volumeMounts[{j}].mountPath"), "");
                }
            }
        }
    }
    let mut volume_names = HashSet::new();
    for (i, volume) in spec.volumes.iter().flatten().enumerate() {
        if !volume_names.insert(volume.name.as_str()) {
            causes.duplicate(&format!("{path}.volumes[{i}].name"), &volume.name);
        } else if !is_dns_label(&volume.name) {
            causes.name(
                &format!("{path}.volumes[{i}].name"),
                &volume.name,
                crate::validation::NameRule::Label,
            );
        }
    }
    causes.one_of(
        &format!("{path}.restartPolicy"),
        spec.restart_policy.as_deref(),
        &["Always", "OnFailure", "Never"],
    );
    causes.one_of(
        &format!("{path}.dnsPolicy"),
        spec.dns_policy.as_deref(),
        &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
    );
    causes.at_least(
        &format!("{path}.terminationGracePeriodSeconds"),
        spec.termination_grace_period_seconds,
        0,
    );
}

/// The spec with everything a pod update may change cleared, for comparing.
fn frozen(spec: &PodSpec) -> PodSpec {
    let mut spec = spec.clone();
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        c.image = None;
    }
    spec.active_deadline_seconds = None;
    spec.tolerations = None;
    spec.termination_grace_period_seconds = None;
    spec.scheduling_gates = None;
    // An echo of `serviceAccountName`, which is compared; pods stored before it was written
    // lack it.
    spec.service_account = None;
    spec
}

impl Kind for Pod {
    fn default(&mut self) {
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        default_spec(spec);
        spec.enable_service_links.get_or_insert(true);
        // The deprecated `serviceAccount` names the account when `serviceAccountName` does
        // not, and always echoes it (upstream's conversion). The account's default, the
        // priority and the preemption policy are admission's (`crate::kinds::scheduling`,
        // `crate::kinds::serviceaccount`), after the field manager.
        if spec
            .service_account_name
            .as_deref()
            .is_none_or(str::is_empty)
        {
            spec.service_account_name = spec.service_account.take().filter(|s| !s.is_empty());
        }
        spec.service_account.clone_from(&spec.service_account_name);
        if self.status.is_none() {
            let qos = qos_class(spec).to_owned();
            self.status = Some(PodStatus {
                phase: Some("Pending".to_owned()),
                qos_class: Some(qos),
                ..Default::default()
            });
        }
    }

    fn validate(&self, causes: &mut Causes) {
        match &self.spec {
            Some(spec) => validate_spec(spec, "spec", causes),
            None => causes.required("spec", ""),
        }
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        if let (Some(new), Some(old)) = (&self.spec, &old.spec)
            && frozen(new) != frozen(old)
        {
            causes.forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            );
        }
    }

    fn columns() -> &'static [Column] {
        COLUMNS
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let row = Row::of(self, now);
        // Read in place: a table of 10,000 pods is built row by row.
        let (no_spec, no_status) = (PodSpec::default(), PodStatus::default());
        let spec = self.spec.as_ref().unwrap_or(&no_spec);
        let status = self.status.as_ref().unwrap_or(&no_status);
        let gates = spec.readiness_gates.as_deref().unwrap_or_default();
        let gate_cell = if gates.is_empty() {
            "<none>".to_owned()
        } else {
            let conditions = status.conditions.as_deref().unwrap_or_default();
            let ready = gates
                .iter()
                .filter(|g| {
                    conditions
                        .iter()
                        .any(|c| c.type_ == g.condition_type && c.status == "True")
                })
                .count();
            format!("{ready}/{}", gates.len())
        };
        vec![
            Value::from(format!("{}/{}", row.ready, row.total)),
            Value::from(row.reason),
            row.restarts,
            age(self.metadata.creation_timestamp.as_ref(), now),
            table_or_none(status.pod_ip.clone().unwrap_or_default()),
            table_or_none(spec.node_name.clone().unwrap_or_default()),
            table_or_none(status.nominated_node_name.clone().unwrap_or_default()),
            Value::from(gate_cell),
        ]
    }

    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[
            ("spec.nodeName", "spec.nodeName"),
            ("spec.restartPolicy", "spec.restartPolicy"),
            ("spec.schedulerName", "spec.schedulerName"),
            ("spec.serviceAccountName", "spec.serviceAccountName"),
            ("spec.hostNetwork", "spec.hostNetwork"),
            ("status.phase", "status.phase"),
            ("status.podIP", "status.podIP"),
            ("status.nominatedNodeName", "status.nominatedNodeName"),
        ]
    }
}

/// What the READY, STATUS and RESTARTS columns say about a pod.
struct Row {
    ready: usize,
    total: usize,
    reason: String,
    restarts: Value,
}

impl Row {
    fn of(pod: &Pod, now: Timestamp) -> Self {
        let (no_spec, no_status) = (PodSpec::default(), PodStatus::default());
        let spec = pod.spec.as_ref().unwrap_or(&no_spec);
        let status = pod.status.as_ref().unwrap_or(&no_status);
        let mut reason = status
            .reason
            .clone()
            .unwrap_or_else(|| status.phase.clone().unwrap_or_default());
        if spec
            .scheduling_gates
            .as_ref()
            .is_some_and(|g| !g.is_empty())
        {
            reason = "SchedulingGated".to_owned();
        }
        let mut restarts = 0;
        let mut last_restart: Option<Timestamp> = None;
        let mut note = |count: i32, finished: Option<Timestamp>| {
            restarts += count;
            if let Some(at) = finished
                && last_restart.is_none_or(|l| at > l)
            {
                last_restart = Some(at);
            }
        };
        let inits = status
            .init_container_statuses
            .as_deref()
            .unwrap_or_default();
        let mut initializing = false;
        for (i, c) in inits.iter().enumerate() {
            note(
                c.restart_count,
                c.last_state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .and_then(|t| t.finished_at.as_ref())
                    .map(|t| t.0),
            );
            let no_state = ContainerState::default();
            let state = c.state.as_ref().unwrap_or(&no_state);
            if let Some(t) = &state.terminated {
                if t.exit_code == 0 {
                    continue;
                }
                reason = match &t.reason {
                    Some(r) if !r.is_empty() => format!("Init:{r}"),
                    _ if t.signal.unwrap_or(0) != 0 => {
                        format!("Init:Signal:{}", t.signal.unwrap_or(0))
                    }
                    _ => format!("Init:ExitCode:{}", t.exit_code),
                };
            } else if let Some(w) = state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty() && r != "PodInitializing")
            {
                reason = format!("Init:{w}");
            } else if c.started == Some(true) && is_sidecar(spec, &c.name) {
                continue;
            } else {
                reason = format!(
                    "Init:{i}/{}",
                    spec.init_containers.as_ref().map_or(0, Vec::len)
                );
            }
            initializing = true;
            break;
        }
        let mut ready = 0;
        let total = spec.containers.len();
        if !initializing {
            restarts = 0;
            last_restart = None;
            let mut note = |count: i32, finished: Option<Timestamp>| {
                restarts += count;
                if let Some(at) = finished
                    && last_restart.is_none_or(|l| at > l)
                {
                    last_restart = Some(at);
                }
            };
            let mut running = false;
            for c in status.container_statuses.iter().flatten().rev() {
                note(
                    c.restart_count,
                    c.last_state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .and_then(|t| t.finished_at.as_ref())
                        .map(|t| t.0),
                );
                let no_state = ContainerState::default();
                let state = c.state.as_ref().unwrap_or(&no_state);
                if let Some(w) = state
                    .waiting
                    .as_ref()
                    .and_then(|w| w.reason.clone())
                    .filter(|r| !r.is_empty())
                {
                    reason = w;
                } else if let Some(t) = &state.terminated {
                    reason = match &t.reason {
                        Some(r) if !r.is_empty() => r.clone(),
                        _ if t.signal.unwrap_or(0) != 0 => {
                            format!("Signal:{}", t.signal.unwrap_or(0))
                        }
                        _ => format!("ExitCode:{}", t.exit_code),
                    };
                } else if c.ready && state.running.is_some() {
                    running = true;
                    ready += 1;
                }
            }
            if reason == "Completed" && running {
                let ready_condition = status
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                reason = if ready_condition {
                    "Running"
                } else {
                    "NotReady"
                }
                .to_owned();
            }
        }
        let phase = status.phase.as_deref().unwrap_or_default();
        if pod.metadata.deletion_timestamp.is_some() {
            if status.reason.as_deref() == Some("NodeLost") {
                reason = "Unknown".to_owned();
            } else if !matches!(phase, "Succeeded" | "Failed") {
                reason = "Terminating".to_owned();
            }
        }
        let restarts = match last_restart {
            Some(at) if restarts > 0 => Value::from(format!(
                "{restarts} ({} ago)",
                human_duration(now.as_second() - at.as_second())
            )),
            // A string either way, as upstream's printer sends it.
            _ => Value::from(restarts.to_string()),
        };
        Row {
            ready,
            total,
            reason,
            restarts,
        }
    }
}

fn is_sidecar(spec: &PodSpec, name: &str) -> bool {
    spec.init_containers
        .iter()
        .flatten()
        .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pull_policy_defaults_by_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.27"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/app"), "Always");
        assert_eq!(default_pull_policy("app@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn status_column_follows_containers() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 4, "image": "", "imageID": "", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            ]},
        }))
        .unwrap();
        let cells = pod.cells(Timestamp::now());
        assert_eq!(cells[0], "1/2");
        assert_eq!(cells[1], "CrashLoopBackOff");
        assert_eq!(cells[2], "4");
    }

    async fn create_pod(server: &crate::ApiServer, pod: Value) -> Value {
        use crate::testing::{self, TOKEN};
        let post = |uri: &str, body: Value| {
            http::Request::post(uri)
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap()
        };
        let namespace = json!({"metadata": {"name": "shop"}});
        testing::send(server, post("/api/v1/namespaces", namespace)).await;
        let (response, body) =
            testing::send(server, post("/api/v1/namespaces/shop/pods", pod)).await;
        assert_eq!(response.status(), 201, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    #[tokio::test]
    async fn new_pods_tolerate_failed_nodes_for_the_configured_seconds() {
        let server = crate::testing::server_with_toleration_seconds(30);
        let pod = json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        });
        let created = create_pod(&server, pod).await;
        insta::assert_json_snapshot!(created["spec"]["tolerations"], @r#"
        [
          {
            "effect": "NoExecute",
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "tolerationSeconds": 30
          },
          {
            "effect": "NoExecute",
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "tolerationSeconds": 30
          }
        ]
        "#);
    }

    #[tokio::test]
    async fn tolerations_a_pod_brings_are_kept() {
        let server = crate::testing::server();
        // Its own not-ready toleration is kept; a NoSchedule one for unreachable does not
        // count, so unreachable:NoExecute is added with the server's default.
        let pod = json!({
            "metadata": {"name": "web"},
            "spec": {
                "containers": [{"name": "web", "image": "web:1"}],
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"},
                ],
            },
        });
        let created = create_pod(&server, pod).await;
        let tolerations = created["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(tolerations.len(), 3, "{tolerations:?}");
        assert_eq!(tolerations[0]["tolerationSeconds"], 5);
        assert_eq!(tolerations[2]["key"], "node.kubernetes.io/unreachable");
        assert_eq!(tolerations[2]["tolerationSeconds"], 300);

        // A toleration of everything needs nothing added.
        let all = json!({
            "metadata": {"name": "anything"},
            "spec": {
                "containers": [{"name": "web", "image": "web:1"}],
                "tolerations": [{"operator": "Exists"}],
            },
        });
        let created = create_pod(&server, all).await;
        assert_eq!(
            created["spec"]["tolerations"],
            json!([{"operator": "Exists"}])
        );
    }
}
