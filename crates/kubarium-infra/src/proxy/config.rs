//! The proxy's configuration file, as the services controller renders it:
//!
//! ```text
//! # kubarium proxy v1
//! affinity 10800
//! tcp 80 30080 -> 172.18.0.5:8080 172.18.0.6:8080
//! udp 53 -> 172.18.0.7:5353
//! tcp 443 ->
//! ```
//!
//! One directive per line, `#` starts a comment line, blank lines are ignored. A line that
//! does not parse fails the whole file, with its line number, so the proxy keeps the previous
//! configuration rather than serving half of a new one.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// A parsed configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Config {
    /// sessionAffinity ClientIP with this timeout; `None` = plain round robin.
    pub(crate) affinity: Option<Duration>,
    /// One per Service port, in file order.
    pub(crate) rules: Vec<Rule>,
}

/// One `tcp`/`udp` line: the ports one Service port is reached on, and its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) protocol: Protocol,
    /// The service port and, for NodePort/LoadBalancer Services, the nodePort.
    pub(crate) ports: Vec<u16>,
    /// Ready endpoints; empty = refuse (TCP) or drop (UDP).
    pub(crate) endpoints: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        })
    }
}

pub(crate) use crate::conf::ParseError;

impl Config {
    pub(crate) fn parse(text: &str) -> Result<Self, ParseError> {
        let mut config = Self::default();
        let mut seen = HashSet::new();
        for (number, line) in crate::conf::lines(text) {
            let fail = |message: String| ParseError {
                line: number,
                message,
            };
            let mut fields = line.split_ascii_whitespace();
            let directive = fields.next().unwrap_or_default();
            let rest: Vec<&str> = fields.collect();
            match directive {
                "affinity" => {
                    if config.affinity.is_some() {
                        return Err(fail("affinity is given twice".into()));
                    }
                    let [seconds] = rest[..] else {
                        return Err(fail("expected `affinity <seconds>`".into()));
                    };
                    match seconds.parse::<u32>() {
                        Ok(seconds) if seconds > 0 => {
                            config.affinity = Some(Duration::from_secs(seconds.into()));
                        }
                        _ => {
                            return Err(fail(format!(
                                "affinity timeout must be a positive number of seconds, not {seconds:?}"
                            )));
                        }
                    }
                }
                "tcp" | "udp" => {
                    let protocol = if directive == "tcp" {
                        Protocol::Tcp
                    } else {
                        Protocol::Udp
                    };
                    let rule = parse_rule(protocol, &rest).map_err(fail)?;
                    for &port in &rule.ports {
                        if !seen.insert((protocol, port)) {
                            return Err(fail(format!(
                                "{protocol} port {port} is listed twice in the file"
                            )));
                        }
                    }
                    config.rules.push(rule);
                }
                other => {
                    return Err(fail(format!(
                        "unknown directive {other:?} (expected affinity, tcp or udp)"
                    )));
                }
            }
        }
        Ok(config)
    }

    /// How many ports the configuration listens on.
    pub(crate) fn port_count(&self) -> usize {
        self.rules.iter().map(|rule| rule.ports.len()).sum()
    }
}

fn parse_rule(protocol: Protocol, fields: &[&str]) -> Result<Rule, String> {
    let Some(arrow) = fields.iter().position(|&field| field == "->") else {
        return Err(format!(
            "expected `{protocol} <port>... -> <ip:port>...` (no `->`)"
        ));
    };
    if arrow == 0 {
        return Err(format!("{protocol} line lists no port to listen on"));
    }
    let ports = fields[..arrow]
        .iter()
        .map(|&field| match field.parse::<u16>() {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(format!(
                "listen port must be a number from 1 to 65535, not {field:?}"
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let endpoints = fields[arrow + 1..]
        .iter()
        .map(|&field| match field.parse::<SocketAddr>() {
            Ok(address) if address.port() > 0 => Ok(address),
            _ => Err(format!("endpoint must be <ip>:<port>, not {field:?}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        protocol,
        ports,
        endpoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse()
            .unwrap_or_else(|_| panic!("bad address {text}"))
    }

    #[test]
    fn the_contract_example_parses() {
        let text = "# kubarium proxy v1\n\
                    affinity 10800\n\
                    tcp 80 30080 -> 172.18.0.5:8080 172.18.0.6:8080\n\
                    \n\
                    udp 53 -> 172.18.0.7:5353\n\
                    tcp 443 ->\n";
        let config = Config::parse(text);
        assert_eq!(
            config,
            Ok(Config {
                affinity: Some(Duration::from_secs(10800)),
                rules: vec![
                    Rule {
                        protocol: Protocol::Tcp,
                        ports: vec![80, 30080],
                        endpoints: vec![addr("172.18.0.5:8080"), addr("172.18.0.6:8080")],
                    },
                    Rule {
                        protocol: Protocol::Udp,
                        ports: vec![53],
                        endpoints: vec![addr("172.18.0.7:5353")],
                    },
                    Rule {
                        protocol: Protocol::Tcp,
                        ports: vec![443],
                        endpoints: vec![],
                    },
                ],
            })
        );
        assert_eq!(config.map(|c| c.port_count()), Ok(4));
    }

    #[test]
    fn an_empty_file_is_an_empty_configuration() {
        assert_eq!(Config::parse(""), Ok(Config::default()));
        assert_eq!(Config::parse("# only a comment\n\n"), Ok(Config::default()));
    }

    #[test]
    fn the_same_port_may_serve_tcp_and_udp() {
        let config = Config::parse("tcp 53 -> 10.0.0.1:53\nudp 53 -> 10.0.0.1:53\n");
        assert_eq!(config.map(|c| c.rules.len()), Ok(2));
    }

    #[test]
    fn errors_name_their_line() {
        let cases = [
            (
                "# ok\nroute 80 -> 1.2.3.4:80",
                2,
                "unknown directive \"route\"",
            ),
            ("tcp 80 1.2.3.4:80", 1, "no `->`"),
            ("tcp -> 1.2.3.4:80", 1, "no port to listen on"),
            ("\n\ntcp 0 -> 1.2.3.4:80", 3, "not \"0\""),
            ("tcp 70000 -> 1.2.3.4:80", 1, "not \"70000\""),
            (
                "udp 53 -> 1.2.3.4",
                1,
                "endpoint must be <ip>:<port>, not \"1.2.3.4\"",
            ),
            ("udp 53 -> web:53", 1, "not \"web:53\""),
            ("udp 53 -> 1.2.3.4:0", 1, "not \"1.2.3.4:0\""),
            ("affinity", 1, "expected `affinity <seconds>`"),
            ("affinity 0", 1, "positive number of seconds"),
            ("affinity soon", 1, "not \"soon\""),
            ("affinity 10\naffinity 20", 2, "twice"),
            (
                "tcp 80 -> 1.2.3.4:80\ntcp 81 80 ->",
                2,
                "tcp port 80 is listed twice",
            ),
        ];
        for (text, line, message) in cases {
            match Config::parse(text) {
                Ok(config) => panic!("{text:?} parsed as {config:?}"),
                Err(error) => {
                    assert_eq!(error.line, line, "{text:?}: {error}");
                    assert!(
                        error.message.contains(message),
                        "{text:?}: {error} does not contain {message:?}"
                    );
                    assert!(error.to_string().starts_with(&format!("line {line}: ")));
                }
            }
        }
    }
}
