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

pub mod plane;

use std::net::Ipv4Addr;

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
}
