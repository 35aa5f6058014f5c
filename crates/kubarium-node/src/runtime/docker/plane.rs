//! [`DockerPlane`]: the service data plane as infra containers on the cluster network, one per
//! unit (`kubarium-infra proxy | dns | ingress`), each with its static address, its ports
//! published on 127.0.0.1, and its configuration files copied in.
//!
//! A unit's container is named after the unit and the cluster (names are global in Docker)
//! and labelled with the cluster id (so `delete_cluster` removes it with the pods) and the
//! unit (so [`DataPlane::units`] finds it after a restart). Its address and published ports
//! as asked are kept in a label too: an `apply` that asks for the same ones updates the files
//! in place — a tar uploaded to `/`, then `SIGHUP` — and leaves connections open; one that
//! asks for others replaces the container. The restart policy is `no`: after a Docker restart
//! the services controller applies its units again and they are made anew.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, EndpointIpamConfig, EndpointSettings,
    HostConfig, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, UploadToContainerOptions,
};

use super::images::{self, TarWriter};
use super::{DockerRuntime, spec};
use crate::network::plane::{
    Applied, DataPlane, PlaneError, Protocol, PublishedPort, UnitFile, UnitKey, UnitSpec,
};
use crate::runtime::BoxFuture;
use crate::{Error, Result};

/// Label: which unit of the data plane a container is (`service`, `dns`, `ingress`).
pub(crate) const UNIT_LABEL: &str = "kubarium.dev/unit";
/// Label: the namespace of a proxy unit's Service.
pub(crate) const SERVICE_NAMESPACE_LABEL: &str = "kubarium.dev/service-namespace";
/// Label: the name of a proxy unit's Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubarium.dev/service-name";
/// Label: the uid of a proxy unit's Service.
pub(crate) const SERVICE_UID_LABEL: &str = "kubarium.dev/service-uid";
/// Label: the address and published ports the container was made with ([`shape`]).
pub(crate) const SHAPE_LABEL: &str = "kubarium.dev/unit-shape";
/// Where the infra binary is in the infra image.
const BINARY: &str = "/kubarium-infra";
/// Tells a proxy unit to forward in the kernel too (nftables DNAT in its own network
/// namespace); only the container made by [`unit_body`] has what that needs.
const PROXY_NAT_ENV: &str = "KUBARIUM_PROXY_NAT=1";

/// The service data plane on Docker. Cheap to clone; made by [`DockerRuntime::data_plane`].
#[derive(Clone)]
pub struct DockerPlane {
    runtime: DockerRuntime,
    command: Option<Vec<String>>,
}

impl std::fmt::Debug for DockerPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerPlane")
            .field("cluster", &self.runtime.inner.cluster)
            .field("command", &self.command)
            .finish()
    }
}

impl DockerRuntime {
    /// The service data plane of this runtime's cluster, on its network.
    pub fn data_plane(&self) -> DockerPlane {
        DockerPlane {
            runtime: self.clone(),
            command: None,
        }
    }
}

impl DockerPlane {
    /// Runs `command` (e.g. `["/kubarium-infra", "serve"]`) in every unit instead of the
    /// unit's own mode. For tests of the plane's mechanics.
    #[must_use]
    pub fn with_command(mut self, command: Vec<String>) -> Self {
        self.command = Some(command);
        self
    }

    /// `true` while Docker is reachable. Units do not restart with Docker (restart policy
    /// `no`): when this turns `true` again, applying every unit makes the stopped ones anew.
    pub fn watch_ready(&self) -> tokio::sync::watch::Receiver<bool> {
        self.runtime.watch_ready()
    }

    /// The Docker container name of unit `key` (global in Docker, so it holds the cluster id).
    pub fn container_name(&self, key: &UnitKey) -> String {
        container_name(&self.runtime.inner.cluster, key)
    }

    async fn apply_unit(&self, spec: UnitSpec) -> std::result::Result<Applied, PlaneError> {
        let docker = self.runtime.docker().map_err(unavailable)?;
        let image = self
            .runtime
            .ensure_infra(&docker)
            .await
            .map_err(unavailable)?;
        let name = self.container_name(&spec.key);
        let wanted = shape(&spec);
        let tar = files_tar(&spec.files);
        if let Some(existing) = self
            .runtime
            .inspect_found(&name)
            .await
            .map_err(unavailable)?
        {
            let id = existing.id.clone().unwrap_or_else(|| name.clone());
            let same = labels(&existing).get(SHAPE_LABEL) == Some(&wanted);
            let running = existing
                .state
                .as_ref()
                .and_then(|s| s.running)
                .unwrap_or(false);
            if same && running {
                match update(&docker, &id, tar.clone()).await {
                    Ok(()) => {
                        return Ok(Applied {
                            published: published(&existing, &spec.publish),
                        });
                    }
                    Err(error) => {
                        tracing::debug!(%error, unit = %name, "could not update the unit in place; replacing it");
                    }
                }
            }
            self.runtime
                .force_remove(&docker, &id)
                .await
                .map_err(unavailable)?;
        }
        let command = self
            .command
            .clone()
            .unwrap_or_else(|| vec![BINARY.to_owned(), mode(&spec.key).to_owned()]);
        let body = unit_body(
            &self.runtime.inner.cluster,
            &self.runtime.inner.network,
            &image,
            command,
            &spec,
        );
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..CreateContainerOptions::default()
        };
        let created = docker
            .create_container(Some(options), body)
            .await
            .map_err(|error| classify(&error, &spec))?;
        let id = created.id;
        let started = async {
            if let Some(tar) = tar {
                upload(&docker, &id, tar).await?;
            }
            docker.start_container(&id, None).await?;
            docker.inspect_container(&id, None).await
        };
        match started.await {
            Ok(inspect) => Ok(Applied {
                published: published(&inspect, &spec.publish),
            }),
            Err(error) => {
                let _ = self.runtime.force_remove(&docker, &id).await;
                Err(classify(&error, &spec))
            }
        }
    }

    async fn remove_unit(&self, key: UnitKey) -> Result<()> {
        let docker = self.runtime.docker()?;
        let name = self.container_name(&key);
        if let Some(existing) = self.runtime.inspect_found(&name).await? {
            let id = existing.id.unwrap_or(name);
            self.runtime.force_remove(&docker, &id).await?;
        }
        Ok(())
    }

    async fn list_units(&self) -> Result<Vec<UnitKey>> {
        let docker = self.runtime.docker()?;
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![
                    format!("{}={}", spec::CLUSTER_LABEL, self.runtime.inner.cluster),
                    UNIT_LABEL.to_owned(),
                ],
            )])),
            ..ListContainersOptions::default()
        };
        let found = docker
            .list_containers(Some(options))
            .await
            .map_err(|error| Error::Runtime {
                reason: format!("list the data plane's containers: {error}"),
            })?;
        let mut keys: Vec<UnitKey> = found
            .into_iter()
            .filter_map(|summary| key_from_labels(&summary.labels?))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

impl DataPlane for DockerPlane {
    fn apply(&self, spec: UnitSpec) -> BoxFuture<'_, std::result::Result<Applied, PlaneError>> {
        Box::pin(self.apply_unit(spec))
    }

    fn remove(&self, key: UnitKey) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.remove_unit(key))
    }

    fn units(&self) -> BoxFuture<'_, Result<Vec<UnitKey>>> {
        Box::pin(self.list_units())
    }

    fn watch_ready(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        Some(DockerPlane::watch_ready(self))
    }
}

fn unavailable(error: Error) -> PlaneError {
    PlaneError::Unavailable {
        message: error.to_string(),
    }
}

fn labels(inspect: &ContainerInspectResponse) -> HashMap<String, String> {
    inspect
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default()
}

/// Copies the files in, then tells the unit to read them again.
async fn update(
    docker: &Docker,
    id: &str,
    tar: Option<Vec<u8>>,
) -> std::result::Result<(), bollard::errors::Error> {
    if let Some(tar) = tar {
        upload(docker, id, tar).await?;
    }
    let options = KillContainerOptions {
        signal: "SIGHUP".to_owned(),
    };
    docker.kill_container(id, Some(options)).await
}

async fn upload(
    docker: &Docker,
    id: &str,
    tar: Vec<u8>,
) -> std::result::Result<(), bollard::errors::Error> {
    let options = UploadToContainerOptions {
        path: "/".to_owned(),
        ..UploadToContainerOptions::default()
    };
    docker
        .upload_to_container(
            id,
            Some(options),
            bollard::body_full(bytes::Bytes::from(tar)),
        )
        .await
}

/// The first 12 hex digits of the cluster id, as in the network's name.
fn short_cluster(cluster: &str) -> String {
    cluster
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect()
}

/// `kubarium_service_<ns>_<name>_<uid8>_<cluster12>`, `kubarium_dns_<cluster12>`,
/// `kubarium_ingress_<cluster12>`.
pub(crate) fn container_name(cluster: &str, key: &UnitKey) -> String {
    let cluster = short_cluster(cluster);
    match key {
        UnitKey::Service {
            namespace,
            name,
            uid,
        } => {
            let uid: String = uid
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(8)
                .collect();
            format!("kubarium_service_{namespace}_{name}_{uid}_{cluster}")
        }
        UnitKey::Dns => format!("kubarium_dns_{cluster}"),
        UnitKey::Ingress => format!("kubarium_ingress_{cluster}"),
    }
}

/// The infra mode a unit runs.
fn mode(key: &UnitKey) -> &'static str {
    match key {
        UnitKey::Service { .. } => "proxy",
        UnitKey::Dns => "dns",
        UnitKey::Ingress => "ingress",
    }
}

fn protocol(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The address and published ports as asked, e.g. `172.18.128.7 tcp:30080:30080,tcp:0:80`:
/// a unit asked for with another shape is replaced rather than updated.
pub(crate) fn shape(spec: &UnitSpec) -> String {
    let mut ports: Vec<String> = spec
        .publish
        .iter()
        .map(|p| format!("{}:{}:{}", protocol(p.protocol), p.host, p.container))
        .collect();
    ports.sort();
    let ip = spec
        .ip
        .map_or_else(|| "any".to_owned(), |ip| ip.to_string());
    // A proxy made before it could forward in the kernel lacks the capability and sysctls:
    // the marker makes it replaced rather than updated.
    let nat = if matches!(spec.key, UnitKey::Service { .. }) {
        " nat"
    } else {
        ""
    };
    format!("{ip} {}{nat}", ports.join(","))
}

/// The labels of a unit's container.
pub(crate) fn unit_labels(cluster: &str, spec: &UnitSpec) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (spec::CLUSTER_LABEL.to_owned(), cluster.to_owned()),
        (SHAPE_LABEL.to_owned(), shape(spec)),
    ]);
    let unit = match &spec.key {
        UnitKey::Service {
            namespace,
            name,
            uid,
        } => {
            labels.insert(SERVICE_NAMESPACE_LABEL.to_owned(), namespace.clone());
            labels.insert(SERVICE_NAME_LABEL.to_owned(), name.clone());
            labels.insert(SERVICE_UID_LABEL.to_owned(), uid.clone());
            "service"
        }
        UnitKey::Dns => "dns",
        UnitKey::Ingress => "ingress",
    };
    labels.insert(UNIT_LABEL.to_owned(), unit.to_owned());
    labels
}

/// The unit a container is, from its labels.
pub(crate) fn key_from_labels(labels: &HashMap<String, String>) -> Option<UnitKey> {
    let get = |key: &str| labels.get(key).cloned();
    match labels.get(UNIT_LABEL)?.as_str() {
        "service" => Some(UnitKey::Service {
            namespace: get(SERVICE_NAMESPACE_LABEL)?,
            name: get(SERVICE_NAME_LABEL)?,
            uid: get(SERVICE_UID_LABEL)?,
        }),
        "dns" => Some(UnitKey::Dns),
        "ingress" => Some(UnitKey::Ingress),
        _ => None,
    }
}

/// The create body of a unit's container: the infra image running `command`, on the
/// cluster network at `spec.ip`, its ports published on 127.0.0.1 (host port 0: one the
/// engine picks).
///
/// A Service's proxy also gets what forwarding in the kernel needs, as kube-proxy has on a
/// node: `CAP_NET_ADMIN` (to program nftables in its own network namespace; not
/// privileged), `ip_forward`, and no ICMP redirects — it forwards back out the interface
/// the packet came in on, and a redirect would tell the client to bypass it. The effective
/// `send_redirects` is `all` OR the interface's, and `eth0` does not inherit `default` (it is
/// moved in), so all three are set.
pub(crate) fn unit_body(
    cluster: &str,
    network: &str,
    image: &str,
    command: Vec<String>,
    spec: &UnitSpec,
) -> ContainerCreateBody {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &spec.publish {
        bindings
            .entry(format!("{}/{}", port.container, protocol(port.protocol)))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some("127.0.0.1".to_owned()),
                host_port: (port.host != 0).then(|| port.host.to_string()),
            });
    }
    let mut exposed: Vec<String> = bindings.keys().cloned().collect();
    exposed.sort();
    let endpoint = EndpointSettings {
        ipam_config: spec.ip.map(|ip| EndpointIpamConfig {
            ipv4_address: Some(ip.to_string()),
            ..EndpointIpamConfig::default()
        }),
        ..EndpointSettings::default()
    };
    let proxy = matches!(spec.key, UnitKey::Service { .. });
    let sysctls = proxy.then(|| {
        [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.conf.all.send_redirects", "0"),
            ("net.ipv4.conf.default.send_redirects", "0"),
            ("net.ipv4.conf.eth0.send_redirects", "0"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    });
    ContainerCreateBody {
        image: Some(image.to_owned()),
        entrypoint: Some(command),
        env: proxy.then(|| vec![PROXY_NAT_ENV.to_owned()]),
        labels: Some(unit_labels(cluster, spec)),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(HostConfig {
            network_mode: Some(network.to_owned()),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            cap_add: proxy.then(|| vec!["NET_ADMIN".to_owned()]),
            sysctls,
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..HostConfig::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network.to_owned(), endpoint)])),
        }),
        ..ContainerCreateBody::default()
    }
}

/// The unit's files as a tar to unpack at `/`; `None` when it has none.
pub(crate) fn files_tar(files: &[UnitFile]) -> Option<Vec<u8>> {
    if files.is_empty() {
        return None;
    }
    let mut tar = TarWriter::default();
    for file in files {
        tar.file(&file.path, file.mode, &file.content);
    }
    Some(tar.finish())
}

/// The published ports with the host ports the engine bound, from `docker inspect`.
pub(crate) fn published(
    inspect: &ContainerInspectResponse,
    asked: &[PublishedPort],
) -> Vec<PublishedPort> {
    let ports = inspect
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.as_ref());
    let mut claimed: Vec<u16> = Vec::new();
    asked
        .iter()
        .map(|port| {
            let key = format!("{}/{}", port.container, protocol(port.protocol));
            let bound: Vec<u16> = ports
                .and_then(|ports| ports.get(&key))
                .and_then(Option::as_ref)
                .into_iter()
                .flatten()
                .filter(|b| b.host_ip.as_deref().is_none_or(|ip| ip == "127.0.0.1"))
                .filter_map(|b| b.host_port.as_deref()?.parse().ok())
                .collect();
            let host = if port.host != 0 {
                port.host
            } else {
                bound
                    .iter()
                    .copied()
                    .find(|p| !claimed.contains(p) && !asked.iter().any(|a| a.host == *p))
                    .unwrap_or(0)
            };
            claimed.push(host);
            PublishedPort { host, ..*port }
        })
        .collect()
}

/// What the engine's refusal means for the controller.
fn classify(error: &bollard::errors::Error, spec: &UnitSpec) -> PlaneError {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            classify_message(message, spec.ip, &spec.publish)
        }
        other => PlaneError::Unavailable {
            message: other.to_string(),
        },
    }
}

/// [`classify`] on the engine's message: a taken host port (`Bind for 127.0.0.1:30080
/// failed: port is already allocated`, or the userland proxy's `listen tcp4 127.0.0.1:30080:
/// bind: address already in use`), an address that is taken or off the network, or anything
/// else.
pub(crate) fn classify_message(
    message: &str,
    ip: Option<Ipv4Addr>,
    publish: &[PublishedPort],
) -> PlaneError {
    let lower = message.to_ascii_lowercase();
    let port_taken = lower.contains("port is already allocated")
        || lower.contains("bind: address already in use")
        || (lower.contains("userland proxy") && lower.contains("address already in use"));
    if port_taken {
        let named = message.split("127.0.0.1:").skip(1).find_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u16>().ok()
        });
        let port = named
            .or_else(|| publish.iter().map(|p| p.host).find(|p| *p != 0))
            .unwrap_or(0);
        return PlaneError::PortInUse {
            port,
            message: message.to_owned(),
        };
    }
    let address = lower.contains("address already in use")
        || lower.contains("does not belong to any of this network's subnets")
        || lower.contains("no available ip")
        || lower.contains("invalid address")
        || lower.contains("user specified ip address");
    match ip {
        Some(ip) if address => PlaneError::AddressUnavailable {
            ip,
            message: message.to_owned(),
        },
        _ => PlaneError::Unavailable {
            message: message.to_owned(),
        },
    }
}

impl DockerRuntime {
    /// Makes the infra image available (imported from the static binary when missing, one
    /// import at a time) and returns its reference.
    pub(super) async fn ensure_infra(&self, docker: &Docker) -> Result<String> {
        let image = images::infra_image();
        let _import = self.inner.imports.lock().await;
        if let Some(builtin) = images::Builtin::parse(&image) {
            images::ensure_builtin(docker, &builtin).await?;
        }
        Ok(image)
    }
}

#[cfg(test)]
mod tests {
    use bollard::models::NetworkSettings;

    use super::*;

    const CLUSTER: &str = "5d3c0a1e-7f2b-4c1d-9e8f-0a1b2c3d4e5f";

    fn web() -> UnitKey {
        UnitKey::Service {
            namespace: "default".to_owned(),
            name: "web".to_owned(),
            uid: "a7acfe0c-5845-446b-88e7-3b3217b62192".to_owned(),
        }
    }

    fn spec() -> UnitSpec {
        UnitSpec {
            key: web(),
            ip: Some(Ipv4Addr::new(172, 18, 128, 7)),
            publish: vec![
                PublishedPort {
                    host: 30080,
                    container: 30080,
                    protocol: Protocol::Tcp,
                },
                PublishedPort {
                    host: 0,
                    container: 80,
                    protocol: Protocol::Tcp,
                },
            ],
            files: vec![UnitFile {
                path: "etc/kubarium/config".to_owned(),
                mode: 0o644,
                content: b"tcp 80 30080 -> 172.18.0.5:8080\n".to_vec(),
            }],
        }
    }

    #[test]
    fn names_hold_the_unit_and_the_cluster() {
        assert_eq!(
            container_name(CLUSTER, &web()),
            "kubarium_service_default_web_a7acfe0c_5d3c0a1e7f2b"
        );
        assert_eq!(
            container_name(CLUSTER, &UnitKey::Dns),
            "kubarium_dns_5d3c0a1e7f2b"
        );
        assert_eq!(
            container_name(CLUSTER, &UnitKey::Ingress),
            "kubarium_ingress_5d3c0a1e7f2b"
        );
    }

    #[test]
    fn labels_round_trip_to_the_unit() {
        for key in [web(), UnitKey::Dns, UnitKey::Ingress] {
            let labels = unit_labels(
                CLUSTER,
                &UnitSpec {
                    key: key.clone(),
                    ..spec()
                },
            );
            assert_eq!(labels[spec::CLUSTER_LABEL], CLUSTER);
            assert_eq!(key_from_labels(&labels), Some(key));
        }
        assert_eq!(key_from_labels(&HashMap::new()), None);
    }

    #[test]
    fn the_shape_changes_with_address_and_ports_only() {
        let a = spec();
        let mut b = spec();
        b.files.clear();
        b.publish.reverse();
        assert_eq!(shape(&a), shape(&b));
        assert_eq!(shape(&a), "172.18.128.7 tcp:0:80,tcp:30080:30080 nat");
        b.publish.pop();
        assert_ne!(shape(&a), shape(&b));
        let mut c = spec();
        c.ip = None;
        assert_ne!(shape(&a), shape(&c));
    }

    #[test]
    fn the_body_pins_the_address_and_publishes_on_loopback() {
        let body = unit_body(
            CLUSTER,
            "kubarium-5d3c0a1e7f2b",
            "kubarium.dev/infra:0.1.0",
            vec!["/kubarium-infra".to_owned(), "proxy".to_owned()],
            &spec(),
        );
        assert_eq!(
            body.entrypoint.as_deref(),
            Some(&["/kubarium-infra".to_owned(), "proxy".to_owned()][..])
        );
        assert_eq!(
            body.exposed_ports,
            Some(vec!["30080/tcp".to_owned(), "80/tcp".to_owned()])
        );
        assert_eq!(
            body.env.as_deref(),
            Some(&["KUBARIUM_PROXY_NAT=1".to_owned()][..])
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("kubarium-5d3c0a1e7f2b"));
        assert_eq!(host.cap_add, Some(vec!["NET_ADMIN".to_owned()]));
        assert_eq!(host.privileged, None);
        let sysctls = host.sysctls.clone().unwrap();
        assert_eq!(sysctls["net.ipv4.ip_forward"], "1");
        assert_eq!(sysctls["net.ipv4.conf.eth0.send_redirects"], "0");
        let bindings = host.port_bindings.unwrap();
        let binding = |key: &str| bindings[key].clone().unwrap()[0].clone();
        assert_eq!(binding("30080/tcp").host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(binding("30080/tcp").host_port.as_deref(), Some("30080"));
        assert_eq!(
            binding("80/tcp").host_port,
            None,
            "port 0: the engine picks"
        );
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::NO)
        );
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(
            endpoints["kubarium-5d3c0a1e7f2b"]
                .ipam_config
                .as_ref()
                .unwrap()
                .ipv4_address
                .as_deref(),
            Some("172.18.128.7")
        );
        assert_eq!(body.labels.unwrap()[UNIT_LABEL], "service");
    }

    #[test]
    fn only_a_service_proxy_may_program_the_kernel() {
        for key in [UnitKey::Dns, UnitKey::Ingress] {
            let spec = UnitSpec { key, ..spec() };
            let body = unit_body(CLUSTER, "net", "image", vec![], &spec);
            assert_eq!(body.env, None);
            let host = body.host_config.unwrap();
            assert_eq!((host.cap_add, host.sysctls), (None, None));
            assert!(!shape(&spec).ends_with(" nat"));
        }
    }

    #[test]
    fn published_ports_are_read_back() {
        let binding = |port: &str| PortBinding {
            host_ip: Some("127.0.0.1".to_owned()),
            host_port: Some(port.to_owned()),
        };
        let inspect = ContainerInspectResponse {
            network_settings: Some(NetworkSettings {
                ports: Some(HashMap::from([
                    ("30080/tcp".to_owned(), Some(vec![binding("30080")])),
                    ("80/tcp".to_owned(), Some(vec![binding("49153")])),
                ])),
                ..NetworkSettings::default()
            }),
            ..ContainerInspectResponse::default()
        };
        let published = published(&inspect, &spec().publish);
        assert_eq!(
            published.iter().map(|p| p.host).collect::<Vec<_>>(),
            [30080, 49153]
        );
    }

    #[test]
    fn engine_refusals_are_classified() {
        let ip = Some(Ipv4Addr::new(172, 18, 128, 7));
        let publish = spec().publish;
        let taken = classify_message(
            "driver failed programming external connectivity on endpoint kubarium_x (abc): Bind for 127.0.0.1:30080 failed: port is already allocated",
            ip,
            &publish,
        );
        assert!(
            matches!(taken, PlaneError::PortInUse { port: 30080, .. }),
            "{taken:?}"
        );
        let proxy = classify_message(
            "driver failed programming external connectivity on endpoint kubarium_x (abc): Error starting userland proxy: listen tcp4 127.0.0.1:30081: bind: address already in use",
            ip,
            &publish,
        );
        assert!(
            matches!(proxy, PlaneError::PortInUse { port: 30081, .. }),
            "{proxy:?}"
        );
        let address = classify_message("Address already in use", ip, &publish);
        assert!(
            matches!(address, PlaneError::AddressUnavailable { .. }),
            "{address:?}"
        );
        let off = classify_message(
            "Invalid address 10.0.0.7: It does not belong to any of this network's subnets",
            ip,
            &publish,
        );
        assert!(
            matches!(off, PlaneError::AddressUnavailable { .. }),
            "{off:?}"
        );
        let other = classify_message("no such image", ip, &publish);
        assert!(matches!(other, PlaneError::Unavailable { .. }), "{other:?}");
    }

    #[test]
    fn files_become_one_tar() {
        assert_eq!(files_tar(&[]), None);
        let tar = files_tar(&spec().files).unwrap();
        // etc/, etc/kubarium/, the file (one data block), two closing blocks.
        assert_eq!(tar.len(), 512 * 6);
    }
}
