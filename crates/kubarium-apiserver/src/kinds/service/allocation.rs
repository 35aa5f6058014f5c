//! The allocation of a Service's cluster IPs and node ports, which needs the set of
//! addresses already taken, and what an update keeps or drops of them as its type changes.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::Value;
use tokio::sync::OwnedMutexGuard;

use super::NODE_PORTS;
use crate::StatusError;
use crate::handlers::Call;
use crate::validation::Causes;

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

/// Whether a service is reachable from outside the cluster, so `externalTrafficPolicy`
/// applies to it: node ports, a load balancer, or external IPs.
pub(super) fn externally_accessible(kind: &str, external_ips: bool) -> bool {
    has_node_ports(kind) || (kind == "ClusterIP" && external_ips)
}

/// Does a service of type `kind` with `traffic_policy` (its `externalTrafficPolicy`) have a
/// health check node port? A load balancer that only sends traffic to nodes with local
/// endpoints asks each node through it.
pub(super) fn has_health_check(kind: &str, traffic_policy: Option<&str>) -> bool {
    kind == "LoadBalancer" && traffic_policy == Some("Local")
}

fn traffic_policy(spec: &Value) -> Option<&str> {
    spec["externalTrafficPolicy"].as_str()
}

fn has_external_ips(spec: &Value) -> bool {
    spec["externalIPs"]
        .as_array()
        .is_some_and(|ips| !ips.is_empty())
}

/// A field's value, or `None` where it is unset (absent, null, empty or zero), as Go's zero
/// values compare.
fn set(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| {
        !(v.is_null() || *v == "" || *v == 0 || v.as_array().is_some_and(Vec::is_empty))
    })
}

/// An update that changes a service's type drops what the new type has no use for and the
/// update left as it was, as upstream's `dropTypeDependentFields`: the cluster IPs and IP
/// families on the way to ExternalName, the node ports on the way to a type without them,
/// the health check node port, `allocateLoadBalancerNodePorts` and `loadBalancerClass` on
/// leaving LoadBalancer, `externalTrafficPolicy` once nothing outside reaches the service,
/// and the load balancer's status. What the update did change is left for validation to
/// refuse. The addresses and ports dropped are free again: allocation reads what is taken
/// from the stored services.
pub(crate) fn drop_type_dependent(service: &mut Value, old: &Value) {
    let (kind, old_kind) = (kind_of(service).to_owned(), kind_of(old));
    let old_spec = &old["spec"];
    let drop_health_check = has_health_check(old_kind, traffic_policy(old_spec))
        && !has_health_check(&kind, traffic_policy(&service["spec"]));
    let drop_traffic_policy = externally_accessible(old_kind, has_external_ips(old_spec))
        && !externally_accessible(&kind, has_external_ips(&service["spec"]));
    if kind != "LoadBalancer"
        && let Some(status) = service.get_mut("status").and_then(Value::as_object_mut)
    {
        status.insert("loadBalancer".to_owned(), Value::Object(Default::default()));
    }
    let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let unchanged: Vec<&str> = [
        "clusterIP",
        "clusterIPs",
        "ipFamilies",
        "ipFamilyPolicy",
        "healthCheckNodePort",
        "allocateLoadBalancerNodePorts",
        "loadBalancerClass",
        "externalTrafficPolicy",
    ]
    .into_iter()
    .filter(|field| set(spec.get(*field)) == set(old_spec.get(*field)))
    .collect();
    let mut drop = |field: &str| {
        if unchanged.contains(&field) {
            spec.remove(field);
        }
    };
    if has_cluster_ip(old_kind) && !has_cluster_ip(&kind) {
        if unchanged.contains(&"clusterIP") && unchanged.contains(&"clusterIPs") {
            drop("clusterIP");
            drop("clusterIPs");
        }
        drop("ipFamilies");
        drop("ipFamilyPolicy");
    }
    if drop_health_check {
        drop("healthCheckNodePort");
    }
    if old_kind == "LoadBalancer" && kind != "LoadBalancer" {
        drop("allocateLoadBalancerNodePorts");
        drop("loadBalancerClass");
    }
    if drop_traffic_policy {
        drop("externalTrafficPolicy");
    }
    if has_node_ports(old_kind) && !has_node_ports(&kind) {
        let node_ports = |ports: Option<&Value>| -> HashSet<i64> {
            ports
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|port| port["nodePort"].as_i64())
                .filter(|port| *port != 0)
                .collect()
        };
        // Ports may be added, removed or changed, as long as no node port is new.
        if node_ports(old_spec.get("ports")).is_superset(&node_ports(spec.get("ports"))) {
            let ports = spec.get_mut("ports").and_then(Value::as_array_mut);
            for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
                port.remove("nodePort");
            }
        }
    }
}

/// An update that leaves out what allocation gave the service keeps it, as upstream's
/// `patchAllocatedValues`: the cluster IPs and IP families while the service keeps a cluster
/// IP, the health check node port while it keeps one, and each port's node port (matched by
/// port and protocol) while it keeps node ports.
pub(crate) fn keep_allocation(service: &mut Value, old: &Value) {
    let (kind, old_kind) = (kind_of(service).to_owned(), kind_of(old));
    let health_check = has_health_check(&kind, traffic_policy(&service["spec"]))
        && has_health_check(old_kind, traffic_policy(&old["spec"]));
    let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if has_cluster_ip(&kind) && has_cluster_ip(old_kind) {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if set(spec.get(field)).is_none()
                && let Some(kept) = set(old["spec"].get(field))
            {
                spec.insert(field.to_owned(), kept.clone());
            }
        }
    }
    if health_check
        && set(spec.get("healthCheckNodePort")).is_none()
        && let Some(kept) = set(old["spec"].get("healthCheckNodePort"))
    {
        spec.insert("healthCheckNodePort".to_owned(), kept.clone());
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
/// `clusterIPs` and IP families), node ports and a health check node port, from what no
/// other service holds (the service stored at `own`, when it is an update, is not another).
/// The returned guard serialises allocations until the service is stored.
pub(crate) async fn allocate(
    call: &Call,
    object: &mut Value,
    own: Option<&str>,
) -> Result<OwnedMutexGuard<()>, StatusError> {
    let guard = call.server.allocation_lock().await;
    let services = crate::registry::served("", "v1", "services")?;
    let stored = crate::handlers::stored_objects(call, services)?;
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for stored in stored.iter().filter(|s| Some(s.key.as_str()) != own) {
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
        if let Some(n) = other["spec"]["healthCheckNodePort"].as_i64() {
            ports.insert(n);
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
    if has_health_check(&kind, traffic_policy(&object["spec"])) {
        match object["spec"]["healthCheckNodePort"].as_i64() {
            Some(n) if n != 0 => {
                if !ports.insert(n) {
                    return Err(invalid(
                        "spec.healthCheckNodePort",
                        Value::from(n),
                        "provided port is already allocated",
                    ));
                }
            }
            _ => {
                let free = free_port(&ports)
                    .ok_or_else(|| StatusError::internal("the node port range is exhausted"))?;
                object["spec"]["healthCheckNodePort"] = Value::from(free);
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
    use super::*;

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
