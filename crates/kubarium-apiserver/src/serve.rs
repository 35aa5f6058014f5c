//! Serving the router over TLS on a TCP listener, HTTP/1.1 and HTTP/2 (ALPN), with
//! connection upgrades (exec, attach and port-forward ride on them) and graceful shutdown.
//! A client certificate is asked for but never required, and checked after the handshake
//! (kube-apiserver's `RequestClientCert`): one the client CA signed hands its identity to
//! every request of its connection; any other authenticates nobody, so without a token the
//! request gets upstream's 401 rather than a failed handshake.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::auth::{CertificateUser, certificate_user};

/// Why the server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The certificate or key PEM could not be parsed.
    #[error("could not read the serving certificate or key: {0}")]
    Pem(#[from] rustls_pki_types::pem::Error),
    /// rustls refused the certificate and key pair.
    #[error("the serving certificate and key do not form a usable TLS identity: {0}")]
    Tls(#[from] rustls::Error),
    /// The CA for client certificates is unusable.
    #[error("the CA for client certificates is unusable: {0}")]
    ClientCa(#[from] rustls::server::VerifierBuilderError),
}

/// A certificate chain and its private key, PEM-encoded.
pub struct TlsIdentity {
    /// The serving certificate first, then any intermediates.
    pub cert_chain_pem: String,
    /// The serving certificate's private key.
    pub key_pem: String,
    /// CA certificates whose client certificates authenticate their subject; none, and
    /// only bearer tokens do.
    pub client_ca_pem: Option<String>,
}

/// What [`serve`] needs to speak TLS: the rustls configuration and, when client certificates
/// authenticate, the verifier each connection's certificate is checked with.
#[derive(Clone)]
pub struct ServingTls {
    config: Arc<ServerConfig>,
    client_ca: Option<Arc<dyn ClientCertVerifier>>,
}

impl ServingTls {
    /// The identity of a connection's certificate chain, if the client CA signed it.
    fn certificate_user(&self, chain: Option<&[CertificateDer<'_>]>) -> Option<CertificateUser> {
        let (leaf, intermediates) = chain?.split_first()?;
        let verified =
            self.client_ca
                .as_ref()?
                .verify_client_cert(leaf, intermediates, UnixTime::now());
        if let Err(error) = verified {
            // As kube-apiserver: the certificate names no one, a token may still.
            tracing::debug!(%error, "a client certificate did not verify against the client CA");
            return None;
        }
        certificate_user(leaf).map(CertificateUser)
    }
}

/// Asks for a client certificate and accepts whatever chain comes, checking only that the
/// client holds its key; [`ServingTls::certificate_user`] decides later whether it names
/// anyone.
#[derive(Debug)]
struct RequestClientCert(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for RequestClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl TlsIdentity {
    /// A rustls server configuration offering HTTP/2 and HTTP/1.1, as kube-apiserver does.
    pub fn server_config(&self) -> Result<ServingTls, ServeError> {
        let certs = CertificateDer::pem_slice_iter(self.cert_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let client_ca = match &self.client_ca_pem {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots.add(cert?)?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    roots.into(),
                    provider,
                )
                .allow_unauthenticated()
                .build()?;
                Some(verifier)
            }
            None => None,
        };
        let builder = match &client_ca {
            Some(verifier) => {
                builder.with_client_cert_verifier(Arc::new(RequestClientCert(verifier.clone())))
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServingTls {
            config: Arc::new(config),
            client_ca,
        })
    }
}

/// How long a client may take to finish the TLS handshake before we drop it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open connections get to finish after shutdown is requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and gives
/// open connections [`DRAIN_TIMEOUT`] to finish. Errors of one connection never stop the
/// server; they are logged at debug level (clients hang up all the time).
pub async fn serve(
    listener: TcpListener,
    tls: ServingTls,
    router: Router,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls.config.clone());
    let graceful = GracefulShutdown::new();
    // Every connection's task, so none outlives the drain window.
    let mut connections = tokio::task::JoinSet::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls_settings = tls.clone();
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => return log_connection_error(peer, &error),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let certified = tls_settings.certificate_user(tls.get_ref().1.peer_certificates());
            // Every request on this connection carries the certificate's identity.
            let service = TowerToHyperService::new(router.map_request(
                move |mut request: http::Request<hyper::body::Incoming>| {
                    if let Some(certified) = &certified {
                        request.extensions_mut().insert(certified.clone());
                    }
                    request
                },
            ));
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                log_connection_error(peer, &*error);
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("closed connections still open after {DRAIN_TIMEOUT:?}");
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

fn log_connection_error(peer: SocketAddr, error: &dyn std::error::Error) {
    tracing::debug!(%peer, %error, "connection ended with an error");
}
