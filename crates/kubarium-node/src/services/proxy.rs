//! A Service's proxy unit, as kube-proxy would program it: pure functions from the Service
//! and its EndpointSlices to the `kubarium-infra proxy` configuration (the contract's
//! `# kubarium proxy v1` format) and the ports it publishes on 127.0.0.1.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::network::plane::{Protocol, PublishedPort, UnitFile, UnitKey, UnitSpec};

/// Where every unit reads its configuration, relative to `/`.
pub(crate) const CONFIG_PATH: &str = "etc/kubarium/config";

/// kube-proxy's default ClientIP affinity timeout (3 hours).
const DEFAULT_AFFINITY_SECONDS: i32 = 10800;

/// The unit that proxies `service`.
pub(crate) fn unit_key(service: &Service) -> UnitKey {
    UnitKey::Service {
        namespace: service.metadata.namespace.clone().unwrap_or_default(),
        name: service.metadata.name.clone().unwrap_or_default(),
        uid: service.metadata.uid.clone().unwrap_or_default(),
    }
}

/// The Service's type, `ClusterIP` when unset.
pub(crate) fn service_type(service: &Service) -> &str {
    service
        .spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("ClusterIP")
}

/// The Service's cluster IP, if it has one (not headless, not ExternalName).
pub(crate) fn cluster_ip(service: &Service) -> Option<Ipv4Addr> {
    if service_type(service) == "ExternalName" {
        return None;
    }
    service.spec.as_ref()?.cluster_ip.as_deref()?.parse().ok()
}

/// Whether `service` gets a proxy unit: it has a cluster IP and is not `kube-system/kube-dns`,
/// whose address the DNS unit holds.
pub(crate) fn has_proxy(service: &Service) -> bool {
    let kube_dns = service.metadata.namespace.as_deref() == Some("kube-system")
        && service.metadata.name.as_deref() == Some("kube-dns");
    !kube_dns && cluster_ip(service).is_some()
}

/// `TCP` or `UDP`; `None` for what the proxy cannot carry (SCTP).
pub(crate) fn protocol(name: Option<&str>) -> Option<Protocol> {
    match name.unwrap_or("TCP") {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        _ => None,
    }
}

fn protocol_word(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// Whether the Service publishes node ports (NodePort and LoadBalancer).
fn publishes_node_ports(service: &Service) -> bool {
    matches!(service_type(service), "NodePort" | "LoadBalancer")
}

/// The ready endpoints of service port `port` in `slices`, as `ip:port`, sorted: endpoints
/// whose `ready` condition is not false, with the slice port of the same name and protocol
/// (the endpoints controller resolved target ports, named ones included).
pub(crate) fn ready_endpoints(
    port: &ServicePort,
    slices: &[Arc<EndpointSlice>],
    include_not_ready: bool,
) -> Vec<(Ipv4Addr, u16)> {
    let name = port.name.as_deref().unwrap_or("");
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    let mut found = BTreeSet::new();
    for slice in slices.iter().filter(|s| s.address_type == "IPv4") {
        let Some(target) = slice.ports.iter().flatten().find(|p| {
            p.name.as_deref().unwrap_or("") == name
                && p.protocol.as_deref().unwrap_or("TCP") == protocol
        }) else {
            continue;
        };
        let Some(target) = target.port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        for endpoint in &slice.endpoints {
            let ready = endpoint.conditions.as_ref().and_then(|c| c.ready) != Some(false);
            if !(ready || include_not_ready) {
                continue;
            }
            for address in &endpoint.addresses {
                if let Ok(ip) = address.parse::<Ipv4Addr>() {
                    found.insert((ip, target));
                }
            }
        }
    }
    found.into_iter().collect()
}

/// The proxy unit of `service` given its EndpointSlices; `None` when it gets none (see
/// [`has_proxy`]).
pub(crate) fn render(service: &Service, slices: &[Arc<EndpointSlice>]) -> Option<UnitSpec> {
    if !has_proxy(service) {
        return None;
    }
    let spec = service.spec.as_ref()?;
    let mut config = String::from("# kubarium proxy v1\n");
    if spec.session_affinity.as_deref() == Some("ClientIP") {
        let timeout = spec
            .session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .unwrap_or(DEFAULT_AFFINITY_SECONDS);
        let _ = writeln!(config, "affinity {timeout}");
    }
    let node_ports = publishes_node_ports(service);
    let load_balancer = service_type(service) == "LoadBalancer";
    let mut publish = Vec::new();
    for port in spec.ports.iter().flatten() {
        let Some(protocol) = protocol(port.protocol.as_deref()) else {
            let _ = writeln!(
                config,
                "# port {} ({}) skipped: only TCP and UDP are proxied",
                port.port,
                port.protocol.as_deref().unwrap_or_default()
            );
            continue;
        };
        let Ok(service_port) = u16::try_from(port.port) else {
            continue;
        };
        let mut listen = vec![service_port];
        let node_port = port
            .node_port
            .filter(|_| node_ports)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        if let Some(node_port) = node_port {
            if node_port != service_port {
                listen.push(node_port);
            }
            publish.push(PublishedPort {
                host: node_port,
                container: node_port,
                protocol,
            });
        }
        if load_balancer {
            publish.push(PublishedPort {
                host: service_port,
                container: service_port,
                protocol,
            });
        }
        let _ = write!(config, "{}", protocol_word(protocol));
        for port in listen {
            let _ = write!(config, " {port}");
        }
        config.push_str(" ->");
        for (ip, port) in ready_endpoints(port, slices, false) {
            let _ = write!(config, " {ip}:{port}");
        }
        config.push('\n');
    }
    Some(UnitSpec {
        key: unit_key(service),
        ip: cluster_ip(service),
        publish,
        files: vec![UnitFile {
            path: CONFIG_PATH.to_owned(),
            mode: 0o644,
            content: config.into_bytes(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testing::{service, slice};

    fn config(spec: &UnitSpec) -> String {
        String::from_utf8(spec.files[0].content.clone()).unwrap()
    }

    #[test]
    fn cluster_ip_service_with_ready_and_unready_endpoints_and_named_target_ports() {
        let svc = service(
            "default",
            "web",
            serde_json::json!({
                "clusterIP": "10.96.0.20",
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "web"},
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}
                ]
            }),
        );
        let slices = [slice(
            "default",
            "web",
            serde_json::json!([
                {"name": "http", "port": 8080, "protocol": "TCP"},
                {"name": "dns", "port": 5353, "protocol": "UDP"}
            ]),
            serde_json::json!([
                {"addresses": ["10.244.1.6"], "conditions": {"ready": true}},
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true}},
                {"addresses": ["10.244.2.9"], "conditions": {"ready": false, "serving": true}}
            ]),
        )];
        let spec = render(&svc, &slices).unwrap();
        assert_eq!(spec.ip, Some(Ipv4Addr::new(10, 96, 0, 20)));
        assert!(spec.publish.is_empty());
        insta::assert_snapshot!(config(&spec), @r"
        # kubarium proxy v1
        tcp 80 -> 10.244.1.5:8080 10.244.1.6:8080
        udp 53 -> 10.244.1.5:5353 10.244.1.6:5353
        ");
    }

    #[test]
    fn node_port_and_load_balancer_publish_their_ports() {
        let node_port = service(
            "default",
            "np",
            serde_json::json!({
                "type": "NodePort",
                "clusterIP": "10.96.0.21",
                "ports": [{"port": 80, "nodePort": 30080}]
            }),
        );
        let spec = render(&node_port, &[]).unwrap();
        insta::assert_snapshot!(config(&spec), @r"
        # kubarium proxy v1
        tcp 80 30080 ->
        ");
        assert_eq!(
            spec.publish,
            [PublishedPort {
                host: 30080,
                container: 30080,
                protocol: Protocol::Tcp
            }]
        );

        let load_balancer = service(
            "default",
            "lb",
            serde_json::json!({
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.22",
                "sessionAffinity": "ClientIP",
                "ports": [
                    {"name": "http", "port": 8080, "nodePort": 31080},
                    {"name": "echo", "port": 7, "protocol": "UDP", "nodePort": 31007}
                ]
            }),
        );
        let spec = render(&load_balancer, &[]).unwrap();
        insta::assert_snapshot!(config(&spec), @r"
        # kubarium proxy v1
        affinity 10800
        tcp 8080 31080 ->
        udp 7 31007 ->
        ");
        insta::assert_debug_snapshot!(spec.publish, @r"
        [
            PublishedPort {
                host: 31080,
                container: 31080,
                protocol: Tcp,
            },
            PublishedPort {
                host: 8080,
                container: 8080,
                protocol: Tcp,
            },
            PublishedPort {
                host: 31007,
                container: 31007,
                protocol: Udp,
            },
            PublishedPort {
                host: 7,
                container: 7,
                protocol: Udp,
            },
        ]
        ");
    }

    #[test]
    fn client_ip_affinity_with_its_timeout() {
        let svc = service(
            "default",
            "sticky",
            serde_json::json!({
                "clusterIP": "10.96.0.23",
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                "ports": [{"port": 80}]
            }),
        );
        insta::assert_snapshot!(config(&render(&svc, &[]).unwrap()), @r"
        # kubarium proxy v1
        affinity 60
        tcp 80 ->
        ");
    }

    #[test]
    fn headless_external_name_and_kube_dns_get_no_proxy() {
        let headless = service(
            "default",
            "db",
            serde_json::json!({"clusterIP": "None", "ports": [{"port": 5432}]}),
        );
        let external = service(
            "default",
            "ext",
            serde_json::json!({"type": "ExternalName", "externalName": "example.com"}),
        );
        let dns = service(
            "kube-system",
            "kube-dns",
            serde_json::json!({"clusterIP": "10.96.0.10", "ports": [{"port": 53}]}),
        );
        assert!(render(&headless, &[]).is_none());
        assert!(render(&external, &[]).is_none());
        assert!(render(&dns, &[]).is_none());
    }
}
