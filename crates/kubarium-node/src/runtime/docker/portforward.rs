//! `port_forward` for the Docker runtime: a TCP connection from this process to the
//! sandbox's address on the cluster's bridge network, which is the pod's network
//! namespace (its containers join the sandbox's), so it reaches whatever the pod listens
//! on at that port.
//!
//! This works where the bridge is routable from the host: Linux with a local engine. On
//! Docker Desktop (macOS, Windows) container addresses live inside its VM; there the
//! connection would have to be relayed from inside the sandbox instead (a `docker exec` of
//! a relay in the infra image, copying between its stdio and `localhost:<port>`, as the
//! dockershim did with `socat`). A host-network pod shares this host's namespace, so
//! `127.0.0.1` is its address.
//!
//! Unlike the kubelet, which dials `localhost` inside the namespace, this dials the pod's
//! address: a server bound to the pod's loopback only is not reachable.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bollard::query_parameters::ListContainersOptions;
use tokio::net::TcpStream;

use super::{DockerRuntime, pods, spec};
use crate::runtime::SandboxId;
use crate::{Error, Result};

impl DockerRuntime {
    /// The running sandbox of the pod with uid `uid`, if it has one.
    pub async fn pod_sandbox(&self, uid: &str) -> Result<Option<SandboxId>> {
        let docker = self.docker()?;
        let labels = vec![
            format!("{}={}", spec::CLUSTER_LABEL, self.inner.cluster),
            format!("{}={uid}", spec::POD_UID_LABEL),
            format!("{}={}", spec::CONTAINER_NAME_LABEL, spec::SANDBOX_CONTAINER),
        ];
        let options = ListContainersOptions {
            all: false,
            filters: Some(std::collections::HashMap::from([(
                "label".to_owned(),
                labels,
            )])),
            ..ListContainersOptions::default()
        };
        let sandboxes = docker
            .list_containers(Some(options))
            .await
            .map_err(|error| Error::Runtime {
                reason: format!("list the sandboxes of pod {uid}: {error}"),
            })?;
        Ok(sandboxes
            .into_iter()
            .find_map(|summary| summary.id)
            .map(SandboxId))
    }

    /// A connection to `port` in the sandbox's network namespace.
    pub(super) async fn connect(&self, sandbox: &SandboxId, port: u16) -> Result<TcpStream> {
        let inspect = self.inspect(&sandbox.0).await?;
        let running = inspect
            .state
            .as_ref()
            .and_then(|state| state.running)
            .unwrap_or(false);
        if !running {
            return Err(Error::Runtime {
                reason: format!("sandbox {} is not running", sandbox.0),
            });
        }
        let host_network = inspect
            .host_config
            .as_ref()
            .and_then(|config| config.network_mode.as_deref())
            == Some("host");
        let ip = if host_network {
            Ipv4Addr::LOCALHOST
        } else {
            pods::ip_on(&inspect, &self.inner.network).ok_or_else(|| Error::Runtime {
                reason: format!(
                    "sandbox {} has no address on network {}",
                    sandbox.0, self.inner.network
                ),
            })?
        };
        let address = SocketAddr::new(IpAddr::V4(ip), port);
        TcpStream::connect(address)
            .await
            .map_err(|error| Error::Runtime {
                reason: dial_error(address, &error),
            })
    }
}

/// A failed dial in Go's words ("dial tcp4 10.0.0.7:80: connect: connection refused"),
/// which is what kubectl users know from the kubelet.
fn dial_error(address: SocketAddr, error: &std::io::Error) -> String {
    let why = match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        std::io::ErrorKind::TimedOut => "connection timed out".to_owned(),
        std::io::ErrorKind::HostUnreachable => "no route to host".to_owned(),
        std::io::ErrorKind::NetworkUnreachable => "network is unreachable".to_owned(),
        _ => error.to_string(),
    };
    format!("dial tcp4 {address}: connect: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_errors_read_as_go_writes_them() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            dial_error("172.18.0.3:81".parse().unwrap(), &refused),
            "dial tcp4 172.18.0.3:81: connect: connection refused"
        );
    }
}
