//! The batch's bytes, decoded back by a reader written apart from the encoder: every length
//! adds up, and the tree reads as the rules (snapshot). The kernel's acceptance is the
//! Docker scenario's job (`services::a_service_forwards_in_the_kernel`).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::*;

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Attributes as `type=value`: a NUL-terminated printable string in quotes, a nested
/// attribute (`NLA_F_NESTED`) in braces, anything else in hex.
fn attributes(mut bytes: &[u8], out: &mut String) {
    let mut first = true;
    while !bytes.is_empty() {
        assert!(bytes.len() >= 4, "a truncated attribute header: {bytes:?}");
        let len = usize::from(u16_at(bytes, 0));
        let kind = u16_at(bytes, 2);
        assert!(
            (4..=bytes.len()).contains(&len),
            "attribute length {len} overruns {}",
            bytes.len()
        );
        let value = &bytes[4..len];
        if !first {
            out.push(' ');
        }
        first = false;
        if kind & NLA_F_NESTED != 0 {
            let _ = write!(out, "{}{{", kind & !NLA_F_NESTED);
            attributes(value, out);
            out.push('}');
        } else if value.len() > 1
            && value.last() == Some(&0)
            && value[..value.len() - 1].iter().all(u8::is_ascii_graphic)
        {
            let _ = write!(
                out,
                "{kind}={:?}",
                std::str::from_utf8(&value[..value.len() - 1]).unwrap_or_default()
            );
        } else {
            let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
            let _ = write!(out, "{kind}={hex}");
        }
        let padded = len.next_multiple_of(4);
        assert!(
            padded <= bytes.len(),
            "attribute padding overruns its parent"
        );
        assert!(
            bytes[len..padded].iter().all(|&b| b == 0),
            "padding is zeros"
        );
        bytes = &bytes[padded..];
    }
}

/// One line per message: type, flags, sequence, nfgenmsg, attributes.
fn decode(mut bytes: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    while !bytes.is_empty() {
        let len = u32_at(bytes, 0) as usize;
        assert!(len >= 20 && len <= bytes.len(), "message length {len}");
        assert!(len.is_multiple_of(4), "messages are 4-byte aligned");
        let kind = u16_at(bytes, 4);
        let name = match kind {
            0x10 => "BATCH_BEGIN".to_owned(),
            0x11 => "BATCH_END".to_owned(),
            k if k >> 8 == NFNL_SUBSYS_NFTABLES => match k & 0xff {
                NFT_MSG_NEWTABLE => "NEWTABLE".to_owned(),
                NFT_MSG_DELTABLE => "DELTABLE".to_owned(),
                NFT_MSG_NEWCHAIN => "NEWCHAIN".to_owned(),
                NFT_MSG_NEWRULE => "NEWRULE".to_owned(),
                other => format!("nft message {other}"),
            },
            other => format!("type {other:#x}"),
        };
        let mut line = format!(
            "{name} flags={:#x} seq={} family={} res_id={}",
            u16_at(bytes, 6),
            u32_at(bytes, 8),
            bytes[16],
            u16::from_be_bytes([bytes[18], bytes[19]]),
        );
        assert_eq!(u32_at(bytes, 12), 0, "port id 0: the kernel fills it in");
        if len > 20 {
            line.push_str(" | ");
            attributes(&bytes[20..len], &mut line);
        }
        lines.push(line);
        bytes = &bytes[len..];
    }
    lines
}

fn web() -> Vec<Forward> {
    let endpoint = |last: u8| SocketAddrV4::new(Ipv4Addr::new(172, 18, 0, last), 8080);
    vec![
        Forward {
            protocol: Protocol::Tcp,
            address: Ipv4Addr::new(172, 18, 128, 7),
            port: 80,
            endpoints: vec![endpoint(5), endpoint(6)],
        },
        Forward {
            protocol: Protocol::Udp,
            address: Ipv4Addr::new(172, 18, 128, 7),
            port: 53,
            endpoints: vec![endpoint(9)],
        },
        Forward {
            protocol: Protocol::Tcp,
            address: Ipv4Addr::new(172, 18, 128, 7),
            port: 443,
            endpoints: vec![],
        },
    ]
}

#[test]
fn the_ruleset_batch_decodes_back() {
    let (bytes, requests) = ruleset(100, &web());
    let lines = decode(&bytes);
    insta::assert_snapshot!(lines.join("\n"));
    // Every message between begin and end is listed, in order; only the last is acknowledged.
    let acked: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.contains("flags=0x") && ack_flag(line))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(acked, [lines.len() - 2]);
    let seqs: Vec<u32> = requests.iter().map(|&(seq, _)| seq).collect();
    assert_eq!(
        seqs,
        (101..101 + lines.len() as u32 - 2).collect::<Vec<_>>()
    );
    assert_eq!(
        requests.iter().map(|&(_, kind)| kind).collect::<Vec<_>>(),
        [
            NFT_MSG_NEWTABLE,
            NFT_MSG_DELTABLE,
            NFT_MSG_NEWTABLE,
            NFT_MSG_NEWCHAIN,
            NFT_MSG_NEWCHAIN,
            NFT_MSG_NEWRULE,
            NFT_MSG_NEWRULE,
            NFT_MSG_NEWRULE,
            NFT_MSG_NEWRULE,
        ]
    );
}

/// Whether the decoded line's flags ask for an acknowledgement.
fn ack_flag(line: &str) -> bool {
    let flags = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("flags=0x"))
        .and_then(|hex| u16::from_str_radix(hex, 16).ok())
        .unwrap_or_default();
    flags & NLM_F_ACK != 0
}

#[test]
fn endpoints_are_picked_uniformly_without_a_set() {
    let endpoints: Vec<SocketAddrV4> = (1..=4)
        .map(|last| SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, last), 80))
        .collect();
    let forward = Forward {
        endpoints: endpoints.clone(),
        ..web()[0].clone()
    };
    let rules = dnat_rules(&forward);
    let moduli: Vec<Option<u32>> = rules
        .iter()
        .map(|rule| {
            rule.iter().find_map(|expr| match expr {
                Expr::Numgen { modulus, .. } => Some(*modulus),
                _ => None,
            })
        })
        .collect();
    // 1/4, then 1/3 of the rest, 1/2 of the rest, and the last takes what is left.
    assert_eq!(moduli, [Some(4), Some(3), Some(2), None]);
    let targets: Vec<Vec<u8>> = rules
        .iter()
        .map(|rule| match &rule[rule.len() - 3] {
            Expr::Immediate { data, .. } => data.clone(),
            other => panic!("expected the endpoint's address, got {other:?}"),
        })
        .collect();
    let expected: Vec<Vec<u8>> = endpoints.iter().map(|e| e.ip().octets().to_vec()).collect();
    assert_eq!(targets, expected);
    assert!(dnat_rules(&web()[2]).is_empty(), "no endpoints, no rule");
}

#[test]
fn an_empty_ruleset_keeps_the_table_and_the_masquerade() {
    let (bytes, _) = ruleset(1, &[]);
    let lines = decode(&bytes);
    assert_eq!(lines.len(), 2 + 5 + 1, "{lines:#?}");
    assert!(lines[6].contains("\"masq\""), "{}", lines[6]);
}
