//! The `dns` configuration file (`# kubarium dns v1`) and the lookup table built from it.
//!
//! ```text
//! domain cluster.local
//! upstream 127.0.0.11
//! ttl 5
//! a web.default.svc.cluster.local 172.18.128.7
//! cname db.default.svc.cluster.local db.example.com
//! srv _http._tcp.web.default.svc.cluster.local 0 100 80 web.default.svc.cluster.local
//! ```
//!
//! Names are stored lower case, without the trailing dot. `upstream` takes an address with an
//! optional port (53 by default), so tests can point it at a socket of their own.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};

/// The answers' TTL when the file names none.
pub(crate) const DEFAULT_TTL: u32 = 5;

pub(crate) use crate::conf::ParseError;

/// An SRV record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Srv {
    pub(crate) priority: u16,
    pub(crate) weight: u16,
    pub(crate) port: u16,
    pub(crate) target: String,
}

/// Everything configured for one name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) a: Vec<Ipv4Addr>,
    pub(crate) cname: Option<String>,
    pub(crate) srv: Vec<Srv>,
}

/// A parsed configuration: what the server answers and where it forwards the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zone {
    /// The cluster domain, authoritative: unknown names under it are NXDOMAIN.
    pub(crate) domain: Option<String>,
    pub(crate) upstream: Option<SocketAddr>,
    pub(crate) ttl: u32,
    pub(crate) names: HashMap<String, Node>,
    /// Reverse names (`5.0.18.172.in-addr.arpa`) → the first name given for the address.
    pub(crate) reverse: HashMap<String, String>,
    /// Names under the domain that exist only as parents of configured names (such as
    /// `svc.cluster.local`): NOERROR without data, not NXDOMAIN (RFC 8020).
    pub(crate) parents: HashSet<String>,
    /// How many `a`, `cname` and `srv` lines were loaded.
    pub(crate) records: usize,
}

impl Default for Zone {
    fn default() -> Self {
        Self {
            domain: None,
            upstream: None,
            ttl: DEFAULT_TTL,
            names: HashMap::new(),
            reverse: HashMap::new(),
            parents: HashSet::new(),
            records: 0,
        }
    }
}

impl Zone {
    /// Parses a whole file.
    pub(crate) fn parse(text: &str) -> Result<Self, ParseError> {
        let mut zone = Self::default();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut cname_lines: HashMap<String, usize> = HashMap::new();
        for (line, trimmed) in crate::conf::lines(text) {
            let error = |message: String| ParseError { line, message };
            let fields: Vec<&str> = trimmed.split(' ').collect();
            let (directive, args) = (fields[0], &fields[1..]);
            if args.iter().any(|field| field.is_empty()) {
                return Err(error("fields must be separated by single spaces".into()));
            }
            let want = |count: usize, shape: &str| {
                if args.len() == count {
                    Ok(())
                } else {
                    Err(error(format!("expected `{directive} {shape}`")))
                }
            };
            if matches!(directive, "domain" | "upstream" | "ttl")
                && let Some(first) = seen.insert(directive, line)
            {
                return Err(error(format!(
                    "`{directive}` given twice (first on line {first})"
                )));
            }
            match directive {
                "domain" => {
                    want(1, "<name>")?;
                    zone.domain = Some(name(args[0]).map_err(error)?);
                }
                "upstream" => {
                    want(1, "<ip>[:<port>]")?;
                    let address = args[0]
                        .parse::<SocketAddr>()
                        .or_else(|_| {
                            args[0]
                                .parse::<Ipv4Addr>()
                                .map(|ip| SocketAddr::from((ip, 53)))
                        })
                        .map_err(|_| {
                            error(format!(
                                "upstream must be an IP address, optionally with :port, not {:?}",
                                args[0]
                            ))
                        })?;
                    zone.upstream = Some(address);
                }
                "ttl" => {
                    want(1, "<seconds>")?;
                    zone.ttl = args[0].parse().map_err(|_| {
                        error(format!(
                            "ttl must be a number of seconds, not {:?}",
                            args[0]
                        ))
                    })?;
                }
                "a" => {
                    want(2, "<name> <ipv4>")?;
                    let owner = name(args[0]).map_err(error)?;
                    let ip: Ipv4Addr = args[1]
                        .parse()
                        .map_err(|_| error(format!("{:?} is not an IPv4 address", args[1])))?;
                    let node = zone.names.entry(owner.clone()).or_default();
                    if !node.a.contains(&ip) {
                        node.a.push(ip);
                    }
                    zone.reverse.entry(reverse_name(ip)).or_insert(owner);
                    zone.records += 1;
                }
                "cname" => {
                    want(2, "<name> <target>")?;
                    let owner = name(args[0]).map_err(error)?;
                    let target = name(args[1]).map_err(error)?;
                    if let Some(first) = cname_lines.insert(owner.clone(), line) {
                        return Err(error(format!(
                            "{owner} has a cname already (line {first}); a name has at most one"
                        )));
                    }
                    zone.names.entry(owner).or_default().cname = Some(target);
                    zone.records += 1;
                }
                "srv" => {
                    want(5, "<name> <priority> <weight> <port> <target>")?;
                    let owner = name(args[0]).map_err(error)?;
                    let number = |text: &str, what: &str| {
                        text.parse::<u16>().map_err(|_| {
                            error(format!("srv {what} must be a number 0-65535, not {text:?}"))
                        })
                    };
                    let srv = Srv {
                        priority: number(args[1], "priority")?,
                        weight: number(args[2], "weight")?,
                        port: number(args[3], "port")?,
                        target: name(args[4]).map_err(error)?,
                    };
                    zone.names.entry(owner).or_default().srv.push(srv);
                    zone.records += 1;
                }
                other => {
                    return Err(error(format!(
                        "unknown directive {other:?} (expected domain, upstream, ttl, a, cname or srv)"
                    )));
                }
            }
        }
        // RFC 1034 §3.6.2: a name with a CNAME has no other data.
        for (owner, line) in &cname_lines {
            if let Some(node) = zone.names.get(owner)
                && (!node.a.is_empty() || !node.srv.is_empty())
            {
                return Err(ParseError {
                    line: *line,
                    message: format!(
                        "{owner} has a cname and other records; a cname must stand alone"
                    ),
                });
            }
        }
        if let Some(domain) = &zone.domain {
            let suffix = format!(".{domain}");
            for owner in zone.names.keys() {
                let mut rest = owner.as_str();
                while let Some((_, parent)) = rest.split_once('.') {
                    if !parent.ends_with(&suffix) {
                        break;
                    }
                    zone.parents.insert(parent.to_string());
                    rest = parent;
                }
            }
        }
        Ok(zone)
    }

    /// Whether `key` is the domain or a name under it.
    pub(crate) fn is_authoritative_for(&self, key: &str) -> bool {
        self.domain.as_deref().is_some_and(|domain| {
            key == domain
                || key
                    .strip_suffix(domain)
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

/// `d.c.b.a.in-addr.arpa` for `a.b.c.d`.
pub(crate) fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// A configured name, validated and normalised: lower case, no trailing dot, labels of 1-63
/// letters, digits, `-` and `_`, 253 characters at most.
fn name(text: &str) -> Result<String, String> {
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    if trimmed.is_empty() || trimmed.len() > 253 {
        return Err(format!(
            "{text:?} is not a valid domain name (1-253 characters)"
        ));
    }
    for label in trimmed.split('.') {
        if label.is_empty()
            || label.len() > 63
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "{text:?} is not a valid domain name (labels of 1-63 letters, digits, '-' or '_')"
            ));
        }
    }
    Ok(trimmed.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "# kubarium dns v1
domain cluster.local
upstream 127.0.0.11
ttl 7

a web.default.svc.cluster.local 172.18.128.7
a Web-0.web.default.svc.cluster.local. 172.18.0.5
a web-0.web.default.svc.cluster.local 172.18.0.5
a other.default.svc.cluster.local 172.18.0.5
cname db.default.svc.cluster.local db.example.com
srv _http._tcp.web.default.svc.cluster.local 0 100 80 web.default.svc.cluster.local
";

    #[test]
    fn the_contract_example_parses() {
        let zone = Zone::parse(EXAMPLE).unwrap();
        assert_eq!(zone.domain.as_deref(), Some("cluster.local"));
        assert_eq!(zone.upstream, Some("127.0.0.11:53".parse().unwrap()));
        assert_eq!(zone.ttl, 7);
        assert_eq!(zone.records, 6);
        assert_eq!(
            zone.names["web-0.web.default.svc.cluster.local"].a,
            vec![Ipv4Addr::new(172, 18, 0, 5)]
        );
        assert_eq!(
            zone.names["db.default.svc.cluster.local"].cname.as_deref(),
            Some("db.example.com")
        );
        assert_eq!(
            zone.names["_http._tcp.web.default.svc.cluster.local"].srv,
            vec![Srv {
                priority: 0,
                weight: 100,
                port: 80,
                target: "web.default.svc.cluster.local".into()
            }]
        );
        // The first name given for an address answers its PTR.
        assert_eq!(
            zone.reverse["5.0.18.172.in-addr.arpa"],
            "web-0.web.default.svc.cluster.local"
        );
        for parent in [
            "web.default.svc.cluster.local",
            "default.svc.cluster.local",
            "svc.cluster.local",
            "_tcp.web.default.svc.cluster.local",
        ] {
            assert!(zone.parents.contains(parent), "{parent}");
        }
        assert!(!zone.parents.contains("cluster.local"));
        assert!(!zone.parents.contains("local"));
    }

    /// What the services controller renders (its snapshot in kubarium-node's
    /// `services/dns.rs`): the two sides of the contract agree.
    const RENDERED: &str = "# kubarium dns v1
domain cluster.local
upstream 127.0.0.11
ttl 5
a 10-244-3-10.db.default.svc.cluster.local 10.244.3.10
a db-0.db.default.svc.cluster.local 10.244.2.7
a db-1.db.default.svc.cluster.local 10.244.3.8
a db.default.svc.cluster.local 10.244.2.7
a db.default.svc.cluster.local 10.244.3.8
a db.default.svc.cluster.local 10.244.3.10
srv _pg._tcp.db.default.svc.cluster.local 0 33 5432 db-0.db.default.svc.cluster.local
srv _pg._tcp.db.default.svc.cluster.local 0 33 5432 db-1.db.default.svc.cluster.local
srv _pg._tcp.db.default.svc.cluster.local 0 33 5432 10-244-3-10.db.default.svc.cluster.local
cname ext.default.svc.cluster.local db.example.com
a warm-0.warm.default.svc.cluster.local 10.244.4.2
a warm-1.warm.default.svc.cluster.local 10.244.4.3
a warm.default.svc.cluster.local 10.244.4.2
a warm.default.svc.cluster.local 10.244.4.3
a web.default.svc.cluster.local 10.96.0.20
srv _http._tcp.web.default.svc.cluster.local 0 100 80 web.default.svc.cluster.local
a kube-dns.kube-system.svc.cluster.local 10.96.0.10
srv _dns._udp.kube-dns.kube-system.svc.cluster.local 0 100 53 kube-dns.kube-system.svc.cluster.local
srv _dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local 0 100 53 kube-dns.kube-system.svc.cluster.local
a 10-244-1-5.default.pod.cluster.local 10.244.1.5
a 10-244-1-6.default.pod.cluster.local 10.244.1.6
a 10-244-2-7.default.pod.cluster.local 10.244.2.7
a 10-244-3-8.default.pod.cluster.local 10.244.3.8
a 10-244-3-9.default.pod.cluster.local 10.244.3.9
a 10-244-3-10.default.pod.cluster.local 10.244.3.10
";

    #[test]
    fn the_services_controllers_rendering_parses() {
        let zone = Zone::parse(RENDERED).unwrap();
        assert_eq!(zone.records, 25);
        assert_eq!(zone.names["db.default.svc.cluster.local"].a.len(), 3);
        assert_eq!(
            zone.names["_pg._tcp.db.default.svc.cluster.local"]
                .srv
                .len(),
            3
        );
        assert_eq!(
            zone.reverse["10.3.244.10.in-addr.arpa"],
            "10-244-3-10.db.default.svc.cluster.local"
        );
        assert!(zone.parents.contains("default.pod.cluster.local"));
    }

    #[test]
    fn an_empty_file_is_an_empty_zone() {
        let zone = Zone::parse("# kubarium dns v1\n\n").unwrap();
        assert_eq!(zone, Zone::default());
        assert_eq!(zone.ttl, DEFAULT_TTL);
    }

    #[test]
    fn upstream_takes_an_optional_port() {
        let zone = Zone::parse("upstream 127.0.0.1:5353").unwrap();
        assert_eq!(zone.upstream, Some("127.0.0.1:5353".parse().unwrap()));
    }

    #[test]
    fn authority_covers_the_domain_and_below_only() {
        let zone = Zone::parse("domain cluster.local").unwrap();
        assert!(zone.is_authoritative_for("cluster.local"));
        assert!(zone.is_authoritative_for("x.svc.cluster.local"));
        assert!(!zone.is_authoritative_for("mycluster.local"));
        assert!(!zone.is_authoritative_for("local"));
        assert!(!Zone::default().is_authoritative_for("cluster.local"));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("domain a\nfoo bar\n", 2, "unknown directive \"foo\""),
            ("\n# c\na web 1.2.3\n", 3, "not an IPv4 address"),
            ("a web  1.2.3.4", 1, "single spaces"),
            ("a web", 1, "expected `a <name> <ipv4>`"),
            ("ttl 5\nttl 6", 2, "given twice (first on line 1)"),
            ("ttl five", 1, "ttl must be a number"),
            ("upstream dns.google", 1, "upstream must be an IP address"),
            (
                "srv _a._tcp.x 0 100 99999 x",
                1,
                "srv port must be a number",
            ),
            ("a bad..name 1.2.3.4", 1, "not a valid domain name"),
            ("a bad/name 1.2.3.4", 1, "not a valid domain name"),
            ("cname x y\ncname x z", 2, "has a cname already (line 1)"),
            ("cname x y\na x 1.2.3.4", 1, "a cname must stand alone"),
        ];
        for (text, line, message) in cases {
            let error = Zone::parse(text).unwrap_err();
            assert_eq!(error.line, line, "{text:?}: {error}");
            assert!(error.message.contains(message), "{text:?}: {error}");
        }
        let long = format!("a {}.x 1.2.3.4", "a".repeat(64));
        assert!(Zone::parse(&long).is_err());
    }
}
