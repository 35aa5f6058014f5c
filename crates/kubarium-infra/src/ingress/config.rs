//! The ingress unit's configuration file (`/etc/kubarium/config`), as the services controller
//! renders it: one directive per line, fields separated by single spaces, `#` comment lines.
//!
//! ```text
//! # kubarium ingress v1
//! http 80
//! https 443
//! cert web.example.com /etc/kubarium/tls/default_web-tls.pem
//! route web.example.com Prefix /api default/web -> 172.18.0.5:8080 172.18.0.6:8080
//! default default/web -> 172.18.0.5:8080
//! ```
//!
//! Parsing is strict — an unknown directive or a malformed field is an error naming its line —
//! because a file that does not parse is rejected whole and the previous one kept.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A parsed configuration file. Routes and certificates keep the file's order: among equal
/// rules the first one wins, as the oldest Ingress does upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Config {
    /// The plain HTTP listener's port, if any.
    pub(crate) http: Option<u16>,
    /// The TLS listener's port, if any.
    pub(crate) https: Option<u16>,
    pub(crate) certs: Vec<CertLine>,
    pub(crate) routes: Vec<Route>,
    /// The backend when no route matches (an Ingress's `defaultBackend`).
    pub(crate) default: Option<Backend>,
}

/// `cert <host> <pem file>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertLine {
    pub(crate) host: HostRule,
    pub(crate) file: PathBuf,
}

/// `route <host> <kind> <path> <ns/name> -> <ip:port>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) host: HostRule,
    pub(crate) kind: PathKind,
    pub(crate) path: String,
    pub(crate) backend: Backend,
}

/// Where matched requests go: the Ingress that asked (for messages) and the ready endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backend {
    /// `<namespace>/<name>` of the Ingress the rule came from.
    pub(crate) ingress: String,
    pub(crate) endpoints: Vec<SocketAddr>,
}

/// The host part of a rule, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HostRule {
    /// `*`: every host.
    Any,
    /// `web.example.com`.
    Exact(String),
    /// `*.example.com`, kept as the suffix `.example.com`; matches exactly one more label.
    Wildcard(String),
}

/// An Ingress path's `pathType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathKind {
    Exact,
    Prefix,
    /// Left to the controller by the spec; Kubarium treats it as `Prefix`.
    ImplementationSpecific,
}

pub(crate) use crate::conf::ParseError;

impl Config {
    /// Parses a whole file.
    pub(crate) fn parse(text: &str) -> Result<Self, ParseError> {
        let mut config = Config::default();
        for (number, line) in crate::conf::lines(text) {
            config.directive(line).map_err(|message| ParseError {
                line: number,
                message,
            })?;
        }
        Ok(config)
    }

    fn directive(&mut self, line: &str) -> Result<(), String> {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.iter().any(|field| field.is_empty()) {
            return Err(format!("fields are separated by single spaces: {line:?}"));
        }
        match fields[0] {
            "http" | "https" => {
                let [_, port] = fields[..] else {
                    return Err(format!("expected `{} <port>`", fields[0]));
                };
                let port: u16 = port
                    .parse()
                    .map_err(|_| format!("{port:?} is not a port number (0-65535)"))?;
                let slot = if fields[0] == "http" {
                    &mut self.http
                } else {
                    &mut self.https
                };
                if slot.is_some() {
                    return Err(format!("a second `{}` listener", fields[0]));
                }
                *slot = Some(port);
            }
            "cert" => {
                let [_, host, file] = fields[..] else {
                    return Err("expected `cert <host|*|*.domain> <pem file>`".to_owned());
                };
                self.certs.push(CertLine {
                    host: HostRule::parse(host)?,
                    file: PathBuf::from(file),
                });
            }
            "route" => {
                let Some(arrow) = fields.iter().position(|field| *field == "->") else {
                    return Err(
                        "expected `route <host> <Exact|Prefix|ImplementationSpecific> \
                                <path> <ns/name> -> <ip:port>...`"
                            .to_owned(),
                    );
                };
                let [_, host, kind, path, ingress] = fields[..arrow] else {
                    return Err(
                        "expected `route <host> <Exact|Prefix|ImplementationSpecific> \
                                <path> <ns/name> -> <ip:port>...`"
                            .to_owned(),
                    );
                };
                let kind = match kind {
                    "Exact" => PathKind::Exact,
                    "Prefix" => PathKind::Prefix,
                    "ImplementationSpecific" => PathKind::ImplementationSpecific,
                    other => {
                        return Err(format!(
                            "path type {other:?} is not Exact, Prefix or ImplementationSpecific"
                        ));
                    }
                };
                if !path.starts_with('/') {
                    return Err(format!("path {path:?} must start with `/`"));
                }
                self.routes.push(Route {
                    host: HostRule::parse(host)?,
                    kind,
                    path: path.to_owned(),
                    backend: Backend::parse(ingress, &fields[arrow + 1..])?,
                });
            }
            "default" => {
                if fields.len() < 3 || fields[2] != "->" {
                    return Err("expected `default <ns/name> -> <ip:port>...`".to_owned());
                }
                if self.default.is_some() {
                    return Err("a second `default` backend".to_owned());
                }
                self.default = Some(Backend::parse(fields[1], &fields[3..])?);
            }
            other => {
                return Err(format!(
                    "unknown directive {other:?} (expected http, https, cert, route or default)"
                ));
            }
        }
        Ok(())
    }

    /// The load summary logged after each (re)load; `left_out` certificates could not be used.
    pub(crate) fn summary(&self, left_out: usize) -> String {
        let ports = usize::from(self.http.is_some()) + usize::from(self.https.is_some());
        let mut summary = format!(
            "loaded {ports} ports / {} routes / {} certs",
            self.routes.len(),
            self.certs.len().saturating_sub(left_out),
        );
        if self.default.is_some() {
            summary.push_str(" / a default backend");
        }
        if left_out > 0 {
            summary.push_str(&format!(" ({left_out} certs left out)"));
        }
        summary
    }
}

impl HostRule {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let host = text.to_ascii_lowercase();
        if host == "*" {
            return Ok(HostRule::Any);
        }
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host.as_str()),
        };
        let valid = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(format!(
                "host {text:?} is not a DNS name, `*.` and a DNS name, or `*`"
            ));
        }
        Ok(if wildcard {
            HostRule::Wildcard(format!(".{name}"))
        } else {
            HostRule::Exact(name.to_owned())
        })
    }
}

impl Backend {
    fn parse(ingress: &str, endpoints: &[&str]) -> Result<Self, String> {
        if !ingress.contains('/') {
            return Err(format!(
                "{ingress:?} is not an Ingress's <namespace>/<name>"
            ));
        }
        let endpoints = endpoints
            .iter()
            .map(|text| {
                text.parse()
                    .map_err(|_| format!("endpoint {text:?} is not <ip>:<port>"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Backend {
            ingress: ingress.to_owned(),
            endpoints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "# kubarium ingress v1
http 80
https 443
cert web.example.com /etc/kubarium/tls/default_web-tls.pem
cert * /etc/kubarium/tls/default_fallback.pem

route web.example.com Prefix /api default/web -> 172.18.0.5:8080 172.18.0.6:8080
route * Exact /healthz default/web -> 172.18.0.5:8080
route *.Example.com Prefix / default/wild -> 172.18.0.9:80
route web.example.com ImplementationSpecific /empty default/none ->
default default/web -> 172.18.0.5:8080
";

    #[test]
    fn the_contract_example_parses() {
        let config = Config::parse(EXAMPLE).unwrap();
        assert_eq!(config.http, Some(80));
        assert_eq!(config.https, Some(443));
        assert_eq!(config.certs.len(), 2);
        assert_eq!(config.certs[1].host, HostRule::Any);
        assert_eq!(config.routes.len(), 4);
        assert_eq!(
            config.routes[0],
            Route {
                host: HostRule::Exact("web.example.com".to_owned()),
                kind: PathKind::Prefix,
                path: "/api".to_owned(),
                backend: Backend {
                    ingress: "default/web".to_owned(),
                    endpoints: vec![
                        "172.18.0.5:8080".parse().unwrap(),
                        "172.18.0.6:8080".parse().unwrap()
                    ],
                },
            }
        );
        assert_eq!(
            config.routes[2].host,
            HostRule::Wildcard(".example.com".to_owned())
        );
        assert_eq!(config.routes[3].kind, PathKind::ImplementationSpecific);
        assert!(config.routes[3].backend.endpoints.is_empty());
        assert_eq!(config.default.as_ref().unwrap().ingress, "default/web");
        assert_eq!(
            config.summary(0),
            "loaded 2 ports / 4 routes / 2 certs / a default backend"
        );
        assert_eq!(
            config.summary(1),
            "loaded 2 ports / 4 routes / 1 certs / a default backend (1 certs left out)"
        );
    }

    #[test]
    fn an_empty_file_is_an_empty_configuration() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert_eq!(
            Config::parse("# nothing yet\n\n").unwrap(),
            Config::default()
        );
    }

    #[track_caller]
    fn error(text: &str) -> ParseError {
        Config::parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_their_line() {
        let e = error("http 80\n# fine\nlisten 90\n");
        assert_eq!(e.line, 3);
        assert!(e.message.contains("unknown directive \"listen\""), "{e}");
        assert!(e.to_string().starts_with("line 3: "));

        let e = error("http 80\nhttp 81\n");
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "a second `http` listener")
        );
        assert_eq!(error("https 70000").line, 1);
        assert!(error("http  80").message.contains("single spaces"));
        // Like the other modes' files, lines are trimmed first.
        assert_eq!(Config::parse(" http 80 \r\n").unwrap().http, Some(80));
    }

    #[test]
    fn malformed_routes_are_errors() {
        let cases = [
            ("route a.test Prefix /x default/web", "expected `route"),
            (
                "route a.test Regex /x default/web -> 1.2.3.4:80",
                "path type \"Regex\"",
            ),
            (
                "route a.test Prefix x default/web -> 1.2.3.4:80",
                "must start with `/`",
            ),
            (
                "route a.*.test Prefix /x default/web -> 1.2.3.4:80",
                "is not a DNS name",
            ),
            (
                "route a.test Prefix /x web -> 1.2.3.4:80",
                "<namespace>/<name>",
            ),
            (
                "route a.test Prefix /x default/web -> 1.2.3.4",
                "is not <ip>:<port>",
            ),
            (
                "route a.test Prefix /x extra default/web -> 1.2.3.4:80",
                "expected `route",
            ),
            ("default default/web 1.2.3.4:80", "expected `default"),
            (
                "default default/a ->\ndefault default/b ->",
                "a second `default`",
            ),
            ("cert a.test", "expected `cert"),
        ];
        for (text, expected) in cases {
            let e = error(&format!("http 80\n{text}"));
            assert_eq!(e.line, 2 + text.matches('\n').count(), "{text}");
            assert!(e.message.contains(expected), "{text}: {e}");
        }
    }
}
