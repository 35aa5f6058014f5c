//! Core kinds besides pods and services: config, secrets, namespaces, nodes, volumes,
//! endpoints, events and service accounts.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, NamespaceSpec, NamespaceStatus, Node, PersistentVolume,
    PersistentVolumeClaim, PersistentVolumeClaimStatus, PersistentVolumeStatus, Secret,
    ServiceAccount,
};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::registry::table::{AGE, NAME, col, wide};
use crate::registry::{Column, Kind, age, table_or_none};
use crate::validation::{Causes, NameRule};

fn created(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    now: Timestamp,
) -> Value {
    age(meta.creation_timestamp.as_ref(), now)
}

/// Keys of ConfigMap and Secret data: letters, digits, `-`, `_`, `.`.
fn check_keys<'a>(field: &str, keys: impl Iterator<Item = &'a String>, causes: &mut Causes) {
    for key in keys {
        let ok = !key.is_empty()
            && key.len() <= 253
            && key != "."
            && key != ".."
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            causes.invalid(field, key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
        }
    }
}

impl Kind for ConfigMap {
    fn validate(&self, causes: &mut Causes) {
        check_keys("data", self.data.iter().flatten().map(|(k, _)| k), causes);
        check_keys(
            "binaryData",
            self.binary_data.iter().flatten().map(|(k, _)| k),
            causes,
        );
        for key in self.data.iter().flatten().map(|(k, _)| k) {
            if self
                .binary_data
                .as_ref()
                .is_some_and(|b| b.contains_key(key))
            {
                causes.invalid("data", key, "duplicate of key present in binaryData");
            }
        }
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        if old.immutable == Some(true) {
            if self.data != old.data || self.binary_data != old.binary_data {
                causes.forbidden("data", "field is immutable when `immutable` is set");
            }
            causes.immutable("immutable", &self.immutable, &old.immutable);
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Data", "integer", "Data contains the configuration data."),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let count = self.data.as_ref().map_or(0, |d| d.len())
            + self.binary_data.as_ref().map_or(0, |d| d.len());
        vec![Value::from(count), created(&self.metadata, now)]
    }
}

impl Kind for Secret {
    fn default(&mut self) {
        self.type_.get_or_insert_with(|| "Opaque".to_owned());
        // stringData is write-only: merged into data, never stored.
        if let Some(strings) = self.string_data.take() {
            let data = self.data.get_or_insert_with(Default::default);
            for (key, value) in strings {
                data.insert(key, ByteString(value.into_bytes()));
            }
        }
    }

    fn validate(&self, causes: &mut Causes) {
        check_keys("data", self.data.iter().flatten().map(|(k, _)| k), causes);
        match self.type_.as_deref() {
            Some("kubernetes.io/tls") => {
                for key in ["tls.crt", "tls.key"] {
                    if !self.data.as_ref().is_some_and(|d| d.contains_key(key)) {
                        causes.required(&format!("data[{key}]"), "");
                    }
                }
            }
            Some("kubernetes.io/dockerconfigjson")
                if !self
                    .data
                    .as_ref()
                    .is_some_and(|d| d.contains_key(".dockerconfigjson")) =>
            {
                causes.required("data[.dockerconfigjson]", "");
            }
            _ => {}
        }
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        causes.immutable("type", &self.type_, &old.type_);
        if old.immutable == Some(true) && self.data != old.data {
            causes.forbidden("data", "field is immutable when `immutable` is set");
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Type", "string", "The type of the secret"),
            col("Data", "integer", "The number of keys in the secret"),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![
            Value::from(self.type_.clone().unwrap_or_default()),
            Value::from(self.data.as_ref().map_or(0, |d| d.len())),
            created(&self.metadata, now),
        ]
    }

    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[("type", "type")]
    }
}

/// Upstream's `SetDefaults_NamespaceStatus`: a namespace is `Active` unless it says
/// otherwise.
fn default_namespace_phase(namespace: &mut Namespace) {
    let status = namespace
        .status
        .get_or_insert_with(NamespaceStatus::default);
    status.phase.get_or_insert_with(|| "Active".to_owned());
}

impl Kind for Namespace {
    const NAME_RULE: NameRule = NameRule::Label;
    const STATUS_ADMISSION: Option<fn(&mut Self, &mut Causes)> =
        Some(|namespace, _| default_namespace_phase(namespace));

    fn default(&mut self) {
        let spec = self.spec.get_or_insert_with(NamespaceSpec::default);
        spec.finalizers
            .get_or_insert_with(|| vec!["kubernetes".to_owned()]);
        default_namespace_phase(self);
        // The kubernetes.io/metadata.name label always names the namespace.
        if let Some(name) = self.metadata.name.clone() {
            self.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert("kubernetes.io/metadata.name".to_owned(), name);
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Status", "string", "The status of the namespace"),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let phase = self
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        vec![Value::from(phase), created(&self.metadata, now)]
    }

    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[("status.phase", "status.phase")]
    }
}

impl Kind for Node {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Status", "string", "The status of the node"),
            col("Roles", "string", "The roles of the node"),
            AGE,
            col("Version", "string", "Kubelet Version reported by the node."),
            wide(
                "Internal-IP",
                "string",
                "List of addresses reachable to the node.",
            ),
            wide(
                "External-IP",
                "string",
                "List of addresses reachable to the node.",
            ),
            wide(
                "OS-Image",
                "string",
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            wide(
                "Kernel-Version",
                "string",
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            wide(
                "Container-Runtime",
                "string",
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let status = self.status.clone().unwrap_or_default();
        let ready = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready");
        let mut state = match ready.map(|c| c.status.as_str()) {
            Some("True") => "Ready".to_owned(),
            _ => "NotReady".to_owned(),
        };
        if self.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            state.push_str(",SchedulingDisabled");
        }
        let mut roles: Vec<String> = self
            .metadata
            .labels
            .iter()
            .flatten()
            .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                Some(role) if !role.is_empty() => Some(role.to_owned()),
                _ if k == "kubernetes.io/role" && !v.is_empty() => Some(v.clone()),
                _ => None,
            })
            .collect();
        roles.sort();
        let address = |kind: &str| {
            table_or_none(
                status
                    .addresses
                    .iter()
                    .flatten()
                    .find(|a| a.type_ == kind)
                    .map(|a| a.address.clone())
                    .unwrap_or_default(),
            )
        };
        let info = status.node_info.clone().unwrap_or_default();
        vec![
            Value::from(state),
            table_or_none(roles.join(",")),
            created(&self.metadata, now),
            Value::from(info.kubelet_version),
            address("InternalIP"),
            address("ExternalIP"),
            Value::from(info.os_image),
            Value::from(info.kernel_version),
            Value::from(info.container_runtime_version),
        ]
    }

    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[("spec.unschedulable", "spec.unschedulable")]
    }
}

fn access_modes(modes: Option<&Vec<String>>) -> String {
    modes
        .into_iter()
        .flatten()
        .map(|m| match m.as_str() {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Upstream's `SetDefaults_PersistentVolumeClaim` for the status: a claim is `Pending` until
/// it is bound.
fn default_claim_phase(claim: &mut PersistentVolumeClaim) {
    let status = claim
        .status
        .get_or_insert_with(PersistentVolumeClaimStatus::default);
    status.phase.get_or_insert_with(|| "Pending".to_owned());
}

impl Kind for PersistentVolumeClaim {
    const STATUS_ADMISSION: Option<fn(&mut Self, &mut Causes)> =
        Some(|claim, _| default_claim_phase(claim));

    fn default(&mut self) {
        if let Some(spec) = self.spec.as_mut() {
            spec.volume_mode
                .get_or_insert_with(|| "Filesystem".to_owned());
        }
        default_claim_phase(self);
    }

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else {
            causes.required("spec", "");
            return;
        };
        if spec.access_modes.as_ref().is_none_or(Vec::is_empty) {
            causes.required("spec.accessModes", "at least 1 access mode is required");
        }
        if spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .is_none()
            && spec.volume_name.is_none()
        {
            causes.required("spec.resources[storage]", "");
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Status",
                "string",
                "Phase represents the current phase of PersistentVolumeClaim.",
            ),
            col(
                "Volume",
                "string",
                "VolumeName is the binding reference to the PersistentVolume backing this claim.",
            ),
            col(
                "Capacity",
                "string",
                "capacity represents the actual resources of the underlying volume.",
            ),
            col(
                "Access Modes",
                "string",
                "AccessModes contains the desired access modes the volume should have.",
            ),
            col(
                "StorageClass",
                "string",
                "StorageClassName is the name of the StorageClass required by the claim.",
            ),
            col(
                "VolumeAttributesClass",
                "string",
                "VolumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.",
            ),
            AGE,
            wide(
                "VolumeMode",
                "string",
                "volumeMode defines what type of volume is required by the claim.",
            ),
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let capacity = status
            .capacity
            .as_ref()
            .and_then(|c| c.get("storage"))
            .map(|q| q.0.clone())
            .unwrap_or_default();
        let mut phase = status.phase.clone().unwrap_or_default();
        if self.metadata.deletion_timestamp.is_some() {
            phase = "Terminating".to_owned();
        }
        vec![
            Value::from(phase),
            Value::from(spec.volume_name.unwrap_or_default()),
            Value::from(capacity),
            Value::from(access_modes(status.access_modes.as_ref())),
            Value::from(spec.storage_class_name.unwrap_or_default()),
            table_or_none(spec.volume_attributes_class_name.unwrap_or_default()),
            created(&self.metadata, now),
            Value::from(spec.volume_mode.unwrap_or_default()),
        ]
    }
}

/// Upstream's `SetDefaults_PersistentVolume` for the status: a volume is `Pending` until its
/// controller says otherwise.
fn default_volume_phase(volume: &mut PersistentVolume) {
    let status = volume
        .status
        .get_or_insert_with(PersistentVolumeStatus::default);
    status.phase.get_or_insert_with(|| "Pending".to_owned());
}

impl Kind for PersistentVolume {
    const STATUS_ADMISSION: Option<fn(&mut Self, &mut Causes)> =
        Some(|volume, _| default_volume_phase(volume));

    fn default(&mut self) {
        if let Some(spec) = self.spec.as_mut() {
            spec.persistent_volume_reclaim_policy
                .get_or_insert_with(|| "Retain".to_owned());
            spec.volume_mode
                .get_or_insert_with(|| "Filesystem".to_owned());
        }
        default_volume_phase(self);
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Capacity",
                "string",
                "capacity is the description of the persistent volume's resources and capacity.",
            ),
            col(
                "Access Modes",
                "string",
                "accessModes contains all ways the volume can be mounted.",
            ),
            col(
                "Reclaim Policy",
                "string",
                "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
            ),
            col(
                "Status",
                "string",
                "phase indicates if a volume is available, bound to a claim, or released by a claim.",
            ),
            col(
                "Claim",
                "string",
                "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
            ),
            col(
                "StorageClass",
                "string",
                "storageClassName is the name of StorageClass to which this persistent volume belongs.",
            ),
            col(
                "VolumeAttributesClass",
                "string",
                "Name of VolumeAttributesClass to which this persistent volume belongs.",
            ),
            col(
                "Reason",
                "string",
                "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
            ),
            AGE,
            wide(
                "VolumeMode",
                "string",
                "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
            ),
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let claim = spec
            .claim_ref
            .as_ref()
            .map(|c| {
                format!(
                    "{}/{}",
                    c.namespace.clone().unwrap_or_default(),
                    c.name.clone().unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let mut phase = status.phase.clone().unwrap_or_default();
        if self.metadata.deletion_timestamp.is_some() {
            phase = "Terminating".to_owned();
        }
        vec![
            Value::from(
                spec.capacity
                    .as_ref()
                    .and_then(|c| c.get("storage"))
                    .map(|q| q.0.clone())
                    .unwrap_or_default(),
            ),
            Value::from(access_modes(spec.access_modes.as_ref())),
            Value::from(spec.persistent_volume_reclaim_policy.unwrap_or_default()),
            Value::from(phase),
            Value::from(claim),
            Value::from(spec.storage_class_name.unwrap_or_default()),
            table_or_none(spec.volume_attributes_class_name.unwrap_or_default()),
            Value::from(status.reason.unwrap_or_default()),
            created(&self.metadata, now),
            Value::from(spec.volume_mode.unwrap_or_default()),
        ]
    }
}

impl Kind for Endpoints {
    fn default(&mut self) {
        for port in self
            .subsets
            .iter_mut()
            .flatten()
            .flat_map(|s| s.ports.iter_mut().flatten())
        {
            port.protocol.get_or_insert_with(|| "TCP".to_owned());
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Endpoints",
                "string",
                "Endpoints is the list of endpoints comprising a service.",
            ),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let mut addresses = Vec::new();
        for subset in self.subsets.iter().flatten() {
            let ports: Vec<i32> = subset.ports.iter().flatten().map(|p| p.port).collect();
            for address in subset.addresses.iter().flatten() {
                if ports.is_empty() {
                    addresses.push(address.ip.clone());
                }
                for port in &ports {
                    addresses.push(format!("{}:{port}", address.ip));
                }
            }
        }
        let shown = if addresses.len() > 3 {
            format!(
                "{} + {} more...",
                addresses[..3].join(","),
                addresses.len() - 3
            )
        } else {
            addresses.join(",")
        };
        vec![table_or_none(shown), created(&self.metadata, now)]
    }
}

impl Kind for Event {
    const NAME_RULE: NameRule = NameRule::PathSegment;

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            col(
                "Last Seen",
                "string",
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            col(
                "Type",
                "string",
                "Type of this event (Normal, Warning), new types could be added in the future.",
            ),
            col(
                "Reason",
                "string",
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            col("Object", "string", "The object that this event is about."),
            wide(
                "Subobject",
                "string",
                "The subobject this event is about (a container of a pod, say).",
            ),
            wide("Source", "string", "The component reporting this event."),
            col(
                "Message",
                "string",
                "A human-readable description of the status of this operation.",
            ),
            wide(
                "First Seen",
                "string",
                "The time at which the event was first recorded.",
            ),
            wide(
                "Count",
                "string",
                "The number of times this event has occurred.",
            ),
            Column {
                name: "Name",
                kind: "string",
                format: "name",
                description: crate::registry::table::NAME_DESCRIPTION,
                priority: 1,
            },
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let time = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| age(t, now);
        let last = self
            .last_timestamp
            .as_ref()
            .or(self.first_timestamp.as_ref())
            .cloned()
            .or_else(|| {
                self.event_time
                    .as_ref()
                    .map(|t| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t.0))
            });
        let object = format!(
            "{}/{}",
            self.involved_object
                .kind
                .clone()
                .unwrap_or_default()
                .to_lowercase(),
            self.involved_object.name.clone().unwrap_or_default()
        );
        let source = event_source(self);
        vec![
            time(last.as_ref()),
            Value::from(self.type_.clone().unwrap_or_default()),
            Value::from(self.reason.clone().unwrap_or_default()),
            Value::from(object),
            Value::from(self.involved_object.field_path.clone().unwrap_or_default()),
            Value::from(source),
            Value::from(self.message.clone().unwrap_or_default().trim().to_owned()),
            time(self.first_timestamp.as_ref()),
            Value::from(self.count.unwrap_or(1)),
            Value::from(self.metadata.name.clone().unwrap_or_default()),
        ]
    }

    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[
            ("involvedObject.kind", "involvedObject.kind"),
            ("involvedObject.namespace", "involvedObject.namespace"),
            ("involvedObject.name", "involvedObject.name"),
            ("involvedObject.uid", "involvedObject.uid"),
            ("involvedObject.apiVersion", "involvedObject.apiVersion"),
            (
                "involvedObject.resourceVersion",
                "involvedObject.resourceVersion",
            ),
            ("involvedObject.fieldPath", "involvedObject.fieldPath"),
            ("reason", "reason"),
            ("reportingComponent", "reportingComponent"),
            ("source", "source.component"),
            ("type", "type"),
        ]
    }
}

impl Kind for ServiceAccount {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Secrets",
                "string",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![
            Value::from(self.secrets.as_ref().map_or(0, Vec::len)),
            created(&self.metadata, now),
        ]
    }
}

/// An event's `SOURCE` column, as kubectl's printer makes it: the source's component, else
/// the reporting controller; then, after a comma, the source's host, else the reporting
/// instance, when there is one.
fn event_source(event: &Event) -> String {
    let first = |a: Option<&String>, b: Option<&String>| {
        a.filter(|s| !s.is_empty())
            .or(b.filter(|s| !s.is_empty()))
            .cloned()
            .unwrap_or_default()
    };
    let source = event.source.as_ref();
    let component = first(
        source.and_then(|s| s.component.as_ref()),
        event.reporting_component.as_ref(),
    );
    let instance = first(
        source.and_then(|s| s.host.as_ref()),
        event.reporting_instance.as_ref(),
    );
    if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::EventSource;

    use super::*;

    #[test]
    fn an_events_source_reads_as_kubectls_printer_makes_it() {
        let event = |component: Option<&str>, host: Option<&str>, reporting: (&str, &str)| Event {
            source: (component.is_some() || host.is_some()).then(|| EventSource {
                component: component.map(str::to_owned),
                host: host.map(str::to_owned),
            }),
            reporting_component: Some(reporting.0.to_owned()).filter(|s| !s.is_empty()),
            reporting_instance: Some(reporting.1.to_owned()).filter(|s| !s.is_empty()),
            ..<Event as Default>::default()
        };
        let cases = [
            // A kubelet's: the node it runs on.
            (
                event(Some("kubelet"), Some("worker"), ("kubelet", "worker")),
                "kubelet, worker",
            ),
            // A controller's, from client-go's recorder: no host, no instance.
            (
                event(
                    Some("deployment-controller"),
                    None,
                    ("deployment-controller", ""),
                ),
                "deployment-controller",
            ),
            // No host, but an instance: kubectl shows it.
            (
                event(Some("kubelet"), None, ("kubelet", "kubelet")),
                "kubelet, kubelet",
            ),
            // events.k8s.io's, with no source at all.
            (
                event(
                    None,
                    None,
                    ("default-scheduler", "default-scheduler-node-1"),
                ),
                "default-scheduler, default-scheduler-node-1",
            ),
            (event(None, None, ("", "")), ""),
        ];
        for (event, expected) in cases {
            assert_eq!(event_source(&event), expected, "{event:?}");
        }
    }
}
