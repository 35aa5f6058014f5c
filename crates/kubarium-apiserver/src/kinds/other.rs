//! networking.k8s.io, discovery.k8s.io, events.k8s.io, storage.k8s.io and coordination.k8s.io
//! kinds.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SelfSubjectRulesReview};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::registry::table::{AGE, NAME, col};
use crate::registry::{Column, Kind, age, table_or_none};
use crate::validation::{Causes, NameRule};

impl Kind for Ingress {
    const GENERATION: bool = true;

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else { return };
        if spec.default_backend.is_none() && spec.rules.as_ref().is_none_or(Vec::is_empty) {
            causes.invalid(
                "spec",
                Value::Null,
                "either `defaultBackend` or `rules` must be specified",
            );
        }
        for (i, rule) in spec.rules.iter().flatten().enumerate() {
            for (j, path) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
                let at = format!("spec.rules[{i}].http.paths[{j}]");
                if path.path_type.is_empty() {
                    causes.required(&format!("{at}.pathType"), "pathType must be specified");
                } else {
                    causes.one_of(
                        &format!("{at}.pathType"),
                        Some(&path.path_type),
                        &["Exact", "ImplementationSpecific", "Prefix"],
                    );
                }
                if path.path_type != "ImplementationSpecific"
                    && !path.path.as_deref().unwrap_or("/").starts_with('/')
                {
                    causes.invalid(
                        &format!("{at}.path"),
                        path.path.clone().unwrap_or_default(),
                        "must be an absolute path",
                    );
                }
            }
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Class",
                "string",
                "The name of the IngressClass resource that should be used for ingress.",
            ),
            col(
                "Hosts",
                "string",
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            col(
                "Address",
                "string",
                "Address is a list containing ingress points for the load-balancer",
            ),
            col("Ports", "string", "Ports of TLS configurations that open"),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let hosts: Vec<String> = spec
            .rules
            .iter()
            .flatten()
            .filter_map(|r| r.host.clone())
            .collect();
        let addresses: Vec<String> = self
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| i.ip.or(i.hostname))
            .collect();
        let ports = if spec.tls.as_ref().is_some_and(|t| !t.is_empty()) {
            "80, 443"
        } else {
            "80"
        };
        vec![
            table_or_none(spec.ingress_class_name.unwrap_or_default()),
            Value::from(if hosts.is_empty() {
                "*".to_owned()
            } else {
                hosts.join(",")
            }),
            Value::from(addresses.join(",")),
            Value::from(ports),
            age(self.metadata.creation_timestamp.as_ref(), now),
        ]
    }
}

impl Kind for IngressClass {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Controller",
                "string",
                "Controller that is responsible for handling this class",
            ),
            col(
                "Parameters",
                "string",
                "A reference to a resource with additional parameters",
            ),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let parameters = spec
            .parameters
            .map(|p| format!("{}/{}", p.kind, p.name))
            .unwrap_or_default();
        vec![
            Value::from(spec.controller.unwrap_or_default()),
            table_or_none(parameters),
            age(self.metadata.creation_timestamp.as_ref(), now),
        ]
    }
}

impl Kind for EndpointSlice {
    fn default(&mut self) {
        // Upstream defaults both, and clients (kubectl describe) rely on them being set.
        for port in self.ports.iter_mut().flatten() {
            port.name.get_or_insert_with(String::new);
            port.protocol.get_or_insert_with(|| "TCP".to_owned());
        }
    }

    fn validate(&self, causes: &mut Causes) {
        causes.one_of(
            "addressType",
            Some(&self.address_type),
            &["FQDN", "IPv4", "IPv6"],
        );
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "AddressType",
                "string",
                "Type of address carried by this EndpointSlice",
            ),
            col("Ports", "string", "Ports of this EndpointSlice"),
            col("Endpoints", "string", "Endpoints of this EndpointSlice"),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let ports: Vec<String> = self
            .ports
            .iter()
            .flatten()
            .filter_map(|p| p.port.map(|n| n.to_string()))
            .collect();
        let addresses: Vec<String> = self
            .endpoints
            .iter()
            .flat_map(|e| e.addresses.clone())
            .collect();
        let shown = if addresses.len() > 3 {
            format!(
                "{} + {} more...",
                addresses[..3].join(","),
                addresses.len() - 3
            )
        } else {
            addresses.join(",")
        };
        vec![
            Value::from(self.address_type.clone()),
            table_or_none(ports.join(",")),
            table_or_none(shown),
            age(self.metadata.creation_timestamp.as_ref(), now),
        ]
    }
}

impl Kind for Event {
    const NAME_RULE: NameRule = NameRule::PathSegment;
}

impl Kind for StorageClass {
    fn default(&mut self) {
        self.reclaim_policy
            .get_or_insert_with(|| "Delete".to_owned());
        self.volume_binding_mode
            .get_or_insert_with(|| "Immediate".to_owned());
    }

    fn validate(&self, causes: &mut Causes) {
        if self.provisioner.is_empty() {
            causes.required("provisioner", "");
        }
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        causes.immutable("provisioner", &self.provisioner, &old.provisioner);
        causes.immutable("parameters", &self.parameters, &old.parameters);
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Provisioner",
                "string",
                "Indicates the type of the provisioner.",
            ),
            col(
                "ReclaimPolicy",
                "string",
                "Dynamically provisioned PersistentVolumes of this storage class are created with this reclaimPolicy.",
            ),
            col(
                "VolumeBindingMode",
                "string",
                "VolumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
            ),
            col(
                "AllowVolumeExpansion",
                "string",
                "AllowVolumeExpansion shows whether the storage class allow volume expand.",
            ),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![
            Value::from(self.provisioner.clone()),
            Value::from(self.reclaim_policy.clone().unwrap_or_default()),
            Value::from(self.volume_binding_mode.clone().unwrap_or_default()),
            Value::from(self.allow_volume_expansion.unwrap_or(false).to_string()),
            age(self.metadata.creation_timestamp.as_ref(), now),
        ]
    }
}

impl Kind for Lease {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Holder", "string", "The holder of the lease"),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let holder = self
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default();
        vec![
            Value::from(holder),
            age(self.metadata.creation_timestamp.as_ref(), now),
        ]
    }
}

impl Kind for SelfSubjectReview {}
impl Kind for SelfSubjectAccessReview {}
impl Kind for SelfSubjectRulesReview {}
