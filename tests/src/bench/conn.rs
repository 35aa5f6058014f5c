//! A lean HTTPS client for the benchmarks: one hyper HTTP/1.1 connection over rustls, with
//! the CA and bearer token from a kubeconfig — so the figures are the server's, not a heavy
//! client's.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

/// Where and how to reach an API server.
#[derive(Clone)]
pub struct Endpoint {
    addr: SocketAddr,
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    authorization: http::HeaderValue,
}

impl Endpoint {
    /// The endpoint a kubeconfig written by `kubariumd` names: its server, CA and token.
    pub fn from_kubeconfig(path: &Path) -> anyhow::Result<Self> {
        let config = kube::config::Kubeconfig::read_from(path)?;
        let cluster = config
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref())
            .context("kubeconfig has no cluster")?;
        let server = cluster.server.as_deref().context("cluster has no server")?;
        let authority = server
            .strip_prefix("https://")
            .context("server is not https")?;
        let addr: SocketAddr = authority.parse().context("server is not ip:port")?;
        let ca = cluster
            .certificate_authority_data
            .as_deref()
            .context("cluster has no CA data")?;
        let ca = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ca)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca) {
            roots.add(cert?)?;
        }
        let token = config
            .auth_infos
            .first()
            .and_then(|a| a.auth_info.as_ref())
            .and_then(|a| a.token.as_ref())
            .context("kubeconfig has no token")?;
        let token = secrecy::ExposeSecret::expose_secret(token);
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            addr,
            server_name: ServerName::IpAddress(addr.ip().into()),
            tls: Arc::new(tls),
            authorization: format!("Bearer {token}").parse()?,
        })
    }

    /// Opens one keep-alive connection.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(self.server_name.clone(), tcp)
            .await?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        Ok(Conn {
            sender,
            authorization: self.authorization.clone(),
            accept: http::HeaderValue::from_static("application/json"),
        })
    }
}

/// One HTTP/1.1 connection; requests on it go one after another.
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authorization: http::HeaderValue,
    accept: http::HeaderValue,
}

impl Conn {
    /// The `Accept` header of the requests that follow (JSON unless set).
    pub fn set_accept(&mut self, accept: &'static str) {
        self.accept = http::HeaderValue::from_static(accept);
    }

    /// Sends a request and reads the whole response.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let response = self.start(method, path, body).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// As [`Conn::send`], failing unless the status is a success.
    pub async fn ok(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> anyhow::Result<Bytes> {
        let (status, body) = self.send(method.clone(), path, body).await?;
        if !status.is_success() {
            bail!(
                "{method} {path}: {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }

    /// Sends a request and returns the response with its body still streaming (a watch).
    pub async fn start(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> anyhow::Result<http::Response<Incoming>> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "kubarium")
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::ACCEPT, self.accept.clone());
        let body = match body {
            Some((content_type, body)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                body
            }
            None => Bytes::new(),
        };
        self.sender.ready().await?;
        Ok(self
            .sender
            .send_request(request.body(Full::new(body))?)
            .await?)
    }
}
