//! The cluster's Docker network, pinned to a [`NetworkPlan`]: its subnet given explicitly
//! (so a sandbox restarted after a Docker restart can ask for its old address, and Kubarium
//! can hand out static ones) and `ip_range` = the plan's pod half, so Docker never gives a
//! sandbox an address of the service range or the last quarter.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::ListContainersOptions;

use super::{network_name, spec};
use crate::network::NetworkPlan;
use crate::{Error, Result};

/// How long [`settle`] waits for Docker before the recorded plan is used as it is.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to Docker, once, within [`CONNECT_TIMEOUT`].
async fn connect() -> std::result::Result<Docker, String> {
    let attempt = async {
        let docker = Docker::connect_with_local_defaults()?;
        docker.negotiate_version().await
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(error)) => Err(format!(
            "Docker is not reachable at {}: {error}",
            super::connection::address()
        )),
        Err(_) => Err(format!(
            "Docker is not reachable at {}: no answer within {}s",
            super::connection::address(),
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

/// Makes cluster `cluster`'s network exist as [`ensure`] does, on a connection of its own;
/// returns the plan it has, or why Docker could not be asked. A recorded plan whose subnet
/// can no longer be had (another network took it while the cluster was away) gives way to
/// one Docker chooses, with a warning: Services made before keep cluster IPs the new
/// network cannot reach.
pub(crate) async fn settle(
    cluster: &str,
    recorded: Option<NetworkPlan>,
) -> std::result::Result<NetworkPlan, String> {
    let docker = connect().await?;
    let name = network_name(cluster);
    match ensure(&docker, &name, cluster, recorded).await {
        Ok(Some(plan)) => Ok(plan),
        Ok(None) => Err(format!(
            "Docker gave network {name} a subnet too small to divide (longer than /{})",
            crate::network::MAX_PREFIX
        )),
        Err(error) if recorded.is_some() => {
            tracing::warn!(%error, network = %name, "the recorded subnet could not be had; letting Docker choose another: Services made before keep cluster IPs the new network cannot reach, so make them again");
            match ensure(&docker, &name, cluster, None).await {
                Ok(Some(plan)) => Ok(plan),
                Ok(None) => Err(format!("network {name} has no usable subnet")),
                Err(error) => Err(error.to_string()),
            }
        }
        Err(error) => Err(error.to_string()),
    }
}

fn docker_error(what: impl std::fmt::Display, error: bollard::errors::Error) -> Error {
    Error::Runtime {
        reason: format!("{what}: {error}"),
    }
}

fn is_status(error: &bollard::errors::Error, code: u16) -> bool {
    matches!(error, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == code)
}

/// The create request of the network, pinned to `plan` when there is one.
fn create_request(name: &str, cluster: &str, plan: Option<&NetworkPlan>) -> NetworkCreateRequest {
    let ipam = plan.map(|plan| {
        let (base, prefix) = plan.subnet();
        let (pods, pods_prefix) = plan.pod_range();
        Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(format!("{base}/{prefix}")),
                ip_range: Some(format!("{pods}/{pods_prefix}")),
                gateway: Some(plan.gateway().to_string()),
                ..IpamConfig::default()
            }]),
            ..Ipam::default()
        }
    });
    NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".to_owned()),
        labels: Some(HashMap::from([(
            spec::CLUSTER_LABEL.to_owned(),
            cluster.to_owned(),
        )])),
        ipam,
        ..NetworkCreateRequest::default()
    }
}

/// What an existing network is: its plan (from its subnet), and whether it is pinned
/// (`ip_range` = the pod half).
fn existing_plan(config: Option<&IpamConfig>) -> (Option<NetworkPlan>, bool) {
    let plan = config
        .and_then(|c| c.subnet.as_deref())
        .and_then(NetworkPlan::parse);
    let pinned = plan.is_some_and(|plan| {
        let (pods, prefix) = plan.pod_range();
        config.and_then(|c| c.ip_range.as_deref()) == Some(format!("{pods}/{prefix}").as_str())
    });
    (plan, pinned)
}

/// Makes network `name` of cluster `cluster` exist, pinned: `plan`'s subnet when given, else
/// one Docker chooses (created once to learn it, then made again pinned). An existing network
/// is kept when pinned; one made without `ip_range` (older Kubarium) is made again pinned when
/// no container of the cluster exists, else kept as it is. A network of that name that is not
/// the cluster's is an error. Returns the plan the network has (`None`: its subnet is too
/// small to divide, and it is used as it is).
pub(crate) async fn ensure(
    docker: &Docker,
    name: &str,
    cluster: &str,
    plan: Option<NetworkPlan>,
) -> Result<Option<NetworkPlan>> {
    match docker.inspect_network(name, None).await {
        Ok(network) => {
            let ours = network
                .labels
                .as_ref()
                .and_then(|labels| labels.get(spec::CLUSTER_LABEL))
                .is_some_and(|label| label == cluster);
            if !ours {
                return Err(Error::Runtime {
                    reason: format!(
                        "Docker network {name} exists but is not this cluster's (it has no {}={cluster} label); remove it with `docker network rm {name}`",
                        spec::CLUSTER_LABEL
                    ),
                });
            }
            let config = network.ipam.as_ref().and_then(|ipam| ipam.config.as_ref());
            let (existing, pinned) = existing_plan(config.and_then(|c| c.first()));
            if pinned {
                return Ok(existing);
            }
            let attached = network.containers.as_ref().is_some_and(|c| !c.is_empty());
            if attached || has_containers(docker, cluster).await? {
                tracing::warn!(network = %name, subnet = ?existing.map(|p| p.to_string()), "the cluster network was made by an older Kubarium without a pod range and containers use it: it is kept, so a pod could get an address Kubarium gives out; it is made again once the cluster's containers are gone (e.g. after `kubariumd delete`)");
                return Ok(existing);
            }
            docker
                .remove_network(name)
                .await
                .map_err(|error| docker_error(format!("remove network {name}"), error))?;
            let plan = plan.or(existing);
            create(docker, name, cluster, plan).await
        }
        Err(error) if is_status(&error, 404) => create(docker, name, cluster, plan).await,
        Err(error) => Err(docker_error(format!("inspect network {name}"), error)),
    }
}

/// Whether any container (running or not) carries the cluster's label.
async fn has_containers(docker: &Docker, cluster: &str) -> Result<bool> {
    let options = ListContainersOptions {
        all: true,
        limit: Some(1),
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![format!("{}={cluster}", spec::CLUSTER_LABEL)],
        )])),
        ..ListContainersOptions::default()
    };
    let found = docker
        .list_containers(Some(options))
        .await
        .map_err(|error| docker_error("list containers", error))?;
    Ok(!found.is_empty())
}

async fn create(
    docker: &Docker,
    name: &str,
    cluster: &str,
    plan: Option<NetworkPlan>,
) -> Result<Option<NetworkPlan>> {
    if let Some(plan) = plan {
        return match docker
            .create_network(create_request(name, cluster, Some(&plan)))
            .await
        {
            Ok(_) => {
                tracing::info!(network = %name, subnet = %plan, "created the cluster's Docker network");
                Ok(Some(plan))
            }
            // Made meanwhile by another runtime of the same cluster.
            Err(error) if is_status(&error, 409) => {
                Box::pin(ensure(docker, name, cluster, Some(plan))).await
            }
            Err(error) => Err(docker_error(
                format!("create network {name} with subnet {plan}"),
                error,
            )),
        };
    }
    match docker
        .create_network(create_request(name, cluster, None))
        .await
    {
        Ok(_) => {}
        Err(error) if is_status(&error, 409) => {}
        Err(error) => return Err(docker_error(format!("create network {name}"), error)),
    }
    // Docker chose a free subnet: made again pinned to it.
    let chosen = docker
        .inspect_network(name, None)
        .await
        .map_err(|error| docker_error(format!("inspect network {name}"), error))?
        .ipam
        .and_then(|ipam| ipam.config?.into_iter().next())
        .and_then(|config| NetworkPlan::parse(config.subnet.as_deref()?));
    let Some(plan) = chosen else {
        return Ok(None);
    };
    docker
        .remove_network(name)
        .await
        .map_err(|error| docker_error(format!("remove network {name}"), error))?;
    Box::pin(create(docker, name, cluster, Some(plan))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_network_asks_for_the_pod_half() {
        let plan = NetworkPlan::parse("172.20.0.0/16").unwrap();
        let request = create_request("kubarium-abc", "abc", Some(&plan));
        let config = &request.ipam.unwrap().config.unwrap()[0];
        assert_eq!(config.subnet.as_deref(), Some("172.20.0.0/16"));
        assert_eq!(config.ip_range.as_deref(), Some("172.20.0.0/17"));
        assert_eq!(config.gateway.as_deref(), Some("172.20.0.1"));
        assert_eq!(
            existing_plan(Some(config)),
            (Some(plan), true),
            "a network made so is recognised as pinned"
        );
        let old = IpamConfig {
            subnet: Some("172.20.0.0/16".to_owned()),
            gateway: Some("172.20.0.1".to_owned()),
            ..IpamConfig::default()
        };
        assert_eq!(existing_plan(Some(&old)), (Some(plan), false));
        assert_eq!(existing_plan(None), (None, false));
        assert!(create_request("n", "c", None).ipam.is_none());
    }
}
