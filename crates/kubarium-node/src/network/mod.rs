//! The cluster network's layout, and the service data plane's contract.
//!
//! On Docker every cluster has one bridge network, `kubarium-<cluster id>`, whose subnet is
//! split so that nothing Docker hands out can collide with an address Kubarium assigns:
//!
//! | part           | of a /16 such as 172.18.0.0/16 | who assigns                        |
//! |----------------|--------------------------------|------------------------------------|
//! | first half     | 172.18.0.0/17                  | Docker (`ip_range`): pod sandboxes |
//! | third quarter  | 172.18.128.0/18                | the API server: Service cluster IPs |
//! | last quarter   | 172.18.192.0/18                | Kubarium: ingress, nodes' addresses |
//!
//! The DNS server holds the cluster IP of `kube-system/kube-dns` (the tenth address of the
//! service range, as kubeadm's 10.96.0.10), so a pod's resolver and `kubectl get svc -A`
//! agree.
//!
//! [`prepare`] runs before the API server starts: it settles the cluster id and the
//! network (so the API server allocates cluster IPs from [`NetworkPlan::service_range`]).

pub mod plane;

use std::net::Ipv4Addr;
use std::path::Path;

use crate::pool::RuntimeKind;
use crate::{Error, Result};

/// Where in the data dir the cluster's id is kept (read by `delete_cluster` too).
pub(crate) const CLUSTER_ID_FILE: &str = "cluster-id";
/// Where in the data dir the cluster network's subnet is kept.
pub(crate) const NETWORK_FILE: &str = "network";
/// The cluster domain pods' DNS search paths and Service names end in.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The subnet a cluster network is asked for when Docker could not be asked to choose
/// one (it was not reachable at the cluster's first start).
pub const FALLBACK_SUBNET: &str = "10.96.0.0/16";

/// What [`prepare`] settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The cluster's id: every container and the network are labelled with it.
    pub cluster_id: String,
    /// The network's layout on Docker; `None` on the hollow runtime.
    pub plan: Option<NetworkPlan>,
}

/// The network as recorded in `<data_dir>/network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) plan: NetworkPlan,
    /// The subnet was chosen without Docker (the fallback), so it must be asked for
    /// explicitly when Docker comes.
    pub(crate) fallback: bool,
}

impl Recorded {
    /// The file's content: the subnet, then `fallback` on a line of its own if it is one.
    pub(crate) fn render(&self) -> String {
        if self.fallback {
            format!("{}\nfallback\n", self.plan)
        } else {
            format!("{}\n", self.plan)
        }
    }

    /// Reads [`Recorded::render`]'s output; `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let plan = NetworkPlan::parse(lines.next()?)?;
        let fallback = match lines.next() {
            None => false,
            Some("fallback") => true,
            Some(_) => return None,
        };
        lines.next().is_none().then_some(Self { plan, fallback })
    }
}

/// Reads a small file of the data dir; `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::Runtime {
            reason: format!("could not read {}: {error}", path.display()),
        }),
    }
}

fn write(path: &Path, content: &str) -> Result<()> {
    std::fs::write(path, content).map_err(|error| Error::Runtime {
        reason: format!("could not write {}: {error}", path.display()),
    })
}

/// A fresh random cluster id, formatted as a UUID (its first 12 hex digits name the network).
pub(crate) fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let word = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(now);
        hasher.write_u32(std::process::id());
        hasher.write_u64(salt);
        hasher.finish()
    };
    let hex = format!("{:016x}{:016x}", word(1), word(2));
    format!(
        "{}-{}-4{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The cluster id recorded in `data_dir`, or `None`.
pub(crate) fn recorded_cluster_id(data_dir: &Path) -> Result<Option<String>> {
    Ok(read_optional(&data_dir.join(CLUSTER_ID_FILE))?
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty()))
}

/// Settles the cluster id and, on Docker, the cluster network, before the API server starts.
///
/// The id is the one recorded in `<data_dir>/cluster-id` (clusters made before this kept
/// their `kube-system` uid there), else a new random one — recorded on Docker only, where
/// `delete_cluster` needs it to find the cluster's containers.
///
/// On Docker the network `kubarium-<id>` is made to exist with its subnet pinned and
/// `ip_range` = the pod half ([`NetworkPlan`]): Docker chooses a free subnet the first time;
/// after that the subnet recorded in `<data_dir>/network` is asked for. When Docker cannot be
/// reached within a few seconds the recorded plan is used as it is; with none recorded, the
/// [`FALLBACK_SUBNET`] is recorded and asked for explicitly once Docker comes. A network made
/// by an older Kubarium without `ip_range` is made again when none of the cluster's
/// containers use it; otherwise it is kept as it is (pods' addresses could then meet a
/// Kubarium one until the cluster's containers are gone), with a warning.
pub async fn prepare(data_dir: &Path, runtime: RuntimeKind) -> Result<Prepared> {
    let recorded_id = recorded_cluster_id(data_dir)?;
    if runtime == RuntimeKind::Hollow {
        return Ok(Prepared {
            cluster_id: recorded_id.unwrap_or_else(random_id),
            plan: None,
        });
    }
    let cluster_id = match recorded_id {
        Some(id) => id,
        None => {
            let id = random_id();
            write(&data_dir.join(CLUSTER_ID_FILE), &id)?;
            id
        }
    };
    let network_file = data_dir.join(NETWORK_FILE);
    let recorded = read_optional(&network_file)?.and_then(|text| Recorded::parse(&text));
    let settled =
        crate::runtime::docker_network::settle(&cluster_id, recorded.map(|r| r.plan)).await;
    let record = match settled {
        Ok(plan) => Recorded {
            plan,
            fallback: false,
        },
        Err(reason) => {
            let record = recorded.unwrap_or(Recorded {
                plan: NetworkPlan::parse(FALLBACK_SUBNET).unwrap_or(NetworkPlan {
                    base: 0x0A60_0000,
                    prefix: 16,
                }),
                fallback: true,
            });
            tracing::warn!(%reason, subnet = %record.plan, "could not settle the cluster network with Docker; using the recorded plan");
            record
        }
    };
    if recorded != Some(record) {
        write(&network_file, &record.render())?;
    }
    Ok(Prepared {
        cluster_id,
        plan: Some(record.plan),
    })
}

/// How the cluster network's subnet is divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkPlan {
    base: u32,
    prefix: u8,
}

/// The largest prefix a cluster network may have: a quarter must still hold a /24.
pub const MAX_PREFIX: u8 = 22;

impl NetworkPlan {
    /// The plan for `subnet`/`prefix`; `None` when the prefix is longer than
    /// [`MAX_PREFIX`] or shorter than 8.
    pub fn new(subnet: Ipv4Addr, prefix: u8) -> Option<Self> {
        if !(8..=MAX_PREFIX).contains(&prefix) {
            return None;
        }
        let mask = u32::MAX << (32 - prefix);
        Some(Self {
            base: u32::from(subnet) & mask,
            prefix,
        })
    }

    /// Parses `a.b.c.d/p`, as Docker reports a subnet.
    pub fn parse(cidr: &str) -> Option<Self> {
        let (ip, prefix) = cidr.trim().split_once('/')?;
        Self::new(ip.parse().ok()?, prefix.parse().ok()?)
    }

    fn size(&self) -> u32 {
        1 << (32 - self.prefix)
    }

    /// The whole subnet, `(base, prefix)`.
    pub fn subnet(&self) -> (Ipv4Addr, u8) {
        (Ipv4Addr::from(self.base), self.prefix)
    }

    /// The bridge's gateway: the subnet's first address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// Where Docker gives pod sandboxes their addresses: the first half.
    pub fn pod_range(&self) -> (Ipv4Addr, u8) {
        (Ipv4Addr::from(self.base), self.prefix + 1)
    }

    /// Where the API server allocates cluster IPs: the third quarter.
    pub fn service_range(&self) -> (Ipv4Addr, u8) {
        (Ipv4Addr::from(self.base + self.size() / 2), self.prefix + 2)
    }

    /// The cluster IP of `kube-system/kube-dns`, which the DNS server holds.
    pub fn dns_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + self.size() / 2 + 10)
    }

    /// The ingress controller's address: in the last quarter.
    pub fn ingress_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + self.size() / 4 * 3 + 2)
    }

    /// The `InternalIP` of the node with index `index` (0 for the control plane): in the
    /// last quarter, so no pod can have it.
    pub fn node_ip(&self, index: u32) -> Ipv4Addr {
        let quarter = self.size() / 4;
        Ipv4Addr::from(self.base + quarter * 3 + 16 + index % (quarter - 32))
    }
}

impl std::fmt::Display for NetworkPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_16_is_split_in_half_and_quarters() {
        let plan = NetworkPlan::parse("172.18.0.0/16").unwrap();
        assert_eq!(plan.to_string(), "172.18.0.0/16");
        assert_eq!(plan.gateway(), Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(plan.pod_range(), (Ipv4Addr::new(172, 18, 0, 0), 17));
        assert_eq!(plan.service_range(), (Ipv4Addr::new(172, 18, 128, 0), 18));
        assert_eq!(plan.dns_ip(), Ipv4Addr::new(172, 18, 128, 10));
        assert_eq!(plan.ingress_ip(), Ipv4Addr::new(172, 18, 192, 2));
        assert_eq!(plan.node_ip(0), Ipv4Addr::new(172, 18, 192, 16));
        assert_eq!(plan.node_ip(2), Ipv4Addr::new(172, 18, 192, 18));
    }

    #[test]
    fn small_and_odd_subnets() {
        let plan = NetworkPlan::parse("192.168.16.7/20").unwrap();
        assert_eq!(plan.pod_range(), (Ipv4Addr::new(192, 168, 16, 0), 21));
        assert_eq!(plan.service_range(), (Ipv4Addr::new(192, 168, 24, 0), 22));
        assert_eq!(plan.ingress_ip(), Ipv4Addr::new(192, 168, 28, 2));
        assert!(NetworkPlan::parse("10.0.0.0/24").is_none());
        assert!(NetworkPlan::parse("10.0.0.0").is_none());
        assert!(NetworkPlan::parse("nonsense/16").is_none());
    }

    #[test]
    fn the_recorded_network_round_trips() {
        let plan = NetworkPlan::parse("172.19.0.0/16").unwrap();
        for fallback in [false, true] {
            let record = Recorded { plan, fallback };
            assert_eq!(Recorded::parse(&record.render()), Some(record));
        }
        assert_eq!(
            Recorded::parse("172.19.0.0/16\n").unwrap().render(),
            "172.19.0.0/16\n"
        );
        assert_eq!(
            Recorded::parse("10.96.0.0/16\nfallback\n")
                .unwrap()
                .render(),
            "10.96.0.0/16\nfallback\n"
        );
        assert!(Recorded::parse("").is_none());
        assert!(Recorded::parse("10.0.0.0/24").is_none());
        assert!(Recorded::parse("10.96.0.0/16\nsomething\n").is_none());
        assert!(NetworkPlan::parse(FALLBACK_SUBNET).is_some());
    }

    #[test]
    fn cluster_ids_are_random_uuids() {
        let a = random_id();
        let b = random_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(
            a.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[tokio::test]
    async fn hollow_clusters_keep_an_id_without_docker() {
        let dir = tempfile::tempdir().unwrap();
        let prepared = prepare(dir.path(), RuntimeKind::Hollow).await.unwrap();
        assert_eq!(prepared.plan, None);
        assert!(!dir.path().join(CLUSTER_ID_FILE).exists());
        std::fs::write(dir.path().join(CLUSTER_ID_FILE), "kept\n").unwrap();
        let prepared = prepare(dir.path(), RuntimeKind::Hollow).await.unwrap();
        assert_eq!(prepared.cluster_id, "kept");
    }
}
