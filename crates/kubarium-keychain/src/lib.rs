//! The OS keychain, through keyring-core: the macOS Keychain, the Windows Credential
//! Manager, and on Linux the Secret Service (GNOME Keyring, KWallet) over the session D-Bus
//! when the session has one and it answers, else the kernel's keyutils (the session
//! keyring, which a logout or reboot clears). Other platforms report it unavailable.
//!
//! A secret is filed under a service (which program it belongs to, e.g.
//! `dev.kubarium.remote`) and an account (which secret of it). Secrets never appear in an
//! error or a log line: errors name only the service and account.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

/// Why the keychain could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The session has no keychain Kubarium can use; says why.
    #[error("{0}")]
    Unavailable(String),
    /// The keychain is locked, or its owner refused access.
    #[error("the keychain is locked or refused access: {0}")]
    Locked(String),
    /// The keychain failed otherwise (what it said, and which entry).
    #[error("the keychain failed on \"{account}\" of {service}: {reason}")]
    Failed {
        service: String,
        account: String,
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a [`Keychain`] keeps its secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    SecretService,
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    MacKeychain,
    #[cfg_attr(not(target_os = "windows"), allow(dead_code))]
    CredentialManager,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    KeyUtils,
    InMemory,
}

/// A connection to the session's keychain.
#[derive(Clone)]
pub struct Keychain {
    store: Arc<CredentialStore>,
    kind: Kind,
}

impl std::fmt::Debug for Keychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keychain")
            .field("store", &self.store_name())
            .finish()
    }
}

impl Keychain {
    /// The session's keychain: the platform's own ([`Keychain::open_persistent`]), else
    /// (Linux) the kernel's keyutils session keyring. Never starts a D-Bus
    /// daemon. The error says why neither can be used.
    pub fn open() -> Result<Self> {
        match Self::open_persistent() {
            Ok(keychain) => Ok(keychain),
            Err(secret_service) => Self::open_keyutils().map_err(|keyutils| {
                Error::Unavailable(format!("{secret_service}; and {keyutils}"))
            }),
        }
    }

    /// Only a keychain whose secrets survive a reboot (the macOS Keychain, the Windows
    /// Credential Manager, on Linux the Secret Service when the session has a bus and it
    /// answers): for secrets
    /// that cannot be made again, like the key that seals a cluster's stored Secrets.
    pub fn open_persistent() -> Result<Self> {
        #[cfg(target_os = "linux")]
        {
            let has_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
                || std::env::var_os("XDG_RUNTIME_DIR")
                    .is_some_and(|dir| std::path::Path::new(&dir).join("bus").exists());
            if !has_bus {
                return Err(Error::Unavailable(
                    "this session has no D-Bus session bus, so no Secret Service".into(),
                ));
            }
            let store = dbus_secret_service_keyring_store::Store::new().map_err(|e| {
                Error::Unavailable(format!("the Secret Service is not available: {e}"))
            })?;
            Ok(Self {
                store,
                kind: Kind::SecretService,
            })
        }
        #[cfg(target_os = "macos")]
        {
            let store = apple_native_keyring_store::keychain::Store::new().map_err(|e| {
                Error::Unavailable(format!("the macOS Keychain is not available: {e}"))
            })?;
            Ok(Self {
                store,
                kind: Kind::MacKeychain,
            })
        }
        #[cfg(target_os = "windows")]
        {
            let store = windows_native_keyring_store::Store::new().map_err(|e| {
                Error::Unavailable(format!(
                    "the Windows Credential Manager is not available: {e}"
                ))
            })?;
            Ok(Self {
                store,
                kind: Kind::CredentialManager,
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
        {
            Err(Error::Unavailable(
                "Kubarium does not use this platform's keychain yet".to_owned(),
            ))
        }
    }

    /// The kernel's keyutils, after checking that a key can be added, read and removed
    /// (in a container without its own session keyring the kernel refuses to link keys).
    fn open_keyutils() -> Result<Self> {
        #[cfg(target_os = "linux")]
        {
            let unavailable = |e: keyring_core::Error| {
                Error::Unavailable(format!(
                    "the kernel keyutils session keyring refused a key ({e}); run Kubarium in a login session (or inside `keyctl session -`)"
                ))
            };
            let store = linux_keyutils_keyring_store::Store::new().map_err(unavailable)?;
            let keychain = Self {
                store,
                kind: Kind::KeyUtils,
            };
            // Per process: two Kubarium processes opening at once must not race on it.
            let account = format!("probe of process {}", std::process::id());
            let probe = Entry::new_in_store(&keychain.store, "dev.kubarium.probe", &account)
                .map_err(unavailable)?;
            probe.set_secret(b"probe").map_err(unavailable)?;
            let read = probe.get_secret().map_err(unavailable)?;
            probe.delete_credential().map_err(unavailable)?;
            if read != b"probe" {
                return Err(Error::Unavailable(
                    "the kernel keyutils session keyring did not return the key it was given"
                        .into(),
                ));
            }
            Ok(keychain)
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(Error::Unavailable(
                "there is no kernel keyutils on this platform".to_owned(),
            ))
        }
    }

    /// A keychain in this process's memory only, for tests: nothing is kept, nothing is
    /// shared with other processes. Its clones share its secrets.
    pub fn in_memory() -> Self {
        Self {
            store: keyring_core::mock::Store::new().unwrap_or_else(|_| unreachable!()),
            kind: Kind::InMemory,
        }
    }

    /// Which store holds the secrets, in words for the user.
    pub fn store_name(&self) -> &str {
        match self.kind {
            Kind::SecretService => "Secret Service (D-Bus)",
            Kind::MacKeychain => "macOS Keychain",
            Kind::CredentialManager => "Windows Credential Manager",
            Kind::KeyUtils => "kernel keyutils (session keyring; cleared at logout)",
            Kind::InMemory => "memory (a test keychain; nothing is kept)",
        }
    }

    /// Whether its secrets survive a reboot.
    pub fn is_persistent(&self) -> bool {
        matches!(
            self.kind,
            Kind::SecretService | Kind::MacKeychain | Kind::CredentialManager
        )
    }

    /// The secret filed under `service` and `account`, `None` if there is none.
    pub fn get(&self, service: &str, account: &str) -> Result<Option<Vec<u8>>> {
        match self.entry(service, account)?.get_secret() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(e, service, account)),
        }
    }

    /// Files `secret` under `service` and `account`, replacing what was there. Some stores
    /// (keyutils) cannot hold an empty secret, so an empty one is refused everywhere.
    pub fn set(&self, service: &str, account: &str, secret: &[u8]) -> Result<()> {
        if secret.is_empty() {
            return Err(Error::Failed {
                service: service.to_owned(),
                account: account.to_owned(),
                reason: "an empty secret cannot be kept".to_owned(),
            });
        }
        self.entry(service, account)?
            .set_secret(secret)
            .map_err(|e| describe(e, service, account))
    }

    /// Removes the secret filed under `service` and `account`; none there is no error.
    pub fn delete(&self, service: &str, account: &str) -> Result<()> {
        match self.entry(service, account)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(describe(e, service, account)),
        }
    }

    fn entry(&self, service: &str, account: &str) -> Result<Entry> {
        let entry = if self.kind == Kind::SecretService {
            // What a keyring browser (Seahorse, KWalletManager) shows for the item it creates.
            let label = format!("Kubarium: {account} ({service})");
            let modifiers = std::collections::HashMap::from([("label", label.as_str())]);
            Entry::new_in_store_with_modifiers(&self.store, service, account, &modifiers)
        } else {
            Entry::new_in_store(&self.store, service, account)
        };
        entry.map_err(|e| describe(e, service, account))
    }
}

/// keyring-core's error in words. Its variants carry no secret (a `BadEncoding` carries
/// the bytes read, so it is described without them).
fn describe(error: keyring_core::Error, service: &str, account: &str) -> Error {
    let reason = match error {
        keyring_core::Error::NoStorageAccess(e) => return Error::Locked(e.to_string()),
        keyring_core::Error::BadEncoding(_) => "its secret is not valid UTF-8".to_owned(),
        keyring_core::Error::BadDataFormat(_, e) => format!("its data is malformed: {e}"),
        other => other.to_string(),
    };
    Error::Failed {
        service: service.to_owned(),
        account: account.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_memory_keychain_keeps_replaces_and_forgets_a_secret() {
        let keychain = Keychain::in_memory();
        assert_eq!(keychain.get("svc", "a").unwrap(), None);
        keychain.set("svc", "a", b"one").unwrap();
        keychain.set("svc", "a", b"two").unwrap();
        assert_eq!(
            keychain.clone().get("svc", "a").unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(
            keychain.get("other", "a").unwrap(),
            None,
            "services are apart"
        );
        keychain.delete("svc", "a").unwrap();
        keychain.delete("svc", "a").unwrap();
        assert_eq!(keychain.get("svc", "a").unwrap(), None);
        assert!(!keychain.is_persistent());
    }

    #[test]
    fn an_empty_secret_is_refused_without_touching_the_entry() {
        let keychain = Keychain::in_memory();
        keychain.set("svc", "a", b"kept").unwrap();
        let error = keychain.set("svc", "a", b"").unwrap_err().to_string();
        assert!(
            error.contains("empty secret") && error.contains("\"a\""),
            "{error}"
        );
        assert_eq!(
            keychain.get("svc", "a").unwrap().as_deref(),
            Some(&b"kept"[..])
        );
    }
}
