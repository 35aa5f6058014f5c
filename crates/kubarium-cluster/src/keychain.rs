//! The OS keychain, through keyring-core: on Linux the Secret Service (GNOME Keyring,
//! KWallet) over the session D-Bus. Other platforms report it unavailable for now, so their
//! clusters keep their key in a file.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

/// The service name Kubarium's keychain entries are filed under.
const SERVICE: &str = "dev.kubarium.cluster";

/// A connection to the session's keychain.
pub(crate) struct Keychain {
    store: Arc<CredentialStore>,
}

impl Keychain {
    /// The session's keychain, or why there is none. Never starts a D-Bus daemon: without a
    /// session bus there is no keychain to use.
    pub(crate) fn open() -> Result<Self, String> {
        #[cfg(target_os = "linux")]
        {
            let has_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
                || std::env::var_os("XDG_RUNTIME_DIR")
                    .is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists());
            if !has_bus {
                return Err("this session has no D-Bus session bus, so no Secret Service".into());
            }
            let store = dbus_secret_service_keyring_store::Store::new()
                .map_err(|e| format!("the Secret Service is not available: {e}"))?;
            Ok(Self { store })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err("Kubarium does not use this platform's keychain yet".to_owned())
        }
    }

    /// The secret filed under `account`, `None` if there is none.
    pub(crate) fn get(&self, account: &str) -> Result<Option<Vec<u8>>, String> {
        match self.entry(account)?.get_secret() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(e)),
        }
    }

    /// Files `secret` under `account`, replacing what was there.
    pub(crate) fn set(&self, account: &str, secret: &[u8]) -> Result<(), String> {
        self.entry(account)?.set_secret(secret).map_err(describe)
    }

    /// Removes the secret filed under `account`; none there is no error.
    pub(crate) fn delete(&self, account: &str) -> Result<(), String> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(describe(e)),
        }
    }

    fn entry(&self, account: &str) -> Result<Entry, String> {
        Entry::new_in_store(&self.store, SERVICE, account).map_err(describe)
    }
}

fn describe(error: keyring_core::Error) -> String {
    match error {
        keyring_core::Error::NoStorageAccess(e) => {
            format!("the keychain is locked or refused access: {e}")
        }
        other => other.to_string(),
    }
}
