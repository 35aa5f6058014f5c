//! nf_tables messages, encoded by hand: the one batch the proxy sends to forward its
//! Service in the kernel, as kube-proxy's nftables mode does on a node.
//!
//! The batch replaces the proxy's own table atomically (add, delete, add again: the first
//! add makes the delete valid when the table does not exist yet), with two chains:
//!
//! ```text
//! table ip kubarium-proxy {
//!   chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//!     meta l4proto tcp ip daddr 172.18.128.7 th dport 80 numgen random mod 2 == 0 dnat to 172.18.0.5:8080
//!     meta l4proto tcp ip daddr 172.18.128.7 th dport 80 dnat to 172.18.0.6:8080
//!   }
//!   chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//!     ct status & dnat != 0 masquerade
//!   }
//! }
//! ```
//!
//! Endpoint i of n is picked with probability 1/(n-i) among those left — uniform overall,
//! kube-proxy's iptables-mode trick, with no set or map. A port without endpoints gets no
//! rule, so its connections reach the userspace listener, which refuses them as before.
//! Masquerading what was DNATed makes replies come back through this namespace, where
//! conntrack undoes both translations. Only the first packet of a connection meets these
//! chains: reloading never moves an established flow.
//!
//! Layouts are the kernel's uapi (`linux/netfilter/nf_tables.h`, `nfnetlink.h`); numbers in
//! attributes are big endian, except values compared with host-order registers (`ct status`,
//! `numgen`).

use std::net::{Ipv4Addr, SocketAddrV4};

use super::config::Protocol;

/// The proxy's table (family `ip`); nothing else in the namespace is touched.
pub(crate) const TABLE: &str = "kubarium-proxy";

pub(crate) const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
pub(crate) const NFT_MSG_NEWTABLE: u16 = 0;
pub(crate) const NFT_MSG_DELTABLE: u16 = 2;
pub(crate) const NFT_MSG_NEWCHAIN: u16 = 3;
pub(crate) const NFT_MSG_NEWRULE: u16 = 6;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
const NFPROTO_IPV4: u8 = 2;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;

const NF_INET_PRE_ROUTING: u32 = 0;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_ACCEPT: u32 = 1;
/// `dstnat` and `srcnat`, the priorities nft gives these hooks' nat chains.
const PRIORITY_DSTNAT: i32 = -100;
const PRIORITY_SRCNAT: i32 = 100;

/// Registers: `NFT_REG_1` and `NFT_REG_2` (16 bytes each).
const REG_1: u32 = 1;
const REG_2: u32 = 2;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_NG_RANDOM: u32 = 1;
const NFT_NAT_DNAT: u32 = 1;
const NFT_CT_STATUS: u32 = 2;
/// `IPS_DST_NAT` in `ct status`.
const IPS_DST_NAT: u32 = 1 << 5;

/// One listening port forwarded in the kernel: traffic to `address:port` goes to one of
/// `endpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forward {
    pub(crate) protocol: Protocol,
    pub(crate) address: Ipv4Addr,
    pub(crate) port: u16,
    pub(crate) endpoints: Vec<SocketAddrV4>,
}

/// One nf_tables expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// `meta <key>` into `dreg`.
    Meta { key: u32, dreg: u32 },
    /// `len` bytes at `offset` of header `base` into `dreg`.
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    /// Compare `sreg` with `data`; the rule stops here when false.
    Cmp { sreg: u32, op: u32, data: Vec<u8> },
    /// A random number below `modulus` into `dreg`.
    Numgen { modulus: u32, dreg: u32 },
    /// `data` into `dreg`.
    Immediate { dreg: u32, data: Vec<u8> },
    /// DNAT to the IPv4 address in `addr` and the port in `port`.
    Dnat { addr: u32, port: u32 },
    /// `ct <key>` into `dreg`.
    Ct { key: u32, dreg: u32 },
    /// `dreg = (sreg & mask) ^ xor`, `mask.len()` bytes.
    Bitwise {
        sreg: u32,
        dreg: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    /// Source NAT to the outgoing interface's address.
    Masquerade,
}

impl Expr {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Meta { .. } => "meta",
            Self::Payload { .. } => "payload",
            Self::Cmp { .. } => "cmp",
            Self::Numgen { .. } => "numgen",
            Self::Immediate { .. } => "immediate",
            Self::Dnat { .. } => "nat",
            Self::Ct { .. } => "ct",
            Self::Bitwise { .. } => "bitwise",
            Self::Masquerade => "masq",
        }
    }

    fn encode(&self, w: &mut Writer) {
        w.string(NFTA_EXPR_NAME, self.name());
        w.nest(NFTA_EXPR_DATA, |w| match self {
            Self::Meta { key, dreg } => {
                w.be32(1, *dreg);
                w.be32(2, *key);
            }
            Self::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                w.be32(1, *dreg);
                w.be32(2, *base);
                w.be32(3, *offset);
                w.be32(4, *len);
            }
            Self::Cmp { sreg, op, data } => {
                w.be32(1, *sreg);
                w.be32(2, *op);
                w.nest(3, |w| w.attr(NFTA_DATA_VALUE, data));
            }
            Self::Numgen { modulus, dreg } => {
                w.be32(1, *dreg);
                w.be32(2, *modulus);
                w.be32(3, NFT_NG_RANDOM);
            }
            Self::Immediate { dreg, data } => {
                w.be32(1, *dreg);
                w.nest(2, |w| w.attr(NFTA_DATA_VALUE, data));
            }
            Self::Dnat { addr, port } => {
                w.be32(1, NFT_NAT_DNAT);
                w.be32(2, u32::from(NFPROTO_IPV4));
                w.be32(3, *addr);
                w.be32(5, *port);
            }
            Self::Ct { key, dreg } => {
                w.be32(1, *dreg);
                w.be32(2, *key);
            }
            Self::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => {
                w.be32(1, *sreg);
                w.be32(2, *dreg);
                w.be32(3, u32::try_from(mask.len()).unwrap_or(u32::MAX));
                w.nest(4, |w| w.attr(NFTA_DATA_VALUE, mask));
                w.nest(5, |w| w.attr(NFTA_DATA_VALUE, xor));
            }
            Self::Masquerade => {}
        });
    }
}

/// The prerouting rules for `forward`, one per endpoint.
pub(crate) fn dnat_rules(forward: &Forward) -> Vec<Vec<Expr>> {
    let proto = match forward.protocol {
        Protocol::Tcp => libc::IPPROTO_TCP,
        Protocol::Udp => libc::IPPROTO_UDP,
    };
    let count = forward.endpoints.len();
    forward
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, endpoint)| {
            let mut rule = vec![
                Expr::Meta {
                    key: NFT_META_L4PROTO,
                    dreg: REG_1,
                },
                Expr::Cmp {
                    sreg: REG_1,
                    op: NFT_CMP_EQ,
                    data: vec![u8::try_from(proto).unwrap_or_default()],
                },
                Expr::Payload {
                    base: NFT_PAYLOAD_NETWORK_HEADER,
                    offset: 16,
                    len: 4,
                    dreg: REG_1,
                },
                Expr::Cmp {
                    sreg: REG_1,
                    op: NFT_CMP_EQ,
                    data: forward.address.octets().to_vec(),
                },
                Expr::Payload {
                    base: NFT_PAYLOAD_TRANSPORT_HEADER,
                    offset: 2,
                    len: 2,
                    dreg: REG_1,
                },
                Expr::Cmp {
                    sreg: REG_1,
                    op: NFT_CMP_EQ,
                    data: forward.port.to_be_bytes().to_vec(),
                },
            ];
            // The last endpoint takes whatever the others left.
            let left = count - i;
            if left > 1 {
                rule.push(Expr::Numgen {
                    modulus: u32::try_from(left).unwrap_or(u32::MAX),
                    dreg: REG_1,
                });
                rule.push(Expr::Cmp {
                    sreg: REG_1,
                    op: NFT_CMP_EQ,
                    data: 0u32.to_ne_bytes().to_vec(),
                });
            }
            rule.extend([
                Expr::Immediate {
                    dreg: REG_1,
                    data: endpoint.ip().octets().to_vec(),
                },
                Expr::Immediate {
                    dreg: REG_2,
                    data: endpoint.port().to_be_bytes().to_vec(),
                },
                Expr::Dnat {
                    addr: REG_1,
                    port: REG_2,
                },
            ]);
            rule
        })
        .collect()
}

/// `ct status & dnat != 0 masquerade`.
pub(crate) fn masquerade_rule() -> Vec<Expr> {
    vec![
        Expr::Ct {
            key: NFT_CT_STATUS,
            dreg: REG_1,
        },
        Expr::Bitwise {
            sreg: REG_1,
            dreg: REG_1,
            mask: IPS_DST_NAT.to_ne_bytes().to_vec(),
            xor: 0u32.to_ne_bytes().to_vec(),
        },
        Expr::Cmp {
            sreg: REG_1,
            op: NFT_CMP_NEQ,
            data: 0u32.to_ne_bytes().to_vec(),
        },
        Expr::Masquerade,
    ]
}

/// A batch of nf_tables messages. Only the last asks for an acknowledgement: the kernel
/// answers every refused message anyway, and an acknowledgement per rule could overflow the
/// socket's receive buffer for a large Service.
pub(crate) struct Batch {
    w: Writer,
    seq: u32,
    /// The sequence number and type of every message, to name a refused one.
    requests: Vec<(u32, u16)>,
    /// Where the last nf_tables message starts.
    last: Option<usize>,
}

impl Batch {
    /// A batch whose messages are numbered from `seq`.
    pub(crate) fn new(seq: u32) -> Self {
        let mut batch = Self {
            w: Writer::default(),
            seq,
            requests: Vec::new(),
            last: None,
        };
        batch.header(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, |_| {});
        batch
    }

    /// The whole batch, ready to send, and the sequence number and type of its messages (the
    /// last one is acknowledged).
    pub(crate) fn finish(mut self) -> (Vec<u8>, Vec<(u32, u16)>) {
        if let Some(start) = self.last {
            let at = start + 6;
            let flags = u16::from_ne_bytes([self.w.buf[at], self.w.buf[at + 1]]) | NLM_F_ACK;
            self.w.buf[at..at + 2].copy_from_slice(&flags.to_ne_bytes());
        }
        self.header(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, |_| {});
        (self.w.buf, self.requests)
    }

    fn header(&mut self, kind: u16, flags: u16, family: u8, body: impl FnOnce(&mut Writer)) {
        let start = self.w.buf.len();
        self.w.buf.extend_from_slice(&[0; 4]);
        self.w.buf.extend_from_slice(&kind.to_ne_bytes());
        self.w.buf.extend_from_slice(&flags.to_ne_bytes());
        self.w.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.w.buf.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, version 0, resource id (the subsystem, for batch messages).
        self.w.buf.extend_from_slice(&[family, 0]);
        self.w
            .buf
            .extend_from_slice(&NFNL_SUBSYS_NFTABLES.to_be_bytes());
        body(&mut self.w);
        self.w.close(start);
        self.seq = self.seq.wrapping_add(1);
    }

    fn message(&mut self, kind: u16, flags: u16, body: impl FnOnce(&mut Writer)) {
        self.requests.push((self.seq, kind));
        self.last = Some(self.w.buf.len());
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | kind;
        self.header(kind, NLM_F_REQUEST | flags, NFPROTO_IPV4, body);
    }

    /// `add table ip <name>`: no error when it exists.
    pub(crate) fn add_table(&mut self, name: &str) {
        self.message(NFT_MSG_NEWTABLE, NLM_F_CREATE, |w| {
            w.string(NFTA_TABLE_NAME, name);
        });
    }

    /// `delete table ip <name>`, with its chains and rules.
    pub(crate) fn delete_table(&mut self, name: &str) {
        self.message(NFT_MSG_DELTABLE, 0, |w| w.string(NFTA_TABLE_NAME, name));
    }

    /// A base chain of type nat on `hook` at `priority`, policy accept.
    pub(crate) fn add_nat_chain(&mut self, table: &str, name: &str, hook: u32, priority: i32) {
        self.message(NFT_MSG_NEWCHAIN, NLM_F_CREATE, |w| {
            w.string(NFTA_CHAIN_TABLE, table);
            w.string(NFTA_CHAIN_NAME, name);
            w.nest(NFTA_CHAIN_HOOK, |w| {
                w.be32(NFTA_HOOK_HOOKNUM, hook);
                w.attr(NFTA_HOOK_PRIORITY, &priority.to_be_bytes());
            });
            w.be32(NFTA_CHAIN_POLICY, NF_ACCEPT);
            w.string(NFTA_CHAIN_TYPE, "nat");
        });
    }

    /// A rule appended to `chain`.
    pub(crate) fn add_rule(&mut self, table: &str, chain: &str, exprs: &[Expr]) {
        self.message(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, |w| {
            w.string(NFTA_RULE_TABLE, table);
            w.string(NFTA_RULE_CHAIN, chain);
            w.nest(NFTA_RULE_EXPRESSIONS, |w| {
                for expr in exprs {
                    w.nest(NFTA_LIST_ELEM, |w| expr.encode(w));
                }
            });
        });
    }
}

/// The batch that makes the proxy's table forward `forwards` (no rule for a port without
/// endpoints; an empty list leaves an empty table).
pub(crate) fn ruleset(seq: u32, forwards: &[Forward]) -> (Vec<u8>, Vec<(u32, u16)>) {
    let mut batch = Batch::new(seq);
    batch.add_table(TABLE);
    batch.delete_table(TABLE);
    batch.add_table(TABLE);
    batch.add_nat_chain(TABLE, "prerouting", NF_INET_PRE_ROUTING, PRIORITY_DSTNAT);
    batch.add_nat_chain(TABLE, "postrouting", NF_INET_POST_ROUTING, PRIORITY_SRCNAT);
    for forward in forwards {
        for rule in dnat_rules(forward) {
            batch.add_rule(TABLE, "prerouting", &rule);
        }
    }
    batch.add_rule(TABLE, "postrouting", &masquerade_rule());
    batch.finish()
}

/// Writes netlink attributes (`nlattr`: length, type, value padded to 4 bytes).
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn attr(&mut self, kind: u16, value: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 2]);
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.close_attr(start);
    }

    fn string(&mut self, kind: u16, value: &str) {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.attr(kind, &bytes);
    }

    fn be32(&mut self, kind: u16, value: u32) {
        self.attr(kind, &value.to_be_bytes());
    }

    fn nest(&mut self, kind: u16, body: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; 2]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        body(self);
        self.close_attr(start);
    }

    /// Writes the length of the attribute at `start` (unpadded, as netlink wants), then pads.
    fn close_attr(&mut self, start: usize) {
        let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self.pad();
    }

    /// Writes the length of the message at `start` (a 32-bit field), then pads.
    fn close(&mut self, start: usize) {
        self.pad();
        let len = u32::try_from(self.buf.len() - start).unwrap_or(u32::MAX);
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

#[cfg(test)]
#[path = "nft_tests.rs"]
mod tests;
