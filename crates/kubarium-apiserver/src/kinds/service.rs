//! Services: defaults, validation, the `kubectl get services` row, and the allocation of
//! cluster IPs and node ports, which needs the set of addresses already taken.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use tokio::sync::OwnedMutexGuard;

use crate::StatusError;
use crate::handlers::Call;
use crate::registry::table::{AGE, NAME, col, wide};
use crate::registry::{Column, Kind, age, table_or_none};
use crate::validation::{Causes, NameRule};

/// The node port range, as upstream's default `--service-node-port-range`.
pub(crate) const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;
const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

/// `status.loadBalancer` is never missing upstream: Go encodes the empty struct as `{}`, so
/// every write, the status's own included, leaves `{"loadBalancer": {}}` at least.
fn default_status(service: &mut Service) {
    service
        .status
        .get_or_insert_default()
        .load_balancer
        .get_or_insert_default();
}

impl Kind for Service {
    const NAME_RULE: NameRule = NameRule::Dns1035;
    const STATUS_ADMISSION: Option<fn(&mut Self, &mut Causes)> =
        Some(|service, _| default_status(service));

    fn default(&mut self) {
        default_status(self);
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        let kind = spec
            .type_
            .get_or_insert_with(|| "ClusterIP".to_owned())
            .clone();
        spec.session_affinity
            .get_or_insert_with(|| "None".to_owned());
        for port in spec.ports.iter_mut().flatten() {
            port.protocol.get_or_insert_with(|| "TCP".to_owned());
            if port.target_port.is_none() {
                port.target_port = Some(IntOrString::Int(port.port));
            }
        }
        if kind == "ExternalName" {
            return;
        }
        spec.internal_traffic_policy
            .get_or_insert_with(|| "Cluster".to_owned());
        if kind == "NodePort" || kind == "LoadBalancer" {
            spec.external_traffic_policy
                .get_or_insert_with(|| "Cluster".to_owned());
        }
        if kind == "LoadBalancer" {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
        }
        // The IP families and `clusterIPs` are allocation's ([`allocate`]), after the field
        // manager: a Service's writer does not own them.
    }

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else {
            causes.required("spec", "");
            return;
        };
        let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
        causes.one_of("spec.type", Some(kind), TYPES);
        causes.one_of(
            "spec.sessionAffinity",
            spec.session_affinity.as_deref(),
            &["ClientIP", "None"],
        );
        let ports = spec.ports.as_deref().unwrap_or_default();
        if kind == "ExternalName" {
            if spec.external_name.as_deref().is_none_or(str::is_empty) {
                causes.required("spec.externalName", "");
            }
        } else if ports.is_empty() && spec.cluster_ip.as_deref() != Some("None") {
            causes.required("spec.ports", "");
        }
        let mut names = HashSet::new();
        let mut numbers = HashSet::new();
        for (i, port) in ports.iter().enumerate() {
            let at = format!("spec.ports[{i}]");
            match port.name.as_deref().filter(|n| !n.is_empty()) {
                None if ports.len() > 1 => causes.required(&format!("{at}.name"), ""),
                None => {}
                Some(name) => {
                    if !names.insert(name) {
                        causes.duplicate(&format!("{at}.name"), name);
                    }
                    causes.name(&format!("{at}.name"), name, NameRule::Label);
                }
            }
            if !(1..=65535).contains(&port.port) {
                causes.invalid(
                    &format!("{at}.port"),
                    port.port,
                    "must be between 1 and 65535, inclusive",
                );
            }
            causes.one_of(
                &format!("{at}.protocol"),
                port.protocol.as_deref(),
                &["SCTP", "TCP", "UDP"],
            );
            if !numbers.insert((port.port, port.protocol.clone())) {
                causes.duplicate(&at, crate::validation::json(port));
            }
            // Zero asks for one to be allocated, as an absent node port does.
            if let Some(node_port) = port.node_port.filter(|p| *p != 0) {
                if !matches!(kind, "NodePort" | "LoadBalancer") && node_port != 0 {
                    causes.forbidden(
                        &format!("{at}.nodePort"),
                        "may not be used when `type` is 'ClusterIP'",
                    );
                } else if !NODE_PORTS.contains(&node_port) {
                    causes.invalid(&format!("{at}.nodePort"), node_port, "provided port is not in the valid range. The range of valid ports is 30000-32767");
                }
            }
        }
        causes.labels("spec.selector", spec.selector.as_ref());
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        let (Some(new), Some(old)) = (&self.spec, &old.spec) else {
            return;
        };
        let was_external = old.type_.as_deref() == Some("ExternalName");
        if !was_external
            && new.type_.as_deref() != Some("ExternalName")
            && new.cluster_ip != old.cluster_ip
        {
            causes.invalid(
                "spec.clusterIPs[0]",
                new.cluster_ip.clone().unwrap_or_default(),
                "may not change once set",
            );
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Type",
                "string",
                "type determines how the Service is exposed.",
            ),
            col(
                "Cluster-IP",
                "string",
                "clusterIP is the IP address of the service and is usually assigned randomly.",
            ),
            col(
                "External-IP",
                "string",
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            col(
                "Port(s)",
                "string",
                "The list of ports that are exposed by this service.",
            ),
            AGE,
            wide(
                "Selector",
                "string",
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".to_owned());
        let external = match kind.as_str() {
            "ExternalName" => spec.external_name.clone().unwrap_or_default(),
            "LoadBalancer" => {
                let ingress: Vec<String> = self
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|lb| lb.ingress.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|i| i.ip.or(i.hostname))
                    .chain(spec.external_ips.clone().unwrap_or_default())
                    .collect();
                if ingress.is_empty() {
                    "<pending>".to_owned()
                } else {
                    ingress.join(",")
                }
            }
            _ => spec.external_ips.clone().unwrap_or_default().join(","),
        };
        let ports: Vec<String> = spec
            .ports
            .iter()
            .flatten()
            .map(|p| {
                let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".to_owned());
                match p.node_port {
                    Some(node) if node > 0 => format!("{}:{node}/{protocol}", p.port),
                    _ => format!("{}/{protocol}", p.port),
                }
            })
            .collect();
        let selector: Vec<String> = spec
            .selector
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vec![
            Value::from(kind),
            table_or_none(spec.cluster_ip.unwrap_or_default()),
            table_or_none(external),
            table_or_none(ports.join(",")),
            age(self.metadata.creation_timestamp.as_ref(), now),
            table_or_none(selector.join(",")),
        ]
    }

    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[
            ("spec.clusterIP", "spec.clusterIP"),
            ("spec.type", "spec.type"),
        ]
    }
}

/// Does a service of type `kind` have a cluster IP?
fn has_cluster_ip(kind: &str) -> bool {
    kind != "ExternalName"
}

/// Does a service of type `kind` have node ports?
fn has_node_ports(kind: &str) -> bool {
    matches!(kind, "NodePort" | "LoadBalancer")
}

fn kind_of(service: &Value) -> &str {
    service["spec"]["type"].as_str().unwrap_or("ClusterIP")
}

/// An update that leaves out what allocation gave the service keeps it, as upstream's
/// `patchAllocatedValues`: the cluster IPs and IP families while the service keeps a cluster
/// IP, and each port's node port (matched by port and protocol) while it keeps node ports.
pub(crate) fn keep_allocation(service: &mut Value, old: &Value) {
    let (kind, old_kind) = (kind_of(service).to_owned(), kind_of(old));
    let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let unset =
        |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v == "" || v == &Value::Array(vec![]));
    if has_cluster_ip(&kind) && has_cluster_ip(old_kind) {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if unset(spec.get(field))
                && let Some(kept) = old["spec"].get(field).filter(|v| !unset(Some(v)))
            {
                spec.insert(field.to_owned(), kept.clone());
            }
        }
    }
    if has_node_ports(&kind) && has_node_ports(old_kind) {
        let protocol = |p: &Value| p["protocol"].as_str().unwrap_or("TCP").to_owned();
        for port in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if port["nodePort"].as_i64().unwrap_or(0) != 0 {
                continue;
            }
            let kept = old["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["port"] == port["port"] && protocol(o) == protocol(port));
            if let Some(node_port) = kept.map(|o| &o["nodePort"]).filter(|n| n.is_i64()) {
                port["nodePort"] = node_port.clone();
            }
        }
    }
}

/// Gives a service what its type needs and it does not have yet: a cluster IP (with its
/// `clusterIPs` and IP families) and node ports, from what no other service holds (the
/// service stored at `own`, when it is an update, is not another). The returned guard
/// serialises allocations until the service is stored.
pub(crate) async fn allocate(
    call: &Call,
    object: &mut Value,
    own: Option<&str>,
) -> Result<OwnedMutexGuard<()>, StatusError> {
    let guard = call.server.allocation_lock().await;
    let services = crate::registry::find("", "v1", "services")
        .ok_or_else(|| StatusError::internal("services are not registered"))?;
    let page = call
        .server
        .store()
        .list(&services.prefix(None), &Default::default())
        .map_err(|e| crate::handlers::store_error(call, "", e))?;
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for stored in page.items.iter().filter(|s| Some(s.key.as_str()) != own) {
        let Ok(other) = serde_json::from_slice::<Value>(&stored.value) else {
            continue;
        };
        if let Some(ip) = other["spec"]["clusterIP"].as_str() {
            ips.insert(ip.to_owned());
        }
        for port in other["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(n) = port["nodePort"].as_i64() {
                ports.insert(n);
            }
        }
    }
    let kind = kind_of(object).to_owned();
    let name = crate::object::name(object).to_owned();
    let invalid = |field: &str, value: Value, detail: &str| {
        let mut causes = Causes::default();
        causes.invalid(field, value, detail);
        StatusError::invalid(services, &name, causes.into_inner())
    };
    if has_cluster_ip(&kind) {
        match object["spec"]["clusterIP"].as_str().unwrap_or_default() {
            "" => {
                let ip = call.server.service_range().free(&ips).ok_or_else(|| {
                    StatusError::internal(
                        "the service IP range is exhausted; delete unused services",
                    )
                })?;
                object["spec"]["clusterIP"] = Value::from(ip.to_string());
                object["spec"]["clusterIPs"] = Value::from(vec![ip.to_string()]);
            }
            "None" => {}
            requested => {
                let parsed: Option<Ipv4Addr> = requested.parse().ok();
                if !parsed.is_some_and(|ip| call.server.service_range().contains(ip)) {
                    return Err(invalid(
                        "spec.clusterIPs",
                        Value::from(vec![requested]),
                        &format!(
                            "failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {}",
                            call.server.service_range()
                        ),
                    ));
                }
                if ips.contains(requested) {
                    return Err(invalid(
                        "spec.clusterIPs",
                        Value::from(vec![requested]),
                        &format!(
                            "failed to allocate IP {requested}: provided IP is already allocated"
                        ),
                    ));
                }
            }
        }
        let spec = &mut object["spec"];
        if spec["clusterIPs"].as_array().is_none_or(Vec::is_empty) {
            spec["clusterIPs"] = Value::from(vec![spec["clusterIP"].clone()]);
        }
        if spec["ipFamilies"].as_array().is_none_or(Vec::is_empty) {
            spec["ipFamilies"] = Value::from(vec!["IPv4"]);
        }
        if spec["ipFamilyPolicy"].as_str().is_none_or(str::is_empty) {
            spec["ipFamilyPolicy"] = Value::from("SingleStack");
        }
    }
    if has_node_ports(&kind) {
        let count = object["spec"]["ports"].as_array().map_or(0, Vec::len);
        for i in 0..count {
            let port = &mut object["spec"]["ports"][i];
            match port["nodePort"].as_i64() {
                Some(n) if n != 0 => {
                    if !ports.insert(n) {
                        return Err(invalid(
                            &format!("spec.ports[{i}].nodePort"),
                            Value::from(n),
                            "provided port is already allocated",
                        ));
                    }
                }
                _ => {
                    let free = free_port(&ports)
                        .ok_or_else(|| StatusError::internal("the node port range is exhausted"))?;
                    ports.insert(free);
                    port["nodePort"] = Value::from(free);
                }
            }
        }
    }
    Ok(guard)
}

fn free_port(taken: &HashSet<i64>) -> Option<i64> {
    let span = (NODE_PORTS.end() - NODE_PORTS.start() + 1) as u32;
    let mut seed = [0u8; 4];
    let _ = getrandom::fill(&mut seed);
    let start = u32::from_le_bytes(seed) % span;
    (0..span)
        .map(|i| i64::from(*NODE_PORTS.start()) + i64::from((start + i) % span))
        .find(|p| !taken.contains(p))
}

/// The range cluster IPs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRange {
    base: u32,
    prefix: u8,
}

impl ServiceRange {
    /// `base/prefix`, e.g. `10.96.0.0/16`.
    pub fn new(base: Ipv4Addr, prefix: u8) -> Self {
        let prefix = prefix.clamp(8, 30);
        let mask = u32::MAX << (32 - prefix);
        Self {
            base: u32::from(base) & mask,
            prefix,
        }
    }

    fn size(&self) -> u32 {
        1 << (32 - self.prefix)
    }

    /// Whether `ip` is a usable address of the range (not its network or broadcast address).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        ip > self.base && ip < self.base + self.size() - 1
    }

    /// The first address, which the `kubernetes` service takes.
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// The tenth address, which `kube-system/kube-dns` takes (kubeadm's 10.96.0.10): the
    /// cluster's DNS server answers there.
    pub fn dns(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 10)
    }

    /// A free address, starting at a random point as upstream's allocator does.
    fn free(&self, taken: &HashSet<String>) -> Option<Ipv4Addr> {
        let usable = self.size() - 2;
        let mut seed = [0u8; 4];
        let _ = getrandom::fill(&mut seed);
        let start = u32::from_le_bytes(seed) % usable;
        (0..usable)
            .map(|i| Ipv4Addr::from(self.base + 1 + (start + i) % usable))
            // The first address is the `kubernetes` service's, the tenth `kube-dns`'s.
            .find(|ip| *ip != self.first() && *ip != self.dns() && !taken.contains(&ip.to_string()))
    }
}

impl std::fmt::Display for ServiceRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{call, namespace, server};

    const SERVICES: &str = "/api/v1/namespaces/shop/services";

    async fn shop() -> crate::ApiServer {
        let server = server();
        namespace(&server, "shop").await;
        server
    }

    fn web(kind: &str) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {
            "type": kind,
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080}],
        }})
    }

    #[tokio::test]
    async fn allocation_is_not_the_creators() {
        let server = shop().await;
        let (code, service) = call(&server, "POST", SERVICES, web("ClusterIP")).await;
        assert_eq!(code, 201, "{service}");
        let spec = &service["spec"];
        let ip = spec["clusterIP"].as_str().unwrap();
        assert!(ip.starts_with("10.96."), "{service}");
        assert_eq!(spec["clusterIPs"], json!([ip]));
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        let fields = &service["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"];
        assert!(fields["f:sessionAffinity"].is_object(), "{fields}");
        for field in [
            "f:clusterIP",
            "f:clusterIPs",
            "f:ipFamilies",
            "f:ipFamilyPolicy",
        ] {
            assert!(fields.get(field).is_none(), "{field} in {fields}");
        }
    }

    #[tokio::test]
    async fn an_update_keeps_what_was_allocated_and_gets_what_its_new_type_needs() {
        let server = shop().await;
        let (code, created) = call(&server, "POST", SERVICES, web("ClusterIP")).await;
        assert_eq!(code, 201, "{created}");
        let ip = created["spec"]["clusterIP"].clone();

        // Exposed on the nodes: node ports are allocated, the cluster IP stays.
        let uri = format!("{SERVICES}/web");
        let (code, exposed) = call(
            &server,
            "PATCH",
            &uri,
            json!({"spec": {"type": "NodePort"}}),
        )
        .await;
        assert_eq!(code, 200, "{exposed}");
        assert_eq!(exposed["spec"]["clusterIP"], ip);
        let node_port = exposed["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
        assert!(
            NODE_PORTS.contains(&i32::try_from(node_port).unwrap()),
            "{exposed}"
        );

        // A replacement that leaves out what allocation gave keeps it.
        let mut replaced = web("NodePort");
        replaced["metadata"]["resourceVersion"] = exposed["metadata"]["resourceVersion"].clone();
        let (code, kept) = call(&server, "PUT", &uri, replaced).await;
        assert_eq!(code, 200, "{kept}");
        assert_eq!(kept["spec"]["clusterIP"], ip);
        assert_eq!(kept["spec"]["clusterIPs"], json!([ip]));
        assert_eq!(kept["spec"]["ports"][0]["nodePort"], node_port);

        // Another service may not take that node port.
        let mut other = web("NodePort");
        other["metadata"]["name"] = json!("api");
        other["spec"]["ports"][0]["nodePort"] = json!(node_port);
        let (code, refused) = call(&server, "POST", SERVICES, other).await;
        assert_eq!(code, 422, "{refused}");
        assert_eq!(
            refused["details"]["causes"][0]["message"],
            format!("Invalid value: {node_port}: provided port is already allocated")
        );
    }

    #[test]
    fn ranges() {
        let range = ServiceRange::new(Ipv4Addr::new(10, 96, 3, 7), 16);
        assert_eq!(range.to_string(), "10.96.0.0/16");
        assert_eq!(range.first(), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(range.dns(), Ipv4Addr::new(10, 96, 0, 10));
        assert!(range.contains(Ipv4Addr::new(10, 96, 200, 1)));
        assert!(!range.contains(Ipv4Addr::new(10, 96, 0, 0)));
        assert!(!range.contains(Ipv4Addr::new(10, 97, 0, 1)));
        let small = ServiceRange::new(Ipv4Addr::new(10, 0, 0, 0), 30);
        let taken: HashSet<String> = ["10.0.0.2".to_owned()].into();
        assert_eq!(
            small.free(&taken),
            None,
            "only .1 (reserved) and .2 (taken) are usable"
        );
    }
}
