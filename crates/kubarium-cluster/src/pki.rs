//! The cluster's PKI: a CA of its own, a serving certificate for the API server, and the
//! admin bearer token.
//!
//! The CA key and the token persist in `DIR/pki` (0600, folder 0700) so kubeconfigs stay
//! valid across restarts. The serving certificate is issued afresh at every start, so its
//! names always match the current listen address and no expiry can creep up on a long-lived
//! data directory.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::datadir::{create_private_dir, write_private};
use crate::{Error, Result};
use kubarium_apiserver::TlsIdentity;

/// The CA's common name; also the issuer name every serving certificate carries.
const CA_COMMON_NAME: &str = "kubarium-ca";

/// Names the API server answers to: loopback and the in-cluster `kubernetes` Service names.
const SERVING_DNS_NAMES: &[&str] = &[
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// Loaded or freshly created credentials of one cluster.
pub(crate) struct Pki {
    /// The CA certificate clients trust, PEM.
    pub(crate) ca_pem: String,
    /// The API server's certificate and key.
    pub(crate) serving: TlsIdentity,
    /// The admin bearer token written into the kubeconfig.
    pub(crate) admin_token: String,
    /// The key service account tokens are signed with.
    pub(crate) service_account_key: Vec<u8>,
}

impl Pki {
    /// Loads the CA and admin token from `dir` or creates them, then issues a serving
    /// certificate for loopback, the `kubernetes` Service names and `listen_ip`.
    pub(crate) fn load_or_create(dir: &Path, listen_ip: IpAddr) -> Result<Self> {
        create_private_dir(dir)?;
        let fail = |reason: String| Error::Pki {
            path: dir.to_owned(),
            reason,
        };
        let ca_cert_path = dir.join("ca.crt");
        let ca_key_path = dir.join("ca.key");
        let loaded = match (read(&ca_cert_path)?, read(&ca_key_path)?) {
            (Some(cert), Some(key)) => {
                let key = KeyPair::from_pem(&key).map_err(|e| fail(format!("ca.key: {e}")))?;
                if certifies(&cert, &key) {
                    Some((cert, key))
                } else {
                    // A crash between writing the key and the certificate, or a hand edit:
                    // certificates signed now would not chain to the saved CA.
                    tracing::warn!(dir = %dir.display(), "ca.crt does not match ca.key; creating a new CA (kubeconfigs are rewritten)");
                    None
                }
            }
            _ => None,
        };
        let (ca_pem, ca_key) = match loaded {
            Some(loaded) => loaded,
            None => {
                let key = KeyPair::generate().map_err(|e| fail(e.to_string()))?;
                let cert = ca_params()
                    .self_signed(&key)
                    .map_err(|e| fail(e.to_string()))?;
                write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
                write_private(&ca_cert_path, cert.pem().as_bytes())?;
                tracing::info!(dir = %dir.display(), "created the cluster CA");
                (cert.pem(), key)
            }
        };
        // The issuer is rebuilt from the same parameters: its subject and key are all a
        // signature needs, and no certificate parser joins the build.
        let issuer = Issuer::new(ca_params(), ca_key);
        let serving_key = KeyPair::generate().map_err(|e| fail(e.to_string()))?;
        let serving_cert = serving_params(listen_ip)
            .signed_by(&serving_key, &issuer)
            .map_err(|e| fail(e.to_string()))?;

        let token_path = dir.join("admin.token");
        let admin_token = match read(&token_path)? {
            Some(token) if is_token(token.trim()) => token.trim().to_owned(),
            found => {
                if found.is_some() {
                    tracing::warn!(path = %token_path.display(), "admin.token is not a usable bearer token; issuing a new one");
                }
                let token = new_token().map_err(fail)?;
                write_private(&token_path, token.as_bytes())?;
                token
            }
        };
        let key_path = dir.join("sa.key");
        let service_account_key = match std::fs::read(&key_path) {
            Ok(key) if key.len() == 32 => key,
            Ok(_) | Err(_) => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key)
                    .map_err(|e| fail(format!("no randomness for a key: {e}")))?;
                write_private(&key_path, &key)?;
                key
            }
        };
        Ok(Self {
            service_account_key,
            serving: TlsIdentity {
                cert_chain_pem: serving_cert.pem(),
                key_pem: serving_key.serialize_pem(),
                // Certificates this CA issues to clients authenticate them.
                client_ca_pem: Some(ca_pem.clone()),
            },
            ca_pem,
            admin_token,
        })
    }
}

fn read(path: &PathBuf) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            path: path.clone(),
            source,
        }),
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    params
}

fn serving_params(listen_ip: IpAddr) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "kube-apiserver");
    params.distinguished_name = name;
    params.subject_alt_names = SERVING_DNS_NAMES
        .iter()
        .filter_map(|dns| (*dns).try_into().ok().map(SanType::DnsName))
        .collect();
    let mut ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    if !listen_ip.is_unspecified() && !ips.contains(&listen_ip) {
        ips.push(listen_ip);
    }
    params
        .subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Issued at every start, so a year is plenty; backdated an hour against clock skew.
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - std::time::Duration::from_secs(3600);
    params.not_after = now + std::time::Duration::from_secs(365 * 24 * 3600);
    params
}

/// Whether the certificate in `cert_pem` carries `key`'s public key.
fn certifies(cert_pem: &str, key: &KeyPair) -> bool {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let Ok(der) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
        return false;
    };
    let public = key.public_key_raw();
    !public.is_empty() && der.windows(public.len()).any(|w| w == public)
}

/// A token we can send as a header value: non-empty, visible ASCII, no spaces.
fn is_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// 256 random bits, URL-safe base64: the shape of a bearer token.
fn new_token() -> std::result::Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a token: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_and_token_persist_serving_cert_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let first = Pki::load_or_create(dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let second = Pki::load_or_create(dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_eq!(first.admin_token, second.admin_token);
        assert_eq!(first.admin_token.len(), 43);
        assert_ne!(first.serving.key_pem, second.serving.key_pem);
        second.serving.server_config().unwrap();
    }

    #[test]
    fn a_mismatched_ca_or_bad_token_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let first = Pki::load_or_create(dir.path(), ip).unwrap();
        // A key that is not the certificate's: the CA is recreated.
        fs::write(
            dir.path().join("ca.key"),
            KeyPair::generate().unwrap().serialize_pem(),
        )
        .unwrap();
        fs::write(dir.path().join("admin.token"), "bad token\n").unwrap();
        let second = Pki::load_or_create(dir.path(), ip).unwrap();
        assert_ne!(first.ca_pem, second.ca_pem);
        let key =
            KeyPair::from_pem(&fs::read_to_string(dir.path().join("ca.key")).unwrap()).unwrap();
        assert!(certifies(&second.ca_pem, &key));
        assert!(is_token(&second.admin_token) && second.admin_token != "bad token");
    }

    #[test]
    fn unreadable_key_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        Pki::load_or_create(dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        fs::write(dir.path().join("ca.key"), "garbage").unwrap();
        let Err(err) = Pki::load_or_create(dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST)) else {
            panic!("garbage key accepted")
        };
        assert!(err.to_string().contains("delete that folder"), "{err}");
    }
}
