//! The cluster's store: `DIR/state.db`, with Secrets sealed by a key of the cluster's own.
//!
//! The data encryption key lives in the OS keychain when the session has one, else in
//! `DIR/pki/encryption.key` (0600, in the 0700 PKI folder) beside the database. Where a data
//! dir's key went is decided once, when the key is made, and remembered: a key file, or a
//! `DIR/pki/encryption.keychain` marker naming the keychain entry (nothing secret). Which one
//! holds it is logged at every start.

use std::path::Path;

use kubarium_keychain::Keychain;
use kubarium_store::{Encryption, EncryptionKey, Store, StoreOptions};

use crate::datadir::{create_private_dir, write_private};
use crate::{Error, Result, SecretsKey};

/// The service the keychain files each data dir's key under.
const SERVICE: &str = "dev.kubarium.cluster";

/// Key prefixes whose values are sealed at rest.
const SEALED: &[&str] = &["/core/secrets/"];

/// Opens the store in `data_dir`, creating the database and its key on first use. The
/// keychain may wait on its owner (an unlock prompt), so the key is fetched off the runtime.
pub(crate) async fn open(data_dir: &Path, choice: SecretsKey) -> Result<Store> {
    let pki = data_dir.join("pki");
    let key = tokio::task::spawn_blocking(move || encryption_key(&pki, choice))
        .await
        .map_err(|e| Error::Keychain {
            reason: format!("the task reading the key failed: {e}"),
        })??;
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

/// The data encryption key from wherever this data dir keeps it, made on first use.
fn encryption_key(pki: &Path, choice: SecretsKey) -> Result<EncryptionKey> {
    create_private_dir(pki)?;
    let file = pki.join("encryption.key");
    let marker = pki.join("encryption.keychain");
    let in_file = file.exists();
    let in_keychain = marker.exists();
    match (choice, in_file, in_keychain) {
        (_, true, true) => Err(Error::Pki {
            path: pki.to_owned(),
            reason: "both encryption.key and encryption.keychain exist, so it is unclear which key sealed the stored Secrets; remove the one that is not in use".to_owned(),
        }),
        (SecretsKey::Keychain, true, false) | (SecretsKey::File, false, true) => Err(Error::Pki {
            path: pki.to_owned(),
            reason: format!(
                "this data dir's key is kept in {}, not where --secrets-key {choice} asks; start without --secrets-key (or with auto) to use it",
                if in_file { "encryption.key" } else { "the OS keychain" }
            ),
        }),
        (_, true, false) => read_file_key(&file),
        (_, false, true) => read_keychain_key(&marker),
        (SecretsKey::File, false, false) => create_file_key(&file, "as --secrets-key file asks"),
        (SecretsKey::Keychain, false, false) => {
            let keychain = Keychain::open_persistent().map_err(keychain_error)?;
            create_keychain_key(&keychain, &marker)
        }
        (SecretsKey::Auto, false, false) => match Keychain::open_persistent() {
            Ok(keychain) => match create_keychain_key(&keychain, &marker) {
                Ok(key) => Ok(key),
                Err(Error::Keychain { reason }) => {
                    create_file_key(&file, &format!("the OS keychain failed: {reason}"))
                }
                Err(other) => Err(other),
            },
            Err(reason) => create_file_key(&file, &format!("no OS keychain: {reason}")),
        },
    }
}

/// Removes the data dir's key from the OS keychain, if it is kept there (a file key goes
/// with the data dir).
pub(crate) fn forget_key(pki: &Path) -> Result<()> {
    let marker = pki.join("encryption.keychain");
    let account = match std::fs::read_to_string(&marker) {
        Ok(account) => account,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(Error::io(&marker)(error)),
    };
    let keychain = Keychain::open_persistent().map_err(keychain_error)?;
    keychain
        .delete(SERVICE, account.trim())
        .map_err(keychain_error)
}

fn read_file_key(path: &Path) -> Result<EncryptionKey> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| Error::Pki {
        path: path.to_owned(),
        reason: "encryption.key is not 32 bytes; restore it from a backup (without it the stored Secrets cannot be read)".to_owned(),
    })?;
    tracing::info!(path = %path.display(), "Secrets are sealed at rest with the key in this file");
    Ok(EncryptionKey::from_bytes(bytes))
}

fn create_file_key(path: &Path, why: &str) -> Result<EncryptionKey> {
    let key = generate(path)?;
    write_private(path, key.as_bytes())?;
    tracing::info!(path = %path.display(), "created the key that seals Secrets at rest in a 0600 file ({why})");
    Ok(key)
}

/// The keychain account of a data dir's key: its marker's path, unique per data dir.
fn account(marker: &Path) -> String {
    format!("secrets key of {}", marker.display())
}

fn read_keychain_key(marker: &Path) -> Result<EncryptionKey> {
    let account = std::fs::read_to_string(marker).map_err(Error::io(marker))?;
    let account = account.trim();
    let keychain = Keychain::open_persistent().map_err(keychain_error)?;
    let bytes = keychain
        .get(SERVICE, account)
        .map_err(keychain_error)?
        .ok_or_else(|| Error::Keychain {
            reason: format!("it has no entry \"{account}\" (was it deleted, or is this another user's keychain?)"),
        })?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| Error::Keychain {
        reason: format!("its entry \"{account}\" is not a 32-byte key"),
    })?;
    tracing::info!(
        entry = account,
        "Secrets are sealed at rest with the key in the OS keychain"
    );
    Ok(EncryptionKey::from_bytes(bytes))
}

fn create_keychain_key(keychain: &Keychain, marker: &Path) -> Result<EncryptionKey> {
    let key = generate(marker)?;
    let account = account(marker);
    keychain
        .set(SERVICE, &account, key.as_bytes())
        .map_err(keychain_error)?;
    // Read it back: a keychain that accepts a secret it cannot return must not hold the key.
    if keychain
        .get(SERVICE, &account)
        .map_err(keychain_error)?
        .as_deref()
        != Some(key.as_bytes())
    {
        return Err(Error::Keychain {
            reason: "it did not return the key it was given".to_owned(),
        });
    }
    write_private(marker, account.as_bytes())?;
    tracing::info!(
        entry = account,
        "created the key that seals Secrets at rest in the OS keychain"
    );
    Ok(key)
}

fn keychain_error(error: kubarium_keychain::Error) -> Error {
    Error::Keychain {
        reason: error.to_string(),
    }
}

fn generate(path: &Path) -> Result<EncryptionKey> {
    EncryptionKey::generate().map_err(|source| Error::Store {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_stays_where_it_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let made = encryption_key(&pki, SecretsKey::File).unwrap();
        let again = encryption_key(&pki, SecretsKey::Auto).unwrap();
        assert_eq!(made.as_bytes(), again.as_bytes(), "auto keeps the file");
        let error = encryption_key(&pki, SecretsKey::Keychain)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("kept in encryption.key"), "{error}");
    }

    #[test]
    fn a_key_in_two_places_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        encryption_key(&pki, SecretsKey::File).unwrap();
        std::fs::write(pki.join("encryption.keychain"), "secrets key of elsewhere").unwrap();
        let error = encryption_key(&pki, SecretsKey::Auto)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("both encryption.key and encryption.keychain"),
            "{error}"
        );
        std::fs::remove_file(pki.join("encryption.key")).unwrap();
        let error = encryption_key(&pki, SecretsKey::File)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("kept in the OS keychain"), "{error}");
    }
}
