//! The downward API: a pod's own fields (`fieldRef`) and its containers' resources
//! (`resourceFieldRef`) as strings, the way the kubelet hands them to env vars and to
//! downwardAPI volume files.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, Pod, ResourceFieldSelector};

use crate::NodeCapacity;
use kubarium_controllers::quantity::{self, Quantity};

/// What the downward API reads besides the pod itself.
#[derive(Debug, Clone)]
pub(crate) struct PodContext<'a> {
    /// The pod.
    pub(crate) pod: &'a Pod,
    /// Its address, once its sandbox has one.
    pub(crate) pod_ip: Option<String>,
    /// The node's address.
    pub(crate) host_ip: String,
    /// What the node offers: container limits default to it.
    pub(crate) allocatable: &'a NodeCapacity,
}

/// Whether `container`'s environment reads the pod's IP (`status.podIP`, `status.podIPs`),
/// which is known only once its sandbox has started.
pub(crate) fn needs_pod_ip(container: &Container) -> bool {
    container.env.iter().flatten().any(|var| {
        var.value_from
            .as_ref()
            .and_then(|from| from.field_ref.as_ref())
            .is_some_and(|field| {
                matches!(field.field_path.as_str(), "status.podIP" | "status.podIPs")
            })
    })
}

impl PodContext<'_> {
    /// The pod's namespace.
    pub(crate) fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// The value of `fieldRef`, as `podFieldSelectorRuntimeValue` and
    /// `ExtractFieldPathAsString` give it.
    pub(crate) fn field(&self, selector: &ObjectFieldSelector) -> Result<String, String> {
        let pod = self.pod;
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        let path = selector.field_path.as_str();
        let value = match path {
            "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
            "spec.serviceAccountName" => spec
                .and_then(|s| s.service_account_name.clone())
                .unwrap_or_default(),
            "status.hostIP" | "status.hostIPs" => self.host_ip.clone(),
            "status.podIP" | "status.podIPs" => self.pod_ip.clone().unwrap_or_default(),
            "metadata.name" => meta.name.clone().unwrap_or_default(),
            "metadata.namespace" => self.namespace().to_owned(),
            "metadata.uid" => meta.uid.clone().unwrap_or_default(),
            "metadata.labels" => format_map(meta.labels.as_ref()),
            "metadata.annotations" => format_map(meta.annotations.as_ref()),
            _ => {
                let subscript = |prefix: &str| {
                    path.strip_prefix(prefix)?
                        .strip_prefix("['")?
                        .strip_suffix("']")
                        .map(str::to_owned)
                };
                if let Some(key) = subscript("metadata.labels") {
                    meta.labels
                        .as_ref()
                        .and_then(|m| m.get(&key).cloned())
                        .unwrap_or_default()
                } else if let Some(key) = subscript("metadata.annotations") {
                    meta.annotations
                        .as_ref()
                        .and_then(|m| m.get(&key).cloned())
                        .unwrap_or_default()
                } else {
                    return Err(format!("unsupported fieldPath: {path}"));
                }
            }
        };
        Ok(value)
    }

    /// The value of `resourceFieldRef` for `container` (or the container it names), with
    /// unset limits defaulted to the node's allocatable as `defaultPodLimitsForDownwardAPI`
    /// does.
    pub(crate) fn resource(
        &self,
        selector: &ResourceFieldSelector,
        container: Option<&Container>,
    ) -> Result<String, String> {
        let named;
        let container = match selector.container_name.as_deref() {
            Some(name) if !name.is_empty() => {
                let spec = self.pod.spec.as_ref();
                named = spec
                    .into_iter()
                    .flat_map(|s| {
                        s.containers
                            .iter()
                            .chain(s.init_containers.iter().flatten())
                    })
                    .find(|c| c.name == name);
                named.ok_or_else(|| format!("container {name} not found"))?
            }
            _ => container.ok_or_else(|| "no container named for the resource".to_owned())?,
        };
        let divisor = selector
            .divisor
            .as_ref()
            .and_then(|d| Quantity::parse(&d.0))
            .filter(|d| !d.is_zero())
            .unwrap_or(Quantity::ONE);
        let resources = container.resources.as_ref();
        let (kind, name) = selector
            .resource
            .split_once('.')
            .ok_or_else(|| format!("unsupported container resource : {}", selector.resource))?;
        let listed = |list: Option<
            &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
        >| {
            list.and_then(|l| l.get(name))
                .and_then(|q| Quantity::parse(&q.0))
        };
        let amount = match kind {
            "limits" => listed(resources.and_then(|r| r.limits.as_ref())).or_else(|| match name {
                "cpu" => Quantity::parse(&self.allocatable.cpu),
                "memory" => Quantity::parse(&self.allocatable.memory),
                "ephemeral-storage" => Quantity::parse(&self.allocatable.ephemeral_storage),
                _ => None,
            }),
            "requests" => listed(resources.and_then(|r| r.requests.as_ref())),
            _ => {
                return Err(format!(
                    "unsupported container resource : {}",
                    selector.resource
                ));
            }
        };
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage")
            && !name.starts_with("hugepages-")
        {
            return Err(format!(
                "unsupported container resource : {}",
                selector.resource
            ));
        }
        let amount = amount.unwrap_or(Quantity::ZERO);
        Ok(quantity::divide(amount, divisor, name == "cpu").to_string())
    }
}

/// A map as the downward API writes it: `key="value"` lines, sorted, Go-quoted.
pub(crate) fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A string quoted as Go's `%q` does.
fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
