//! What survives and what stays private: writes acknowledged before a `kill -9` are all
//! there after a restart, the database opens clean, and Secrets never reach the disk in
//! clear.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kubarium_tests::daemon::Daemon;
use kube::api::{Api, ObjectMeta, PostParams};

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("payload".to_owned(), name.repeat(20))])),
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

#[tokio::test]
async fn secret_values_never_reach_the_disk_in_clear() {
    let daemon = Daemon::start_on_free_port();
    let client = daemon.client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let value = "correct-horse-battery-staple-4242";
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
    let read = secrets.get("db").await.unwrap();
    assert_eq!(read.data.unwrap()["password"].0, value.as_bytes());
    // A ConfigMap value proves the scan reads the live database files.
    let configmaps: Api<ConfigMap> = Api::namespaced(client, "default");
    configmaps
        .create(&PostParams::default(), &configmap("visible-marker"))
        .await
        .unwrap();

    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(daemon.data_dir()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("state.db") {
            bytes.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(
        contains(b"visible-markervisible-marker"),
        "the scan sees the database"
    );
    assert!(
        !contains(value.as_bytes()),
        "the secret is in the database in clear"
    );
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(value);
    assert!(
        !contains(encoded.as_bytes()),
        "the secret is in the database base64-encoded"
    );
}
