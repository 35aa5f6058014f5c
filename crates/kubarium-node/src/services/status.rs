//! What the controller reports: a LoadBalancer Service's and a served Ingress's
//! `status.loadBalancer` (127.0.0.1 with the published ports), and the events' reasons.
//!
//! Reasons are upstream's where upstream has one: the service controller's
//! `EnsuringLoadBalancer`, `EnsuredLoadBalancer` and `SyncLoadBalancerFailed`, ingress-nginx's
//! `Sync`. kube-proxy records no event when it cannot open a node port (it logs), so the
//! NodePort and ClusterIP failures have reasons of our own.

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, PortStatus, Service};
use k8s_openapi::api::networking::v1::{
    Ingress, IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressPortStatus,
};
use kubarium_controllers::objects::Objects;
use kube::Client;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::network::plane::{Applied, Protocol};
use crate::services::proxy::{protocol, service_type};
use crate::{Error, Result};

/// Normal: a LoadBalancer Service's unit is being made.
pub(crate) const ENSURING_LOAD_BALANCER: &str = "EnsuringLoadBalancer";
/// Normal: a LoadBalancer Service is published (also after a failure).
pub(crate) const ENSURED_LOAD_BALANCER: &str = "EnsuredLoadBalancer";
/// Warning: a LoadBalancer Service could not be published.
pub(crate) const SYNC_LOAD_BALANCER_FAILED: &str = "SyncLoadBalancerFailed";
/// Warning: a NodePort or ClusterIP Service's proxy could not be made.
pub(crate) const SYNC_PROXY_FAILED: &str = "SyncProxyFailed";
/// Normal: a NodePort or ClusterIP Service's proxy works again after a failure.
pub(crate) const SYNCED_PROXY: &str = "SyncedProxy";
/// Normal: an Ingress is served (ingress-nginx's reason and message).
pub(crate) const SYNC: &str = "Sync";
/// Warning: part of an Ingress cannot be served, or the controller cannot publish.
pub(crate) const SYNC_INGRESS_FAILED: &str = "SyncIngressFailed";

/// The address LoadBalancers and Ingresses are reached at.
const LOOPBACK: &str = "127.0.0.1";

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

/// A LoadBalancer Service's status once its ports are published: 127.0.0.1, `ipMode: VIP`
/// (traffic reaches the proxy with the address it was sent to), and each Service port.
pub(crate) fn load_balancer(service: &Service) -> LoadBalancerStatus {
    let ports = service
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| {
            Some(PortStatus {
                port: p.port,
                protocol: protocol_name(protocol(p.protocol.as_deref())?).to_owned(),
                error: None,
            })
        })
        .collect();
    LoadBalancerStatus {
        ingress: Some(vec![LoadBalancerIngress {
            ip: Some(LOOPBACK.to_owned()),
            ip_mode: Some("VIP".to_owned()),
            ports: Some(ports),
            hostname: None,
        }]),
    }
}

/// The status `service` should have: [`load_balancer`] for a LoadBalancer, nothing else.
pub(crate) fn wanted_service_status(service: &Service) -> LoadBalancerStatus {
    if service_type(service) == "LoadBalancer" {
        load_balancer(service)
    } else {
        LoadBalancerStatus::default()
    }
}

/// The status `service` has, with an empty list read as none.
pub(crate) fn current_service_status(service: &Service) -> LoadBalancerStatus {
    let mut status = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.clone())
        .unwrap_or_default();
    if status.ingress.as_ref().is_some_and(Vec::is_empty) {
        status.ingress = None;
    }
    status
}

/// A served Ingress's status: 127.0.0.1 with the host ports the ingress unit was given.
pub(crate) fn ingress(applied: &Applied) -> IngressLoadBalancerStatus {
    IngressLoadBalancerStatus {
        ingress: Some(vec![IngressLoadBalancerIngress {
            ip: Some(LOOPBACK.to_owned()),
            hostname: None,
            ports: Some(
                applied
                    .published
                    .iter()
                    .map(|p| IngressPortStatus {
                        port: i32::from(p.host),
                        protocol: protocol_name(p.protocol).to_owned(),
                        error: None,
                    })
                    .collect(),
            ),
        }]),
    }
}

/// The status an Ingress has.
pub(crate) fn current_ingress_status(ingress: &Ingress) -> IngressLoadBalancerStatus {
    let mut status = ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.clone())
        .unwrap_or_default();
    if status.ingress.as_ref().is_some_and(Vec::is_empty) {
        status.ingress = None;
    }
    status
}

/// Writes `status.loadBalancer` of Service `namespace/name`.
pub(crate) async fn patch_service(
    client: &Client,
    namespace: &str,
    name: &str,
    status: &LoadBalancerStatus,
) -> Result<()> {
    let api = Objects::<Service>::namespaced(client.clone(), namespace);
    // A merge patch replaces the list; `null` removes it when the Service is no longer one.
    let patch = json!({"status": {"loadBalancer": {"ingress": status.ingress}}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(Error::api(
            "patch status",
            format!("services/{name} in {namespace}"),
        ))?;
    Ok(())
}

/// Writes `status.loadBalancer` of Ingress `namespace/name`.
pub(crate) async fn patch_ingress(
    client: &Client,
    namespace: &str,
    name: &str,
    status: &IngressLoadBalancerStatus,
) -> Result<()> {
    let api = Objects::<Ingress>::namespaced(client.clone(), namespace);
    let patch = json!({"status": {"loadBalancer": {"ingress": status.ingress}}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(Error::api(
            "patch status",
            format!("ingresses/{name} in {namespace}"),
        ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::plane::PublishedPort;
    use crate::services::testing::service;

    #[test]
    fn load_balancer_status_lists_loopback_and_the_service_ports() {
        let svc = service(
            "default",
            "lb",
            serde_json::json!({
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.30",
                "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP", "nodePort": 30053}]
            }),
        );
        insta::assert_json_snapshot!(wanted_service_status(&svc), @r#"
        {
          "ingress": [
            {
              "ip": "127.0.0.1",
              "ipMode": "VIP",
              "ports": [
                {
                  "port": 80,
                  "protocol": "TCP"
                },
                {
                  "port": 53,
                  "protocol": "UDP"
                }
              ]
            }
          ]
        }
        "#);
        let cluster_ip = service(
            "default",
            "web",
            serde_json::json!({"clusterIP": "10.96.0.31", "ports": [{"port": 80}]}),
        );
        assert_eq!(
            wanted_service_status(&cluster_ip),
            LoadBalancerStatus::default()
        );
    }

    #[test]
    fn ingress_status_has_the_published_host_ports() {
        let applied = Applied {
            published: vec![
                PublishedPort {
                    host: 8080,
                    container: 80,
                    protocol: Protocol::Tcp,
                },
                PublishedPort {
                    host: 8443,
                    container: 443,
                    protocol: Protocol::Tcp,
                },
            ],
        };
        insta::assert_json_snapshot!(ingress(&applied), @r#"
        {
          "ingress": [
            {
              "ip": "127.0.0.1",
              "ports": [
                {
                  "port": 8080,
                  "protocol": "TCP"
                },
                {
                  "port": 8443,
                  "protocol": "TCP"
                }
              ]
            }
          ]
        }
        "#);
    }
}
