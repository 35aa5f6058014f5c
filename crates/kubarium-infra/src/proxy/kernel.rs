//! Forwarding in the kernel: on every (re)load, the proxy programs nftables DNAT and
//! masquerade in its own network namespace ([`nft`]), so connections to the Service go
//! from client to endpoint without waking this process, as with kube-proxy's nftables mode.
//!
//! Only when asked (`KUBARIUM_PROXY_NAT=1`, set by the Docker plane, which also gives the
//! container `CAP_NET_ADMIN` and `ip_forward`): run on a host, the proxy must not touch the
//! host's firewall. The userspace listeners stay in every case and serve what the kernel
//! path does not:
//! - a port without endpoints (no rule: the listener refuses TCP and drops UDP, as before);
//! - sessionAffinity ClientIP (the table is left empty: the balancer remembers clients);
//! - a kernel that refuses (no capability, no nf_tables): logged once, then userspace only.
//!
//! Established connections keep their endpoint across reloads (conntrack holds the
//! translation), including a removed endpoint's, TCP and UDP alike; kube-proxy clears the
//! conntrack entries of removed UDP endpoints, which is not done here: such a UDP flow goes
//! on until it has been idle for conntrack's UDP timeout (30 s, 120 s once both ways saw
//! traffic).

use std::net::{Ipv4Addr, SocketAddr};

use super::config::Config;
use super::netlink::{self, Socket};
use super::nft::{self, Forward};

/// The variable that asks for forwarding in the kernel.
pub(crate) const ENV: &str = "KUBARIUM_PROXY_NAT";

/// Whether the kernel forwards, and whether to keep trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not asked for: userspace only.
    Off,
    /// Asked for; the last batch was accepted (or none was sent yet).
    On,
    /// The kernel refused: userspace only from now on.
    Refused,
}

pub(crate) struct Kernel {
    state: State,
    /// Whether the kernel holds a table of ours.
    programmed: bool,
    seq: u32,
}

impl Kernel {
    /// Forwarding in the kernel when `$KUBARIUM_PROXY_NAT` is `1`.
    pub(crate) fn from_env() -> Self {
        let asked = std::env::var(ENV).is_ok_and(|value| value.trim() == "1");
        Self {
            state: if asked { State::On } else { State::Off },
            programmed: false,
            seq: 1,
        }
    }

    /// Programs the table for `config`; returns the line to log, if any.
    pub(crate) fn apply(&mut self, config: &Config) -> Option<String> {
        if self.state != State::On {
            return None;
        }
        let Some(address) = crate::sys::own_ipv4() else {
            self.state = State::Refused;
            return Some(
                "proxy: cannot forward in the kernel: no IPv4 address on an interface that is up; forwarding in userspace".to_owned(),
            );
        };
        let forwards = if config.affinity.is_some() {
            Vec::new()
        } else {
            forwards(config, address)
        };
        match self.send(&forwards) {
            Ok(()) if config.affinity.is_some() => Some(
                "proxy: sessionAffinity ClientIP: forwarding in userspace (nftables table left empty)"
                    .to_owned(),
            ),
            Ok(()) => {
                let endpoints: usize = forwards.iter().map(|f| f.endpoints.len()).sum();
                let served = forwards.iter().filter(|f| !f.endpoints.is_empty()).count();
                Some(format!(
                    "proxy: forwarding in the kernel: nftables table ip {} DNATs {served} of {} ports ({endpoints} endpoint rules) on {address}; ports without endpoints are answered in userspace",
                    nft::TABLE,
                    forwards.len(),
                ))
            }
            Err(error) => {
                self.state = State::Refused;
                // The refused batch changed nothing: rules for old endpoints may be left.
                let note = match self.programmed.then(|| self.clear()) {
                    Some(Err(error)) => format!(" (and the previous rules stay: {error})"),
                    _ => String::new(),
                };
                Some(format!(
                    "proxy: cannot forward in the kernel: {error}; forwarding in userspace{note}"
                ))
            }
        }
    }

    fn next_seq(&mut self) -> u32 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1000);
        seq
    }

    fn send(&mut self, forwards: &[Forward]) -> Result<(), netlink::Error> {
        let (bytes, requests) = nft::ruleset(self.next_seq(), forwards);
        Socket::open()?.apply(&bytes, &requests)?;
        self.programmed = true;
        Ok(())
    }

    /// Deletes the proxy's table, if there is one.
    fn clear(&mut self) -> Result<(), netlink::Error> {
        let mut batch = nft::Batch::new(self.next_seq());
        batch.add_table(nft::TABLE);
        batch.delete_table(nft::TABLE);
        let (bytes, requests) = batch.finish();
        Socket::open()?.apply(&bytes, &requests)
    }
}

/// The ports of `config` as the kernel forwards them to `address`. A line with an endpoint
/// that is not IPv4 is left to userspace (no rule).
pub(crate) fn forwards(config: &Config, address: Ipv4Addr) -> Vec<Forward> {
    let mut forwards = Vec::new();
    for rule in &config.rules {
        let endpoints: Option<Vec<_>> = rule
            .endpoints
            .iter()
            .map(|endpoint| match endpoint {
                SocketAddr::V4(v4) => Some(*v4),
                SocketAddr::V6(_) => None,
            })
            .collect();
        let endpoints = endpoints.unwrap_or_default();
        for &port in &rule.ports {
            forwards.push(Forward {
                protocol: rule.protocol,
                address,
                port,
                endpoints: endpoints.clone(),
            });
        }
    }
    forwards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listening_port_is_forwarded_and_ipv6_is_left_to_userspace() {
        let config =
            Config::parse("tcp 80 30080 -> 10.0.0.5:8080\nudp 53 -> [fd00::5]:53\ntcp 443 ->\n")
                .unwrap_or_else(|error| panic!("{error}"));
        let address = Ipv4Addr::new(10, 0, 128, 7);
        let found: Vec<(u16, usize)> = forwards(&config, address)
            .iter()
            .map(|f| (f.port, f.endpoints.len()))
            .collect();
        assert_eq!(found, [(80, 1), (30080, 1), (53, 0), (443, 0)]);
    }

    #[test]
    fn not_asked_for_means_no_netlink_at_all() {
        let mut kernel = Kernel {
            state: State::Off,
            programmed: false,
            seq: 1,
        };
        assert_eq!(kernel.apply(&Config::default()), None);
        assert!(!kernel.programmed);
    }
}
