//! A private Secret Service: a D-Bus session bus of the test's own with GNOME Keyring on it,
//! unlocked, keeping its keyring files in a temporary home. Killed on drop.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

pub struct SecretService {
    bus: Child,
    keyring: Child,
    home: TempDir,
    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
}

impl SecretService {
    pub fn start() -> Self {
        let home = TempDir::new().unwrap();
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon (package dbus) is needed; `cargo xtask test` installs it");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", home.path())
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (package gnome-keyring) is needed; `cargo xtask test` installs it");
        // The login keyring's password, on stdin and closed: it is created unlocked.
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"kubarium-test").unwrap();
        drop(stdin);
        let service = Self {
            bus,
            keyring,
            home,
            address,
        };
        service.wait_until_registered();
        service
    }

    /// Waits for the keyring to own `org.freedesktop.secrets` on the bus.
    fn wait_until_registered(&self) {
        crate::wait_until(
            "GNOME Keyring to register the Secret Service",
            std::time::Duration::from_secs(20),
            || {
                let output = Command::new("dbus-send")
                    .args([
                        "--session",
                        "--print-reply",
                        "--dest=org.freedesktop.DBus",
                        "/org/freedesktop/DBus",
                        "org.freedesktop.DBus.NameHasOwner",
                        "string:org.freedesktop.secrets",
                    ])
                    .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
                    .output()
                    .ok()?;
                String::from_utf8_lossy(&output.stdout)
                    .contains("boolean true")
                    .then_some(())
            },
        );
    }

    /// The folder GNOME Keyring keeps its keyrings in.
    pub fn home(&self) -> &std::path::Path {
        self.home.path()
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.keyring.kill();
        let _ = self.keyring.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}
