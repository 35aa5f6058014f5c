//! kube-rs against the API server over TLS: watchers and reflectors that survive a
//! compacted history, streaming lists, and optimistic concurrency under a race.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kubarium_cluster::{Cluster, ClusterBuilder, RuntimeKind};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;

async fn cluster() -> (Cluster, kube::Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ClusterBuilder::new(dir.path())
        .listen("127.0.0.1:0".parse().unwrap())
        .runtime(RuntimeKind::Hollow)
        .start()
        .await
        .unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(cluster.kubeconfig().clone(), &Default::default())
            .await
            .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    (cluster, client, dir)
}

fn configmap(name: &str, app: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([("app".to_owned(), app.to_owned())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
        ..Default::default()
    }
}

/// A short description of a watcher event, for assertions.
fn describe(event: &Event<ConfigMap>) -> String {
    match event {
        Event::Init => "Init".to_owned(),
        Event::InitApply(cm) => {
            format!("InitApply {}", cm.metadata.name.clone().unwrap_or_default())
        }
        Event::InitDone => "InitDone".to_owned(),
        Event::Apply(cm) => format!("Apply {}", cm.metadata.name.clone().unwrap_or_default()),
        Event::Delete(cm) => format!("Delete {}", cm.metadata.name.clone().unwrap_or_default()),
    }
}

/// Runs a watcher in the background, forwarding what it sees.
fn watch(api: Api<ConfigMap>, config: watcher::Config) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, config).boxed();
        while let Some(event) = stream.next().await {
            let text = match &event {
                Ok(event) => describe(event),
                Err(error) => format!("Error {error}"),
            };
            if tx.send(text).is_err() {
                return;
            }
        }
    });
    rx
}

async fn expect(rx: &mut mpsc::UnboundedReceiver<String>, wanted: &str, seen: &mut Vec<String>) {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = rx.recv().await {
            seen.push(event.clone());
            if event == wanted {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "never saw {wanted:?}; saw {seen:?}"
    );
}

#[tokio::test]
async fn a_watcher_relists_after_its_history_is_compacted() {
    let (cluster, client, _dir) = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    // A one-second server timeout makes the watcher re-watch from its last revision soon.
    let mut events = watch(
        api.clone(),
        watcher::Config::default().labels("app=watched").timeout(1),
    );
    let mut seen = Vec::new();
    expect(&mut events, "InitDone", &mut seen).await;
    api.create(&PostParams::default(), &configmap("a", "watched"))
        .await
        .unwrap();
    expect(&mut events, "Apply a", &mut seen).await;
    // Writes it does not see move the revision past its last one; then history goes.
    for i in 0..5 {
        api.create(
            &PostParams::default(),
            &configmap(&format!("other-{i}"), "other"),
        )
        .await
        .unwrap();
    }
    let compacted = cluster.compact_history().await.unwrap();
    assert!(compacted > 1);
    // Its next watch is from a compacted revision: 410 Gone, so it lists again.
    seen.clear();
    expect(&mut events, "Init", &mut seen).await;
    expect(&mut events, "InitApply a", &mut seen).await;
    expect(&mut events, "InitDone", &mut seen).await;
    api.create(&PostParams::default(), &configmap("b", "watched"))
        .await
        .unwrap();
    expect(&mut events, "Apply b", &mut seen).await;
    api.delete("a", &Default::default()).await.unwrap();
    expect(&mut events, "Delete a", &mut seen).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_streaming_list_ends_with_its_bookmark() {
    let (cluster, client, _dir) = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["one", "two"] {
        api.create(&PostParams::default(), &configmap(name, "streamed"))
            .await
            .unwrap();
    }
    // sendInitialEvents=true: the initial state arrives as events, closed by the
    // `k8s.io/initial-events-end` bookmark that kube-rs turns into InitDone.
    let mut events = watch(
        api.clone(),
        watcher::Config::default()
            .labels("app=streamed")
            .streaming_lists(),
    );
    let mut seen = Vec::new();
    expect(&mut events, "InitDone", &mut seen).await;
    assert_eq!(seen, ["Init", "InitApply one", "InitApply two", "InitDone"]);
    api.create(&PostParams::default(), &configmap("three", "streamed"))
        .await
        .unwrap();
    expect(&mut events, "Apply three", &mut seen).await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_reflector_keeps_up() {
    let (cluster, client, _dir) = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let (reader, writer) = kube::runtime::reflector::store();
    let reflector = kube::runtime::reflector(
        writer,
        watcher::watcher(api.clone(), watcher::Config::default()),
    );
    tokio::spawn(reflector.for_each(|_| async {}));
    for i in 0..20 {
        api.create(
            &PostParams::default(),
            &configmap(&format!("r-{i}"), "reflected"),
        )
        .await
        .unwrap();
    }
    api.delete("r-0", &Default::default()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let names: Vec<String> = reader
                .state()
                .iter()
                .filter_map(|cm| cm.metadata.name.clone())
                // Every namespace also holds the cluster's kube-root-ca.crt.
                .filter(|name| name.starts_with("r-"))
                .collect();
            if names.len() == 19 && !names.contains(&"r-0".to_owned()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the reflector converges");
    cluster.shutdown().await;
}

#[tokio::test]
async fn sixteen_racing_writers_one_winner_per_round() {
    let (cluster, client, _dir) = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &configmap("counter", "race"))
        .await
        .unwrap();
    for round in 0..10 {
        let current = api.get("counter").await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let api = api.clone();
                let mut next = current.clone();
                next.data = Some(BTreeMap::from([("k".to_owned(), format!("{round}-{i}"))]));
                tokio::spawn(
                    async move { api.replace("counter", &PostParams::default(), &next).await },
                )
            })
            .collect();
        let mut winners = Vec::new();
        let mut conflicts = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await.unwrap() {
                Ok(_) => winners.push(i),
                Err(kube::Error::Api(status))
                    if status.code == 409 && status.reason == "Conflict" =>
                {
                    conflicts += 1
                }
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        assert_eq!((winners.len(), conflicts), (1, 15), "round {round}");
        // Nothing lost: the winner's write is what is stored.
        let stored = api.get("counter").await.unwrap();
        assert_eq!(stored.data.unwrap()["k"], format!("{round}-{}", winners[0]));
    }
    cluster.shutdown().await;
}
