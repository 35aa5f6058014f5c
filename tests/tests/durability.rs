//! What survives and what stays private: writes acknowledged before a `kill -9` are all
//! there after a restart, the database opens clean, Secrets never reach the disk in clear,
//! and the key that seals them lives in the OS keychain when the session has one.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kubarium_tests::daemon::Daemon;
use kube::api::{Api, ObjectMeta, PostParams};

fn configmap(name: &str) -> ConfigMap {
    configmap_with(name, &name.repeat(20))
}

fn configmap_with(name: &str, payload: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("payload".to_owned(), payload.to_owned())])),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
    let mut daemon = Daemon::start_in(dir, &["--listen", &listen]);
    let api: Api<ConfigMap> = Api::namespaced(daemon.client().await, "default");
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));

    // Eight writers create as fast as they can; each name is recorded once acknowledged.
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let api = api.clone();
            let acknowledged = Arc::clone(&acknowledged);
            tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("w{w}-{i}");
                    match api.create(&PostParams::default(), &configmap(&name)).await {
                        Ok(_) => {
                            acknowledged.lock().unwrap().insert(name);
                        }
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    kubarium_tests::wait_until(
        "a few hundred acknowledged writes",
        Duration::from_secs(60),
        || (acknowledged.lock().unwrap().len() >= 300).then_some(()),
    );
    kubarium_tests::send_signal(daemon.pid(), "KILL");
    daemon.wait(Duration::from_secs(10));
    for writer in writers {
        let _ = writer.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    // The same data dir, a new process: every acknowledged write is there.
    let dir = daemon.take_dir();
    let restarted = Daemon::start_in(dir, &["--listen", &listen]);
    let api: Api<ConfigMap> = Api::namespaced(restarted.client().await, "default");
    let stored: BTreeSet<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    assert!(acknowledged.len() >= 300);
}

/// Creates a Secret holding `value` and returns what reading it back gives.
async fn round_trip_secret(client: &kube::Client, value: &str) -> Vec<u8> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("db".to_owned()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("password".to_owned(), value.to_owned())])),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    read_secret(client).await
}

async fn read_secret(client: &kube::Client) -> Vec<u8> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let read = secrets.get("db").await.unwrap();
    read.data.unwrap()["password"].0.clone()
}

/// Every byte of the database files in `data_dir`.
fn database_bytes(data_dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(data_dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("state.db") {
            bytes.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_secrets_key_lives_in_the_keychain_when_the_session_has_one() {
    let keyring = kubarium_tests::keyring::SecretService::start();
    let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
    let args = ["--listen", listen.as_str(), "--secrets-key", "auto"];
    let bus = [("DBUS_SESSION_BUS_ADDRESS", keyring.address.as_str())];
    let mut daemon = Daemon::start_in_env(tempfile::tempdir().unwrap(), &args, &bus);
    let pki = daemon.data_dir().join("pki");
    assert!(
        pki.join("encryption.keychain").is_file(),
        "{}",
        daemon.logs()
    );
    assert!(
        !pki.join("encryption.key").exists(),
        "no key file beside the database"
    );
    assert!(
        daemon.logs().contains("in the OS keychain"),
        "the choice is logged"
    );
    let value = "keychain-sealed-value-7781";
    let client = daemon.client().await;
    assert_eq!(round_trip_secret(&client, value).await, value.as_bytes());
    assert!(!contains(
        &database_bytes(daemon.data_dir()),
        value.as_bytes()
    ));

    // Restarted in the same session, the cluster reads its key back from the keychain.
    assert!(daemon.stop_with("TERM").success());
    let mut daemon = Daemon::start_in_env(daemon.take_dir(), &args, &bus);
    assert_eq!(read_secret(&daemon.client().await).await, value.as_bytes());
    assert!(daemon.stop_with("TERM").success());

    // Without the keychain the cluster refuses to start, and says why, rather than making a
    // new key that could not open the stored Secrets.
    let dir = daemon.take_dir();
    let output = Daemon::command(dir.path(), &args)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kept in the OS keychain"), "{stderr}");
    assert!(!dir.path().join("pki/encryption.key").exists());
    // The keyring really holds it: GNOME Keyring wrote its keyring file.
    assert!(keyring.home().join(".local/share/keyrings").is_dir());
}

#[tokio::test]
async fn secret_values_never_reach_the_disk_in_clear() {
    let daemon = Daemon::start_on_free_port();
    let client = daemon.client().await;
    let value = "correct-horse-battery-staple-4242";
    assert_eq!(round_trip_secret(&client, value).await, value.as_bytes());
    // A ConfigMap value proves the scan reads the live database files. The store compresses
    // values (LZ4), whose output keeps a run as it is only when no four of its bytes (with
    // the `":"` before it) repeat what came earlier in the object: hence a random one.
    let marker = "Qz7Xw9Kp3Lm2Vt8R";
    let control = configmap_with("control", marker);
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    configmaps
        .create(&PostParams::default(), &control)
        .await
        .unwrap();

    let bytes = database_bytes(daemon.data_dir());
    assert!(
        contains(&bytes, marker.as_bytes()),
        "the scan sees the database"
    );
    assert!(
        !contains(&bytes, value.as_bytes()),
        "the secret is in the database in clear"
    );
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(value);
    assert!(
        !contains(&bytes, encoded.as_bytes()),
        "the secret is in the database base64-encoded"
    );
    assert!(
        daemon.data_dir().join("pki/encryption.key").is_file(),
        "asked for a file, the key is in one"
    );
}
