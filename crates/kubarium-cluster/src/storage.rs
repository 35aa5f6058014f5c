//! The cluster's store: `DIR/state.db`, with Secrets sealed by a key of the cluster's own.
//!
//! The data encryption key lives in `DIR/pki/encryption.key` (0600, in the 0700 PKI folder)
//! beside the database; which store holds it is logged at start-up.

use std::path::Path;

use kubarium_store::{Encryption, EncryptionKey, Store, StoreOptions};

use crate::datadir::{create_private_dir, write_private};
use crate::{Error, Result};

/// Key prefixes whose values are sealed at rest.
const SEALED: &[&str] = &["/core/secrets/"];

/// Opens the store in `data_dir`, creating the database and its key on first use.
pub(crate) fn open(data_dir: &Path) -> Result<Store> {
    let key = encryption_key(&data_dir.join("pki"))?;
    let encryption = Encryption::new(
        &key,
        "kubarium",
        SEALED.iter().map(|p| (*p).to_owned()).collect(),
    )
    .map_err(|source| Error::Store {
        path: data_dir.join("pki/encryption.key"),
        source,
    })?;
    let path = data_dir.join("state.db");
    Store::open(
        &path,
        StoreOptions {
            encryption: Some(encryption),
            ..StoreOptions::default()
        },
    )
    .map_err(|source| Error::Store { path, source })
}

/// The data encryption key from its file, generated on first use.
fn encryption_key(pki: &Path) -> Result<EncryptionKey> {
    create_private_dir(pki)?;
    let path = pki.join("encryption.key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| Error::Pki {
                path: path.clone(),
                reason: "encryption.key is not 32 bytes; restore it from a backup (without it the stored Secrets cannot be read)".to_owned(),
            })?;
            tracing::info!(path = %path.display(), "Secrets are sealed at rest with the key in this file");
            Ok(EncryptionKey::from_bytes(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = EncryptionKey::generate().map_err(|source| Error::Store {
                path: path.clone(),
                source,
            })?;
            write_private(&path, key.as_bytes())?;
            tracing::info!(path = %path.display(), "created the key that seals Secrets at rest (no OS keychain is used for it)");
            Ok(key)
        }
        Err(source) => Err(Error::Io { path, source }),
    }
}
