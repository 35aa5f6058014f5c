//! Running one probe, as the kubelet's probers do: `exec` through the runtime's
//! `exec_sync`, `httpGet` (HTTP, or HTTPS without verifying the certificate, as upstream) and
//! `tcpSocket` against the pod's address, and `grpc` (the health protocol's `Check` call,
//! in `grpc.rs`). Outcomes and their messages read as upstream's (`HTTP probe failed with
//! statuscode: 500`, `dial tcp 10.244.1.5:80: connect: connection refused`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::TcpStream;

use crate::runtime::{ContainerId, ContainerRuntime, Duplex};

/// What one probe run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Passed.
    Success,
    /// Failed, with the prober's output.
    Failure(String),
    /// Could not be run (a bad port name, an unsupported handler): the result is thrown
    /// away, as the kubelet does with probe errors.
    Error(String),
}

/// What a probe does, resolved against its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Exec(Vec<String>),
    Http {
        https: bool,
        host: Option<String>,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: Option<String>,
        port: u16,
    },
    /// `grpc.health.v1.Health/Check` for `service` ("" = the server as a whole).
    Grpc {
        port: u16,
        service: String,
    },
}

/// A port by number or by the container's port name, as the kubelet's `extractPort`.
pub(crate) fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            let named = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .map(|p| p.container_port);
            match named {
                Some(n) => n,
                None => name
                    .parse()
                    .map_err(|_| format!("strconv.Atoi: parsing {name:?}: invalid syntax"))?,
            }
        }
    };
    u16::try_from(number)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid port number: {number}"))
}

/// The probe's handler, or why it cannot run.
pub(crate) fn action(probe: &Probe, container: &Container) -> Result<Action, String> {
    if let Some(exec) = &probe.exec {
        return Ok(Action::Exec(exec.command.clone().unwrap_or_default()));
    }
    if let Some(http) = &probe.http_get {
        let path = http.path.clone().unwrap_or_default();
        return Ok(Action::Http {
            https: http
                .scheme
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("https")),
            host: http.host.clone().filter(|h| !h.is_empty()),
            port: resolve_port(&http.port, container)?,
            path: if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            },
            headers: http
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        });
    }
    if let Some(tcp) = &probe.tcp_socket {
        return Ok(Action::Tcp {
            host: tcp.host.clone().filter(|h| !h.is_empty()),
            port: resolve_port(&tcp.port, container)?,
        });
    }
    if let Some(grpc) = &probe.grpc {
        return Ok(Action::Grpc {
            port: resolve_port(&IntOrString::Int(grpc.port), container)?,
            service: grpc.service.clone().unwrap_or_default(),
        });
    }
    Err(format!("missing probe handler for {}", container.name))
}

/// `HTTP probe failed with statuscode: 503` unless the code is 200–399.
pub(crate) fn http_outcome(code: u16) -> Outcome {
    if (200..400).contains(&code) {
        Outcome::Success
    } else {
        Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// The `User-Agent` of HTTP probes: `kube-probe/<major>.<minor>` of `kubelet_version`
/// (`v1.33.0+kubarium.0.1.0` → `kube-probe/1.33`).
pub(crate) fn user_agent(kubelet_version: &str) -> String {
    let version = kubelet_version.trim_start_matches('v');
    let mut parts = version.split(['.', '+', '-']);
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("kube-probe/{major}.{minor}"),
        _ => "kube-probe".to_owned(),
    }
}

/// How a failed dial reads in Go: `dial tcp 10.244.1.5:80: connect: connection refused`.
fn dial_error(addr: &SocketAddr, error: &std::io::Error) -> String {
    let what = match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_owned(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_owned(),
        std::io::ErrorKind::HostUnreachable => "connect: no route to host".to_owned(),
        std::io::ErrorKind::NetworkUnreachable => "connect: network is unreachable".to_owned(),
        _ => error.to_string(),
    };
    format!("dial tcp {addr}: {what}")
}

/// Where and how a probe reaches its container.
pub(crate) struct Target {
    pub(crate) runtime: Arc<dyn ContainerRuntime>,
    pub(crate) id: ContainerId,
    /// The pod's address (the host's with `hostNetwork`).
    pub(crate) ip: IpAddr,
    pub(crate) user_agent: String,
}

/// Runs `action` once against `target`, giving it `timeout`.
pub(crate) async fn run(target: &Target, action: &Action, timeout: Duration) -> Outcome {
    match action {
        Action::Exec(command) => exec(target, command, timeout).await,
        Action::Tcp { host, port } => {
            let ip = match host_ip(host.as_deref(), target.ip) {
                Ok(ip) => ip,
                Err(error) => return Outcome::Error(error),
            };
            let addr = SocketAddr::new(ip, *port);
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(_)) => Outcome::Success,
                Ok(Err(error)) => Outcome::Failure(dial_error(&addr, &error)),
                Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
            }
        }
        Action::Grpc { port, service } => {
            let addr = SocketAddr::new(target.ip, *port);
            super::grpc::probe(addr, service, timeout, &target.user_agent).await
        }
        Action::Http {
            https,
            host,
            port,
            path,
            headers,
        } => {
            let ip = match host_ip(host.as_deref(), target.ip) {
                Ok(ip) => ip,
                Err(error) => return Outcome::Error(error),
            };
            let addr = SocketAddr::new(ip, *port);
            let url = format!("{}://{}{path}", if *https { "https" } else { "http" }, addr);
            let get = http_get(addr, *https, path, headers, &target.user_agent);
            match tokio::time::timeout(timeout, get).await {
                Ok(Ok(code)) => http_outcome(code),
                Ok(Err(Failed::Dial(error))) => {
                    Outcome::Failure(format!("Get {url:?}: {}", dial_error(&addr, &error)))
                }
                Ok(Err(Failed::Other(error))) => Outcome::Failure(format!("Get {url:?}: {error}")),
                Err(_) => Outcome::Failure(format!(
                    "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                )),
            }
        }
    }
}

fn host_ip(host: Option<&str>, pod_ip: IpAddr) -> Result<IpAddr, String> {
    match host {
        None => Ok(pod_ip),
        Some(host) => host.parse().map_err(|_| {
            format!("probe host {host:?} is not an IP address; Kubarium probes reach addresses, not names: leave host out to probe the pod")
        }),
    }
}

async fn exec(target: &Target, command: &[String], timeout: Duration) -> Outcome {
    let run = target
        .runtime
        .exec_sync(&target.id, command.to_vec(), timeout);
    // The runtime is given the timeout too; this bound holds whatever it does.
    match tokio::time::timeout(timeout + Duration::from_millis(500), run).await {
        Ok(Ok(output)) => {
            let text = String::from_utf8_lossy(&output.output).into_owned();
            if output.exit_code == 0 {
                Outcome::Success
            } else {
                Outcome::Failure(text)
            }
        }
        Ok(Err(error)) => Outcome::Error(error.to_string()),
        Err(_) => Outcome::Failure(format!("command {:?} timed out", command.join(" "))),
    }
}

enum Failed {
    Dial(std::io::Error),
    Other(String),
}

/// One GET, without following redirects; the status code.
async fn http_get(
    addr: SocketAddr,
    https: bool,
    path: &str,
    headers: &[(String, String)],
    user_agent: &str,
) -> Result<u16, Failed> {
    let tcp = TcpStream::connect(addr).await.map_err(Failed::Dial)?;
    let stream: Box<dyn Duplex> = if https {
        let connector = tokio_rustls::TlsConnector::from(tls_config().map_err(Failed::Other)?);
        let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
        Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|e| Failed::Other(e.to_string()))?,
        )
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failed::Other(e.to_string()))?;
    let driver = tokio::spawn(connection);
    let mut request = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::USER_AGENT, user_agent)
        .header(http::header::ACCEPT, "*/*");
    for (name, value) in headers {
        // A header the probe names replaces the default (Host and User-Agent included).
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) && let Some(map) = request.headers_mut()
        {
            map.insert(name, value);
        }
    }
    let request = request
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| Failed::Other(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| Failed::Other(e.to_string()));
    let code = match response {
        Ok(response) => {
            let code = response.status().as_u16();
            // Upstream reads (a bounded part of) the body; draining it lets the server finish.
            let _ = response.into_body().collect().await;
            Ok(code)
        }
        Err(error) => Err(error),
    };
    driver.abort();
    code
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// HTTPS probes do not verify the server's certificate, as the kubelet's
/// (`InsecureSkipVerify`): a probe asks whether the server answers, not who it is.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        ContainerPort, GRPCAction, HTTPGetAction, HTTPHeader, TCPSocketAction,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn container() -> Container {
        Container {
            name: "web".to_owned(),
            ports: Some(vec![ContainerPort {
                name: Some("http".to_owned()),
                container_port: 8080,
                ..ContainerPort::default()
            }]),
            ..Container::default()
        }
    }

    #[test]
    fn ports_by_number_or_name() {
        let c = container();
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("9090".into()), &c),
            Ok(9090)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("metrics".into()), &c),
            Err("strconv.Atoi: parsing \"metrics\": invalid syntax".to_owned())
        );
        assert_eq!(
            resolve_port(&IntOrString::Int(70000), &c),
            Err("invalid port number: 70000".to_owned())
        );
    }

    #[test]
    fn handlers_resolve_against_their_container() {
        let c = container();
        let http = Probe {
            http_get: Some(HTTPGetAction {
                path: Some("healthz".to_owned()),
                port: IntOrString::String("http".into()),
                scheme: Some("HTTPS".to_owned()),
                http_headers: Some(vec![HTTPHeader {
                    name: "X-Probe".to_owned(),
                    value: "1".to_owned(),
                }]),
                ..HTTPGetAction::default()
            }),
            ..Probe::default()
        };
        assert_eq!(
            action(&http, &c),
            Ok(Action::Http {
                https: true,
                host: None,
                port: 8080,
                path: "/healthz".to_owned(),
                headers: vec![("X-Probe".to_owned(), "1".to_owned())],
            })
        );
        let tcp = Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(5432),
                ..TCPSocketAction::default()
            }),
            ..Probe::default()
        };
        assert_eq!(
            action(&tcp, &c),
            Ok(Action::Tcp {
                host: None,
                port: 5432
            })
        );
        let grpc = Probe {
            grpc: Some(GRPCAction {
                port: 9090,
                service: Some("db".to_owned()),
            }),
            ..Probe::default()
        };
        assert_eq!(
            action(&grpc, &c),
            Ok(Action::Grpc {
                port: 9090,
                service: "db".to_owned()
            })
        );
    }

    #[test]
    fn http_codes_and_user_agent() {
        assert_eq!(http_outcome(200), Outcome::Success);
        assert_eq!(http_outcome(302), Outcome::Success);
        assert_eq!(
            http_outcome(500),
            Outcome::Failure("HTTP probe failed with statuscode: 500".to_owned())
        );
        assert_eq!(user_agent("v1.33.0+kubarium.0.1.0"), "kube-probe/1.33");
        assert_eq!(user_agent("v1.33.2"), "kube-probe/1.33");
    }

    fn target(ip: IpAddr) -> Target {
        Target {
            runtime: Arc::new(crate::runtime::HollowRuntime::new()),
            id: ContainerId {
                runtime: "hollow",
                id: "x".to_owned(),
            },
            ip,
            user_agent: "kube-probe/1.33".to_owned(),
        }
    }

    #[tokio::test]
    async fn http_and_tcp_probes_against_a_local_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for code in [200, 503] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0; 4096];
                let n = socket.read(&mut buf).await.unwrap();
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let reply = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        let target = target("127.0.0.1".parse().unwrap());
        let get = Action::Http {
            https: false,
            host: None,
            port,
            path: "/healthz".to_owned(),
            headers: vec![("X-Probe".to_owned(), "yes".to_owned())],
        };
        let timeout = Duration::from_secs(5);
        assert_eq!(run(&target, &get, timeout).await, Outcome::Success);
        assert_eq!(
            run(&target, &get, timeout).await,
            Outcome::Failure("HTTP probe failed with statuscode: 503".to_owned())
        );
        let seen = server.await.unwrap();
        let first = seen[0].to_ascii_lowercase();
        assert!(first.starts_with("get /healthz http/1.1"), "{first}");
        assert!(first.contains("user-agent: kube-probe/1.33"), "{first}");
        assert!(first.contains("x-probe: yes"), "{first}");
        // Nothing listens there any more.
        let closed = Action::Tcp { host: None, port };
        match run(&target, &closed, timeout).await {
            Outcome::Failure(message) => assert_eq!(
                message,
                format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
            ),
            other => panic!("{other:?}"),
        }
    }
}
