//! Sealing values at rest with AES-256-GCM, for keys under chosen prefixes (Secrets).
//!
//! Sealed values carry upstream's envelope shape, `k8s:enc:aesgcm:v1:<key name>:` followed by
//! a random 96-bit nonce and the ciphertext with its tag, so a glance at the database tells
//! sealed values apart and which key sealed them.

use std::borrow::Cow;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::{Error, Result};

/// A 256-bit data encryption key.
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// A new random key.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::internal("the system random source failed"))?;
        Ok(Self(bytes))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, for keeping it somewhere safe.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Seals the values of keys under `prefixes`.
#[derive(Clone)]
pub struct Encryption {
    key: std::sync::Arc<LessSafeKey>,
    prefixes: Vec<String>,
    envelope: String,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryption")
            .field("prefixes", &self.prefixes)
            .finish_non_exhaustive()
    }
}

impl Encryption {
    /// Seals keys under `prefixes` with `key`, named `key_name` in the envelope.
    pub fn new(key: &EncryptionKey, key_name: &str, prefixes: Vec<String>) -> Result<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, &key.0)
            .map_err(|_| Error::internal("bad AES key length"))?;
        Ok(Self {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
            prefixes,
            envelope: format!("k8s:enc:aesgcm:v1:{key_name}:"),
        })
    }

    fn applies(&self, key: &str) -> bool {
        self.prefixes.iter().any(|p| key.starts_with(p.as_str()))
    }

    /// `value` as it goes to disk: sealed when `key` is under a prefix. The key itself is the
    /// associated data, so a sealed value copied to another key fails to open.
    pub(crate) fn seal<'a>(&self, key: &str, value: &'a [u8]) -> Result<Cow<'a, [u8]>> {
        if !self.applies(key) {
            return Ok(Cow::Borrowed(value));
        }
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::internal("the system random source failed"))?;
        let mut sealed = value.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| Error::internal("sealing failed"))?;
        let mut out = Vec::with_capacity(self.envelope.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(self.envelope.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(Cow::Owned(out))
    }

    /// `stored` as it came from disk, opened when sealed.
    pub(crate) fn open(&self, key: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
        let Some(rest) = stored.strip_prefix(self.envelope.as_bytes()) else {
            // Written before encryption was configured, or not under a prefix.
            if self.applies(key) && stored.starts_with(b"k8s:enc:") {
                return Err(Error::Decrypt {
                    key: key.to_owned(),
                });
            }
            return Ok(stored);
        };
        if rest.len() < NONCE_LEN {
            return Err(Error::Decrypt {
                key: key.to_owned(),
            });
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::Decrypt {
            key: key.to_owned(),
        })?;
        let mut buffer = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key.as_bytes()), &mut buffer)
            .map_err(|_| Error::Decrypt {
                key: key.to_owned(),
            })?;
        Ok(plain.to_vec())
    }
}

/// Seals and opens through an optional [`Encryption`].
pub(crate) fn seal<'a>(
    encryption: Option<&Encryption>,
    key: &str,
    value: &'a [u8],
) -> Result<Cow<'a, [u8]>> {
    match encryption {
        Some(e) => e.seal(key, value),
        None => Ok(Cow::Borrowed(value)),
    }
}

pub(crate) fn open(encryption: Option<&Encryption>, key: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
    match encryption {
        Some(e) => e.open(key, stored),
        None => Ok(stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encryption() -> Encryption {
        Encryption::new(
            &EncryptionKey::generate().unwrap(),
            "local",
            vec!["/core/secrets/".into()],
        )
        .unwrap()
    }

    #[test]
    fn seals_only_under_prefixes_and_round_trips() {
        let e = encryption();
        let secret = e.seal("/core/secrets/default/s", b"hunter2").unwrap();
        assert!(secret.starts_with(b"k8s:enc:aesgcm:v1:local:"));
        assert!(!secret.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            e.open("/core/secrets/default/s", secret.to_vec()).unwrap(),
            b"hunter2"
        );
        assert_eq!(
            e.seal("/core/configmaps/default/c", b"plain").unwrap(),
            &b"plain"[..]
        );
        // Bound to its key: moved elsewhere it does not open.
        assert!(matches!(
            e.open("/core/secrets/default/other", secret.to_vec()),
            Err(Error::Decrypt { .. })
        ));
        // Another key cannot open it either.
        assert!(matches!(
            encryption().open("/core/secrets/default/s", secret.into_owned()),
            Err(Error::Decrypt { .. })
        ));
    }
}
