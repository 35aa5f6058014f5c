//! Remote clusters' credentials in a real OS keychain: a GNOME Keyring on a private D-Bus
//! (the Secret Service), and the kernel's keyutils in a fresh session keyring. After an
//! import, no file under the config dir holds the token or the client key, the keychain
//! does, and removing the cluster deletes them; and a cluster imported from `KUBECONFIG`
//! is reached with the token the keychain gives back.
//!
//! libdbus finds the bus only through `DBUS_SESSION_BUS_ADDRESS`, and changing this
//! process's environment is unsafe, so each scenario runs in a child process of this test
//! binary started with the environment it needs (the test re-runs itself by name).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kubarium_app::Registry;
use kubarium_app::ipc::clusters::{AuthKind, KubeconfigSource};
use kubarium_keychain::Keychain;
use kubarium_tests::keyring::SecretService;

/// Set in the child that runs a scenario.
const CHILD: &str = "KUBARIUM_KEYCHAIN_SCENARIO";
const SERVICE: &str = "dev.kubarium.remote";
const TOKEN: &str = "remote-token-58213";
const KEY: &str =
    "-----BEGIN EC PRIVATE KEY-----\nY2xpZW50LWtleS0zMzkx\n-----END EC PRIVATE KEY-----\n";
const CERT: &str = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n";

/// Re-runs test `name` in a child of this binary, through `wrapper` (a command that runs
/// its arguments, or none), with `set` added to and `unset` taken from its environment;
/// fails when the child does.
fn in_child(name: &str, wrapper: &[&str], set: &[(&str, &str)], unset: &[&str]) {
    let exe = std::env::current_exe().unwrap();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(set.iter().copied());
    for name in unset {
        command.env_remove(name);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("could not run {wrapper:?} {}: {e}", exe.display()));
    assert!(
        status.success(),
        "the scenario failed in its child: {status}"
    );
}

fn kubeconfig() -> String {
    format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: remote
  cluster: {{server: "https://remote.example:6443"}}
users:
- name: token-user
  user: {{token: {TOKEN}}}
- name: cert-user
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: by-token
  context: {{cluster: remote, user: token-user}}
- name: by-cert
  context: {{cluster: remote, user: cert-user}}
"#,
        cert = BASE64.encode(CERT),
        key = BASE64.encode(KEY),
    )
}

/// The regular files under `dir` (sockets skipped) that hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if path.is_file()
            && std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// Import, look, remove: against whichever keychain `Keychain::open` finds, which must be
/// `store`.
fn scenario(store: &str) {
    let keychain = Keychain::open().unwrap();
    assert_eq!(keychain.store_name(), store);
    let config = tempfile::tempdir().unwrap();
    let registry = Registry::open(config.path(), Ok(keychain.clone())).unwrap();
    assert_eq!(registry.keychain_info().store.as_deref(), Some(store));
    let source = KubeconfigSource::Text {
        text: kubeconfig(),
        origin: "remote.kubeconfig".to_owned(),
    };
    let imported = registry
        .import(&source, &["by-token".to_owned(), "by-cert".to_owned()])
        .unwrap();
    let auth: Vec<_> = imported.iter().map(|e| (e.id.as_str(), e.auth)).collect();
    assert_eq!(
        auth,
        [
            ("by-token", AuthKind::Token),
            ("by-cert", AuthKind::ClientCertificate)
        ]
    );

    // In the keychain, and in no file of the config dir.
    let get = |account: &str| keychain.get(SERVICE, account).unwrap();
    assert_eq!(get("by-token/token").as_deref(), Some(TOKEN.as_bytes()));
    assert_eq!(get("by-cert/client-key").as_deref(), Some(KEY.as_bytes()));
    assert!(config.path().join("clusters.json").is_file());
    for needle in [TOKEN.as_bytes(), KEY.as_bytes(), b"Y2xpZW50LWtleS0zMzkx"] {
        assert_eq!(files_holding(config.path(), needle), Vec::<String>::new());
    }
    // A second connection to the keychain (as after a restart) reads them back.
    let again = Registry::open(config.path(), Ok(Keychain::open().unwrap())).unwrap();
    let kubeconfig = again.kubeconfig("by-token").unwrap();
    let user = kubeconfig.auth_infos[0].auth_info.as_ref().unwrap();
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(user.token.as_ref().unwrap()),
        TOKEN
    );

    registry.remove("by-token").unwrap();
    registry.remove("by-cert").unwrap();
    assert_eq!(get("by-token/token"), None);
    assert_eq!(get("by-cert/client-key"), None);
    assert!(registry.entries().is_empty());
}

#[test]
fn the_secret_service_keeps_an_imported_clusters_credentials() {
    if std::env::var_os(CHILD).is_some() {
        return scenario("Secret Service (D-Bus)");
    }
    let keyring = SecretService::start();
    in_child(
        "the_secret_service_keeps_an_imported_clusters_credentials",
        &[],
        &[("DBUS_SESSION_BUS_ADDRESS", keyring.address.as_str())],
        &["XDG_RUNTIME_DIR"],
    );
}

#[test]
fn keyutils_keeps_them_when_the_session_has_no_secret_service() {
    if std::env::var_os(CHILD).is_some() {
        scenario("kernel keyutils (session keyring; cleared at logout)");
        // The cluster's Secrets key must survive a reboot: keyutils will not do for it.
        let error = Keychain::open_persistent().unwrap_err().to_string();
        assert!(error.contains("no D-Bus session bus"), "{error}");
        return;
    }
    // `keyctl session -`: a fresh session keyring of this test's own (package keyutils).
    in_child(
        "keyutils_keeps_them_when_the_session_has_no_secret_service",
        &["keyctl", "session", "-"],
        &[],
        &["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"],
    );
}

#[test]
fn a_cluster_imported_from_kubeconfig_is_reached_with_the_keychains_token() {
    if std::env::var_os(CHILD).is_some() {
        let config = tempfile::tempdir().unwrap();
        let registry = Registry::open(config.path(), Ok(Keychain::open().unwrap())).unwrap();
        let preview = registry.preview(&KubeconfigSource::Default).unwrap();
        let current = preview.current_context.unwrap();
        let imported = registry
            .import(&KubeconfigSource::Default, &[current])
            .unwrap();
        let kubeconfig = registry.kubeconfig(&imported[0].id).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let namespaces = runtime.block_on(async {
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .unwrap();
            let client = kube::Client::try_from(config).unwrap();
            let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
            api.list(&Default::default()).await.unwrap()
        });
        assert!(
            namespaces
                .items
                .iter()
                .any(|ns| ns.metadata.name.as_deref() == Some("default"))
        );
        return;
    }
    // A second cluster on loopback (TLS, bearer token) is the remote; the child finds it
    // through KUBECONFIG, as kubectl would.
    let remote = kubarium_tests::daemon::Daemon::start_on_free_port();
    let kubeconfig = remote.kubeconfig().display().to_string();
    let keyring = SecretService::start();
    in_child(
        "a_cluster_imported_from_kubeconfig_is_reached_with_the_keychains_token",
        &[],
        &[
            ("DBUS_SESSION_BUS_ADDRESS", keyring.address.as_str()),
            ("KUBECONFIG", kubeconfig.as_str()),
        ],
        &["XDG_RUNTIME_DIR"],
    );
}
