//! TLS termination: the certificates of one configuration, keyed by SNI host, and the rustls
//! resolver that reads them from the current snapshot on every handshake — so a reload
//! changes the certificate new connections get, and connections already up keep theirs.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::Shared;
use super::config::CertLine;
use super::routing::HostMap;

/// The certificates of one configuration.
#[derive(Debug, Default)]
pub(crate) struct Certs {
    by_host: HostMap<Arc<CertifiedKey>>,
}

impl Certs {
    /// Loads every `cert` line's file. A file that cannot be used is reported and left out,
    /// so one bad Secret does not hold back the rest of the configuration.
    pub(crate) fn load(lines: &[CertLine]) -> (Self, Vec<String>) {
        let mut certs = Certs::default();
        let mut problems = Vec::new();
        for line in lines {
            match load_pem(&line.file) {
                Ok(key) => {
                    // The first line for a host wins, as the first route does.
                    certs.by_host.entry(&line.host, || Arc::new(key));
                }
                Err(problem) => problems.push(format!("{}: {problem}", line.file.display())),
            }
        }
        (certs, problems)
    }

    /// The certificate for a handshake's SNI name: exact host, then wildcard, then `*`.
    pub(crate) fn lookup(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let host = server_name.unwrap_or("").to_ascii_lowercase();
        self.by_host.candidates(&host).next().cloned()
    }
}

/// A PEM file holding the certificate chain, then the private key (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn load_pem(path: &Path) -> Result<CertifiedKey, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let pem = blocks_on_own_lines(&pem);
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a certificate does not parse: {e}"))?;
    if chain.is_empty() {
        return Err("it holds no CERTIFICATE block".to_owned());
    }
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("it holds no usable private key: {e}"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("the private key is not supported: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("the private key does not belong to the certificate: {e}"))?;
    Ok(certified)
}

/// A certificate file without a final newline, concatenated with its key, puts `-----BEGIN`
/// right after `-----END …-----`; the PEM reader wants each on its own line.
fn blocks_on_own_lines(pem: &[u8]) -> Vec<u8> {
    const BEGIN: &[u8] = b"-----BEGIN";
    let mut out = Vec::with_capacity(pem.len() + 8);
    for (i, &byte) in pem.iter().enumerate() {
        if pem[i..].starts_with(BEGIN) && i > 0 && pem[i - 1] != b'\n' {
            out.push(b'\n');
        }
        out.push(byte);
    }
    out
}

/// Picks the certificate from the snapshot current at handshake time.
#[derive(Debug)]
struct Resolver(Arc<Shared>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        let found = self.0.current().certs.lookup(name);
        if found.is_none() {
            eprintln!(
                "ingress: no certificate for TLS server name {:?} and no `*` one: handshake refused",
                name.unwrap_or("")
            );
        }
        found
    }
}

/// The one rustls configuration of the process (ring, TLS 1.2 and 1.3, HTTP/1.1 by ALPN).
pub(crate) fn server_config(shared: Arc<Shared>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(shared)));
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn chain_then_key_loads_even_without_a_newline_between() {
        let dir = tempfile::tempdir().unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["a.test".to_owned()]).unwrap();
        let cert = certified.cert.pem();
        let key = certified.signing_key.serialize_pem();
        let joined = format!("{}{key}", cert.trim_end());
        assert!(load_pem(&pem_file(dir.path(), "joined.pem", &joined)).is_ok());
        assert!(load_pem(&pem_file(dir.path(), "both.pem", &format!("{cert}{key}"))).is_ok());

        let problem = |text: &str| load_pem(&pem_file(dir.path(), "bad.pem", text)).unwrap_err();
        assert!(
            problem(&key).contains("no CERTIFICATE"),
            "{}",
            problem(&key)
        );
        assert!(
            problem(&cert).contains("no usable private key"),
            "{}",
            problem(&cert)
        );
        let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let mismatch = problem(&format!("{cert}{other}"));
        assert!(mismatch.contains("does not belong"), "{mismatch}");
        let missing = load_pem(&dir.path().join("missing.pem")).unwrap_err();
        assert!(missing.contains("cannot read it"), "{missing}");
    }
}
