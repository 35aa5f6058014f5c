//! Services: defaults, validation and the `kubectl get services` row; the allocation of
//! cluster IPs and node ports is [`allocation`]'s.

mod allocation;

use std::collections::HashSet;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

pub use allocation::ServiceRange;
pub(crate) use allocation::{allocate, drop_type_dependent, keep_allocation};
use allocation::{externally_accessible, has_health_check};

use crate::registry::table::{AGE, NAME, col, wide};
use crate::registry::{Column, Kind, age, table_or_none};
use crate::validation::{Causes, NameRule};

/// The node port range, as upstream's default `--service-node-port-range`.
pub(crate) const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;
const OUT_OF_RANGE: &str =
    "provided port is not in the valid range. The range of valid ports is 30000-32767";
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
            // The name may end in a dot, as a fully qualified one does.
            match spec
                .external_name
                .as_deref()
                .map(|n| n.trim_end_matches('.'))
            {
                Some(name) if !name.is_empty() => {
                    causes.name("spec.externalName", name, NameRule::Subdomain);
                }
                _ => causes.required("spec.externalName", ""),
            }
            let unset = |list: &Option<Vec<String>>| list.as_ref().is_none_or(Vec::is_empty);
            let external = "may not be set for ExternalName services";
            if !unset(&spec.cluster_ips)
                || spec.cluster_ip.as_deref().is_some_and(|ip| !ip.is_empty())
            {
                causes.forbidden("spec.clusterIPs", external);
            }
            if !unset(&spec.ip_families) {
                causes.forbidden("spec.ipFamilies", external);
            }
            if spec.ip_family_policy.is_some() {
                causes.forbidden("spec.ipFamilyPolicy", external);
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
                    causes.invalid(&format!("{at}.nodePort"), node_port, OUT_OF_RANGE);
                }
            }
        }
        if let Some(port) = spec.health_check_node_port.filter(|p| *p != 0) {
            if !has_health_check(kind, spec.external_traffic_policy.as_deref()) {
                causes.invalid(
                    "spec.healthCheckNodePort",
                    port,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                );
            } else if !NODE_PORTS.contains(&port) {
                causes.invalid("spec.healthCheckNodePort", port, OUT_OF_RANGE);
            }
        }
        let external_ips = spec
            .external_ips
            .as_ref()
            .is_some_and(|ips| !ips.is_empty());
        if let Some(policy) = spec
            .external_traffic_policy
            .as_deref()
            .filter(|p| !p.is_empty())
            && !externally_accessible(kind, external_ips)
        {
            causes.invalid(
                "spec.externalTrafficPolicy",
                policy,
                "may only be set for externally-accessible services",
            );
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

    /// The first cause of a 422, as `field: message`.
    fn cause(status: &Value) -> String {
        let cause = &status["details"]["causes"][0];
        format!(
            "{}: {}",
            cause["field"].as_str().unwrap_or_default(),
            cause["message"].as_str().unwrap_or_default()
        )
    }

    #[tokio::test]
    async fn a_change_of_type_drops_what_the_new_type_has_no_use_for() {
        let server = shop().await;
        let (code, created) = call(&server, "POST", SERVICES, web("LoadBalancer")).await;
        assert_eq!(code, 201, "{created}");
        let spec = &created["spec"];
        let ip = spec["clusterIP"].clone();
        let node_port = spec["ports"][0]["nodePort"].clone();
        assert!(node_port.is_i64(), "{created}");
        assert_eq!(spec["externalTrafficPolicy"], "Cluster");
        assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
        let uri = format!("{SERVICES}/web");

        // Back inside the cluster: the node port and what only outside traffic uses go, the
        // cluster IP stays, and the node port is free for another service.
        let patch = json!({"spec": {"type": "ClusterIP"}});
        let (code, inside) = call(&server, "PATCH", &uri, patch).await;
        assert_eq!(code, 200, "{inside}");
        let spec = &inside["spec"];
        assert_eq!(spec["clusterIP"], ip);
        for gone in [
            &spec["ports"][0]["nodePort"],
            &spec["externalTrafficPolicy"],
            &spec["allocateLoadBalancerNodePorts"],
        ] {
            assert!(gone.is_null(), "{inside}");
        }
        let mut other = web("NodePort");
        other["metadata"]["name"] = json!("api");
        other["spec"]["ports"][0]["nodePort"] = node_port.clone();
        let (code, taken) = call(&server, "POST", SERVICES, other).await;
        assert_eq!(code, 201, "{taken}");

        // A name in DNS: the cluster IP and its families go, and the address is free again.
        let patch = json!({"spec": {"type": "ExternalName", "externalName": "db.example.com."}});
        let (code, external) = call(&server, "PATCH", &uri, patch).await;
        assert_eq!(code, 200, "{external}");
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            assert!(
                external["spec"].get(field).is_none(),
                "{field} in {external}"
            );
        }
        let mut other = web("ClusterIP");
        other["metadata"]["name"] = json!("db");
        other["spec"]["clusterIP"] = ip;
        let (code, reused) = call(&server, "POST", SERVICES, other).await;
        assert_eq!(code, 201, "{reused}");

        // What the same update changes is the client's to answer for.
        let patch =
            json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30999}]}});
        let (code, refused) = call(&server, "PATCH", &format!("{SERVICES}/api"), patch).await;
        assert_eq!(code, 422, "{refused}");
        assert_eq!(
            cause(&refused),
            "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
        );
    }

    #[tokio::test]
    async fn fields_of_other_types_are_refused_by_name() {
        let server = shop().await;
        let mut external = web("ExternalName");
        external["spec"]["externalName"] = json!("db.example.com");
        external["spec"]["clusterIP"] = json!("10.96.5.5");
        let (code, refused) = call(&server, "POST", SERVICES, external.clone()).await;
        assert_eq!(code, 422, "{refused}");
        assert_eq!(
            cause(&refused),
            "spec.clusterIPs: Forbidden: may not be set for ExternalName services"
        );

        external["spec"]["clusterIP"] = json!(null);
        external["spec"]["externalName"] = json!("not a name");
        let (code, refused) = call(&server, "POST", SERVICES, external).await;
        assert_eq!(code, 422, "{refused}");
        assert!(
            cause(&refused).starts_with("spec.externalName: Invalid value: \"not a name\""),
            "{refused}"
        );

        let mut inside = web("ClusterIP");
        inside["spec"]["externalTrafficPolicy"] = json!("Local");
        let (code, refused) = call(&server, "POST", SERVICES, inside.clone()).await;
        assert_eq!(code, 422, "{refused}");
        assert_eq!(
            cause(&refused),
            "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"
        );
        inside["spec"]["externalIPs"] = json!(["192.0.2.10"]);
        let (code, created) = call(&server, "POST", SERVICES, inside).await;
        assert_eq!(code, 201, "{created}");
    }

    #[tokio::test]
    async fn a_local_load_balancer_gets_a_health_check_node_port() {
        let server = shop().await;
        let mut local = web("LoadBalancer");
        local["spec"]["externalTrafficPolicy"] = json!("Local");
        let (code, created) = call(&server, "POST", SERVICES, local).await;
        assert_eq!(code, 201, "{created}");
        let port = created["spec"]["healthCheckNodePort"].clone();
        let number = i32::try_from(port.as_i64().unwrap()).unwrap();
        assert!(NODE_PORTS.contains(&number), "{created}");
        assert_ne!(port, created["spec"]["ports"][0]["nodePort"]);

        // Kept by an update that leaves it out, taken from other services, dropped with the
        // policy that needed it.
        let uri = format!("{SERVICES}/web");
        let patch = json!({"spec": {"healthCheckNodePort": null, "sessionAffinity": "ClientIP"}});
        let (code, kept) = call(&server, "PATCH", &uri, patch).await;
        assert_eq!(code, 200, "{kept}");
        assert_eq!(kept["spec"]["healthCheckNodePort"], port);
        let mut other = web("NodePort");
        other["metadata"]["name"] = json!("api");
        other["spec"]["ports"][0]["nodePort"] = port.clone();
        let (code, refused) = call(&server, "POST", SERVICES, other).await;
        assert_eq!(code, 422, "{refused}");
        let patch = json!({"spec": {"externalTrafficPolicy": "Cluster"}});
        let (code, cluster) = call(&server, "PATCH", &uri, patch).await;
        assert_eq!(code, 200, "{cluster}");
        assert!(
            cluster["spec"].get("healthCheckNodePort").is_none(),
            "{cluster}"
        );

        let mut inside = web("ClusterIP");
        inside["metadata"]["name"] = json!("db");
        inside["spec"]["healthCheckNodePort"] = json!(31000);
        let (code, refused) = call(&server, "POST", SERVICES, inside).await;
        assert_eq!(code, 422, "{refused}");
        assert_eq!(
            cause(&refused),
            "spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
        );
    }
}
