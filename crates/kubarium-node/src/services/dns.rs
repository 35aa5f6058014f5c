//! The cluster's DNS unit, as CoreDNS's `kubernetes` plugin would answer: a pure function
//! from Services and EndpointSlices to the `kubarium-infra dns` configuration (the
//! contract's `# kubarium dns v1` format).
//!
//! Records, per Service `<svc>.<ns>.svc.<domain>`: its cluster IP; for a headless Service the
//! addresses of its ready endpoints (all of them with `publishNotReadyAddresses`) and
//! `<hostname or a-b-c-d>.<svc>…` for each; for any Service, endpoints with a `hostname`
//! (StatefulSet pods) as `<hostname>.<svc>…`; ExternalName as a CNAME; SRV records for named
//! ports. Pods' `<a-b-c-d>.<ns>.pod.<domain>` names come from the endpoints of the
//! EndpointSlices (pods behind a Service) rather than a watch of every pod: the node pool
//! already keeps one, and a second full pod cache would double the process's largest one.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::proxy::{CONFIG_PATH, cluster_ip, protocol, ready_endpoints, service_type};
use crate::network::plane::{UnitFile, UnitKey, UnitSpec};

/// Docker's embedded DNS server, which every container on a user-defined network reaches
/// and which forwards to the host's resolvers.
pub(crate) const UPSTREAM: &str = "127.0.0.11";

/// The label EndpointSlices name their Service with.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The Service an EndpointSlice belongs to, `(namespace, name)`.
pub(crate) fn slice_service(slice: &EndpointSlice) -> Option<(&str, &str)> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some((slice.metadata.namespace.as_deref()?, name.as_str()))
}

/// EndpointSlices by their Service, so a render looks each Service's up once.
pub(crate) struct SliceIndex(HashMap<(String, String), Vec<Arc<EndpointSlice>>>);

impl SliceIndex {
    /// Indexes `slices` by the Service they belong to.
    pub(crate) fn new(slices: &[Arc<EndpointSlice>]) -> Self {
        let mut index: HashMap<(String, String), Vec<Arc<EndpointSlice>>> = HashMap::new();
        for slice in slices {
            if let Some((namespace, name)) = slice_service(slice) {
                index
                    .entry((namespace.to_owned(), name.to_owned()))
                    .or_default()
                    .push(slice.clone());
            }
        }
        Self(index)
    }

    /// The slices of Service `namespace/name`.
    pub(crate) fn of(&self, namespace: &str, name: &str) -> &[Arc<EndpointSlice>] {
        self.0
            .get(&(namespace.to_owned(), name.to_owned()))
            .map_or(&[], Vec::as_slice)
    }
}

fn dashed(ip: Ipv4Addr) -> String {
    ip.to_string().replace('.', "-")
}

/// The DNS unit at `ip` for `services` and `slices`.
pub(crate) fn render(
    ip: Option<Ipv4Addr>,
    domain: &str,
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
) -> UnitSpec {
    UnitSpec {
        key: UnitKey::Dns,
        ip,
        publish: Vec::new(),
        files: vec![UnitFile {
            path: CONFIG_PATH.to_owned(),
            mode: 0o644,
            content: config(domain, services, slices).into_bytes(),
        }],
    }
}

/// The configuration text; records in a stable order (Services by namespace and name), so
/// an unchanged cluster renders the same bytes.
pub(crate) fn config(
    domain: &str,
    services: &[Arc<Service>],
    slices: &[Arc<EndpointSlice>],
) -> String {
    let mut out = format!("# kubarium dns v1\ndomain {domain}\nupstream {UPSTREAM}\nttl 5\n");
    let mut sorted: Vec<&Arc<Service>> = services.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    let index = SliceIndex::new(slices);
    for service in sorted {
        service_records(&mut out, domain, service, &index);
    }
    let mut pods = BTreeSet::new();
    for slice in slices.iter().filter(|s| s.address_type == "IPv4") {
        for endpoint in &slice.endpoints {
            let Some(target) = endpoint.target_ref.as_ref() else {
                continue;
            };
            if target.kind.as_deref() != Some("Pod") {
                continue;
            }
            let Some(namespace) = target
                .namespace
                .as_deref()
                .or(slice.metadata.namespace.as_deref())
            else {
                continue;
            };
            for address in &endpoint.addresses {
                if let Ok(ip) = address.parse::<Ipv4Addr>() {
                    pods.insert((namespace.to_owned(), ip));
                }
            }
        }
    }
    for (namespace, ip) in pods {
        let _ = writeln!(out, "a {}.{namespace}.pod.{domain} {ip}", dashed(ip));
    }
    out
}

fn service_records(out: &mut String, domain: &str, service: &Service, slices: &SliceIndex) {
    let (Some(namespace), Some(name)) = (
        service.metadata.namespace.as_deref(),
        service.metadata.name.as_deref(),
    ) else {
        return;
    };
    let Some(spec) = service.spec.as_ref() else {
        return;
    };
    let fqdn = format!("{name}.{namespace}.svc.{domain}");
    if service_type(service) == "ExternalName" {
        if let Some(target) = spec.external_name.as_deref().filter(|t| !t.is_empty()) {
            let _ = writeln!(out, "cname {fqdn} {}", target.trim_end_matches('.'));
        }
        return;
    }
    let own = slices.of(namespace, name);
    let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let ready = |endpoint: &k8s_openapi::api::discovery::v1::Endpoint| {
        publish_not_ready || endpoint.conditions.as_ref().and_then(|c| c.ready) != Some(false)
    };
    // (name of the endpoint under the Service, address), for hostnames and SRV targets.
    let mut members: BTreeSet<(String, Ipv4Addr)> = BTreeSet::new();
    for slice in own.iter().filter(|s| s.address_type == "IPv4") {
        for endpoint in slice.endpoints.iter().filter(|e| ready(e)) {
            for ip in endpoint.addresses.iter().filter_map(|a| a.parse().ok()) {
                match endpoint.hostname.as_deref() {
                    Some(hostname) if !hostname.is_empty() => {
                        members.insert((hostname.to_owned(), ip));
                    }
                    _ if headless => {
                        members.insert((dashed(ip), ip));
                    }
                    _ => {}
                }
            }
        }
    }
    // Members first: an address's PTR answers the first name given for it, and a StatefulSet
    // pod's own name is what CoreDNS answers for it.
    if cluster_ip(service).is_none() && !headless {
        return;
    }
    for (member, ip) in &members {
        let _ = writeln!(out, "a {member}.{fqdn} {ip}");
    }
    if let Some(ip) = cluster_ip(service) {
        let _ = writeln!(out, "a {fqdn} {ip}");
    } else {
        let addresses: BTreeSet<Ipv4Addr> = own
            .iter()
            .filter(|s| s.address_type == "IPv4")
            .flat_map(|s| s.endpoints.iter().filter(|e| ready(e)))
            .flat_map(|e| e.addresses.iter().filter_map(|a| a.parse().ok()))
            .collect();
        for ip in addresses {
            let _ = writeln!(out, "a {fqdn} {ip}");
        }
    }
    for port in spec.ports.iter().flatten() {
        let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        let Some(proto) = protocol(port.protocol.as_deref()) else {
            continue;
        };
        let proto = match proto {
            crate::network::plane::Protocol::Tcp => "tcp",
            crate::network::plane::Protocol::Udp => "udp",
        };
        let srv = format!("_{port_name}._{proto}.{fqdn}");
        if headless {
            // One record per endpoint, its own port and name, as CoreDNS answers.
            let endpoints = ready_endpoints(port, own, publish_not_ready);
            let targets: Vec<(String, u16)> = endpoints
                .iter()
                .filter_map(|(ip, target_port)| {
                    let (member, _) = members.iter().find(|(_, m)| m == ip)?;
                    Some((format!("{member}.{fqdn}"), *target_port))
                })
                .collect();
            let weight = 100 / targets.len().max(1);
            for (target, target_port) in targets {
                let _ = writeln!(out, "srv {srv} 0 {weight} {target_port} {target}");
            }
        } else {
            let _ = writeln!(out, "srv {srv} 0 100 {} {fqdn}", port.port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testing::{service, slice};

    #[test]
    fn services_headless_statefulset_external_name_srv_and_pods() {
        let services = [
            Arc::new(service(
                "default",
                "web",
                serde_json::json!({
                    "clusterIP": "10.96.0.20",
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"port": 81}]
                }),
            )),
            Arc::new(service(
                "default",
                "db",
                serde_json::json!({
                    "clusterIP": "None",
                    "ports": [{"name": "pg", "port": 5432}]
                }),
            )),
            Arc::new(service(
                "default",
                "warm",
                serde_json::json!({
                    "clusterIP": "None",
                    "publishNotReadyAddresses": true,
                    "ports": [{"port": 7000}]
                }),
            )),
            Arc::new(service(
                "default",
                "ext",
                serde_json::json!({"type": "ExternalName", "externalName": "db.example.com."}),
            )),
            Arc::new(service(
                "kube-system",
                "kube-dns",
                serde_json::json!({
                    "clusterIP": "10.96.0.10",
                    "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}]
                }),
            )),
        ];
        let pod =
            |name: &str| serde_json::json!({"kind": "Pod", "namespace": "default", "name": name});
        let slices = [
            slice(
                "default",
                "web",
                serde_json::json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
                serde_json::json!([
                    {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "targetRef": pod("web-a")},
                    {"addresses": ["10.244.1.6"], "conditions": {"ready": false}, "targetRef": pod("web-b")}
                ]),
            ),
            slice(
                "default",
                "db",
                serde_json::json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
                serde_json::json!([
                    {"addresses": ["10.244.2.7"], "hostname": "db-0", "conditions": {"ready": true}, "targetRef": pod("db-0")},
                    {"addresses": ["10.244.3.8"], "hostname": "db-1", "conditions": {"ready": true}, "targetRef": pod("db-1")},
                    {"addresses": ["10.244.3.9"], "hostname": "db-2", "conditions": {"ready": false}, "targetRef": pod("db-2")},
                    {"addresses": ["10.244.3.10"], "conditions": {"ready": true}, "targetRef": pod("db-x")}
                ]),
            ),
            slice(
                "default",
                "warm",
                serde_json::json!([{"port": 7000, "protocol": "TCP"}]),
                serde_json::json!([
                    {"addresses": ["10.244.4.2"], "hostname": "warm-0", "conditions": {"ready": true}},
                    {"addresses": ["10.244.4.3"], "hostname": "warm-1", "conditions": {"ready": false}}
                ]),
            ),
        ];
        insta::assert_snapshot!(config("cluster.local", &services, &slices), @"
        # kubarium dns v1
        domain cluster.local
        upstream 127.0.0.11
        ttl 5
        a 10-244-3-10.db.default.svc.cluster.local 10.244.3.10
        a db-0.db.default.svc.cluster.local 10.244.2.7
        a db-1.db.default.svc.cluster.local 10.244.3.8
        a db.default.svc.cluster.local 10.244.2.7
        a db.default.svc.cluster.local 10.244.3.8
        a db.default.svc.cluster.local 10.244.3.10
        srv _pg._tcp.db.default.svc.cluster.local 0 33 5432 db-0.db.default.svc.cluster.local
        srv _pg._tcp.db.default.svc.cluster.local 0 33 5432 db-1.db.default.svc.cluster.local
        srv _pg._tcp.db.default.svc.cluster.local 0 33 5432 10-244-3-10.db.default.svc.cluster.local
        cname ext.default.svc.cluster.local db.example.com
        a warm-0.warm.default.svc.cluster.local 10.244.4.2
        a warm-1.warm.default.svc.cluster.local 10.244.4.3
        a warm.default.svc.cluster.local 10.244.4.2
        a warm.default.svc.cluster.local 10.244.4.3
        a web.default.svc.cluster.local 10.96.0.20
        srv _http._tcp.web.default.svc.cluster.local 0 100 80 web.default.svc.cluster.local
        a kube-dns.kube-system.svc.cluster.local 10.96.0.10
        srv _dns._udp.kube-dns.kube-system.svc.cluster.local 0 100 53 kube-dns.kube-system.svc.cluster.local
        srv _dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local 0 100 53 kube-dns.kube-system.svc.cluster.local
        a 10-244-1-5.default.pod.cluster.local 10.244.1.5
        a 10-244-1-6.default.pod.cluster.local 10.244.1.6
        a 10-244-2-7.default.pod.cluster.local 10.244.2.7
        a 10-244-3-8.default.pod.cluster.local 10.244.3.8
        a 10-244-3-9.default.pod.cluster.local 10.244.3.9
        a 10-244-3-10.default.pod.cluster.local 10.244.3.10
        ");
    }

    #[test]
    fn the_unit_holds_the_dns_address() {
        let spec = render(
            Some(Ipv4Addr::new(172, 18, 128, 10)),
            "cluster.local",
            &[],
            &[],
        );
        assert_eq!(spec.key, UnitKey::Dns);
        assert_eq!(spec.ip, Some(Ipv4Addr::new(172, 18, 128, 10)));
        assert_eq!(spec.files[0].path, "etc/kubarium/config");
    }
}
