//! The service data plane as the services controller sees it: containers that hold an
//! address on the cluster network, publish ports on the host's loopback, and serve what
//! their configuration files say (`kubarium-infra proxy | dns | ingress`).
//!
//! The controller (`crate::services`) decides *what* each unit serves from API objects;
//! a [`DataPlane`] makes it so. The Docker plane runs one infra container per unit and
//! delivers files by copying them in and sending `SIGHUP`; the hollow plane keeps records.

use std::net::Ipv4Addr;

use crate::Result;
use crate::runtime::BoxFuture;

/// Which unit of the data plane: one per Service with a cluster IP, one DNS server and one
/// ingress controller per cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnitKey {
    /// The proxy of one Service, by namespace, name and uid (a Service made again under
    /// the same name is a new unit).
    Service {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// The Service's uid.
        uid: String,
    },
    /// The cluster's DNS server.
    Dns,
    /// The cluster's ingress controller.
    Ingress,
}

/// `TCP` or `UDP`, as a Service port says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A port the unit publishes on the host's loopback: `127.0.0.1:<host>` to `<container>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublishedPort {
    /// The port on 127.0.0.1; 0 lets the engine choose one (tests).
    pub host: u16,
    /// The port the unit listens on inside its container.
    pub container: u16,
    /// The protocol.
    pub protocol: Protocol,
}

/// A file the unit reads, relative to the container's root, e.g. `etc/kubarium/config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFile {
    /// Where, relative to `/`, without a leading slash.
    pub path: String,
    /// Permission bits (0o644 for configuration, 0o600 for keys).
    pub mode: u32,
    /// The bytes.
    pub content: Vec<u8>,
}

/// What one unit should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    /// Which unit.
    pub key: UnitKey,
    /// Its address on the cluster network (a Service's cluster IP); `None`: any.
    pub ip: Option<Ipv4Addr>,
    /// Ports published on 127.0.0.1 (NodePorts, LoadBalancer ports, the ingress ports).
    pub publish: Vec<PublishedPort>,
    /// Its files: `etc/kubarium/config` always, certificates for the ingress.
    pub files: Vec<UnitFile>,
}

/// A unit as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The published ports with the host port the engine actually bound.
    pub published: Vec<PublishedPort>,
}

/// Why a unit could not be made as asked: what the controller reports as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaneError {
    /// A host port is taken by another program or another unit.
    PortInUse {
        /// The host port.
        port: u16,
        /// What the engine said.
        message: String,
    },
    /// The address is not free or not on the cluster network.
    AddressUnavailable {
        /// The address asked for.
        ip: Ipv4Addr,
        /// What the engine said.
        message: String,
    },
    /// The engine is unreachable or failed; try again later.
    Unavailable {
        /// What went wrong.
        message: String,
    },
}

impl std::fmt::Display for PlaneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PortInUse { port, message } => write!(
                f,
                "port 127.0.0.1:{port} is already in use on this machine ({message}); free it or choose another port"
            ),
            Self::AddressUnavailable { ip, message } => {
                write!(
                    f,
                    "address {ip} is not available on the cluster network ({message})"
                )
            }
            Self::Unavailable { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for PlaneError {}

/// Makes units exist as specified. Object-safe, like [`crate::ContainerRuntime`].
pub trait DataPlane: Send + Sync + 'static {
    /// Makes `spec.key`'s unit run as `spec` says: creates it, or updates its files in place
    /// (no connection dropped) when its address and published ports are unchanged, or
    /// replaces it when they changed. Idempotent.
    fn apply(&self, spec: UnitSpec) -> BoxFuture<'_, std::result::Result<Applied, PlaneError>>;

    /// Removes the unit; nothing to do when it does not exist.
    fn remove(&self, key: UnitKey) -> BoxFuture<'_, Result<()>>;

    /// The units that exist now, e.g. after a restart, so the controller removes those whose
    /// object is gone.
    fn units(&self) -> BoxFuture<'_, Result<Vec<UnitKey>>>;

    /// `true` while the engine is reachable, for planes whose units do not outlive an engine
    /// restart: when it turns `true` again, every unit is applied anew. `None`: always ready.
    fn watch_ready(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        None
    }
}
