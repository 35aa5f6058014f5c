//! Watches: the batching on scripted watcher events, then real watches against an
//! in-process cluster with hollow nodes.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::stream;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;
use tokio::sync::mpsc;

use super::*;
use crate::LocalCluster;
use crate::ipc::resources::{ObjectUpdate, Summary};

/// Generous: the machine is shared and slow at times; nothing here measures speed.
const WAIT: Duration = Duration::from_secs(90);

fn configmap(name: &str, uid: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "data": {"k": "v"},
    }))
    .unwrap()
}

/// Runs [`batches`] over scripted events and returns every message.
async fn scripted(events: Vec<watcher::Result<Event<DynamicObject>>>) -> Vec<ResourceBatch> {
    let mut out = Vec::new();
    let kind = catalogue::find("configmaps").unwrap();
    batches(kind, stream::iter(events), |b| {
        out.push(b);
        true
    })
    .await;
    out
}

#[tokio::test]
async fn a_list_is_one_reset_and_later_changes_are_coalesced() {
    let mut events = vec![
        Ok(Event::Init),
        Ok(Event::InitApply(configmap("a", "1"))),
        Ok(Event::InitApply(configmap("b", "2"))),
        Ok(Event::InitDone),
    ];
    for i in 0..100 {
        events.push(Ok(Event::Apply(configmap(
            &format!("c{i}"),
            &format!("c{i}"),
        ))));
    }
    events.push(Ok(Event::Delete(configmap("a", "1"))));
    let out = scripted(events).await;
    assert!(matches!(
        &out[0],
        ResourceBatch::State {
            state: WatchState::Syncing,
            ..
        }
    ));
    let ResourceBatch::Reset { rows } = &out[1] else {
        panic!("expected a reset, got {:?}", out[1])
    };
    assert_eq!(rows.len(), 2);
    // Everything after the list was ready at once: one batch.
    assert_eq!(out.len(), 3, "{out:?}");
    let ResourceBatch::Changes { upserts, deletes } = &out[2] else {
        panic!("expected changes, got {:?}", out[2])
    };
    assert_eq!(upserts.len(), 100);
    assert_eq!(deletes, &["1"]);
}

/// A list longer than a chunk is built on several blocking tasks; its rows still arrive in
/// one reset, in list order, and a re-list replaces them whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_list_arrives_whole_and_in_order() {
    let listing = |count: usize| {
        let mut events = vec![Ok(Event::Init)];
        events.extend((0..count).map(|i| {
            Ok(Event::InitApply(configmap(
                &format!("cm-{i}"),
                &format!("u{i}"),
            )))
        }));
        events.push(Ok(Event::InitDone));
        events
    };
    let mut events = listing(1_001);
    events.extend(listing(3));
    let out = scripted(events).await;
    let resets: Vec<Vec<&str>> = out
        .iter()
        .filter_map(|batch| match batch {
            ResourceBatch::Reset { rows } => Some(rows.iter().map(|r| r.uid.as_str()).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(resets.len(), 2, "{out:?}");
    let first: Vec<String> = (0..1_001).map(|i| format!("u{i}")).collect();
    assert_eq!(resets[0], first);
    assert_eq!(resets[1], ["u0", "u1", "u2"]);
}

#[tokio::test]
async fn errors_report_reconnecting_and_a_relist_resets() {
    let error = || {
        Err(watcher::Error::WatchFailed(kube::Error::Api(Box::new(
            kube::core::Status::failure("the server is gone", "ServiceUnavailable").with_code(503),
        ))))
    };
    let out = scripted(vec![
        Ok(Event::Init),
        Ok(Event::InitDone),
        error(),
        error(),
        Ok(Event::Init),
        Ok(Event::InitApply(configmap("a", "1"))),
        Ok(Event::InitDone),
        error(),
        Ok(Event::Apply(configmap("b", "2"))),
    ])
    .await;
    let kinds: Vec<String> = out
        .iter()
        .map(|b| match b {
            ResourceBatch::Reset { rows } => format!("reset {}", rows.len()),
            ResourceBatch::Changes { upserts, .. } => format!("changes {}", upserts.len()),
            ResourceBatch::State { state, .. } => format!("{state:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Syncing",
            "reset 0",
            "Reconnecting",
            "reset 1",
            "Reconnecting",
            "Live",
            "changes 1"
        ]
    );
    let ResourceBatch::State {
        error: Some(error), ..
    } = &out[2]
    else {
        panic!("no error with reconnecting")
    };
    assert!(
        error.message.contains("the server is gone"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("keeps retrying"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn the_watch_ends_when_the_ui_goes_away() {
    let kind = catalogue::find("configmaps").unwrap();
    let mut sent = 0;
    // A watch that never ends on its own.
    let events = stream::pending();
    tokio::time::timeout(
        WAIT,
        batches(kind, events, |_| {
            sent += 1;
            false
        }),
    )
    .await
    .expect("ended once the sink refused");
    assert_eq!(sent, 1);
}

/// A cluster with hollow nodes, connected.
async fn cluster(dir: &std::path::Path) -> (std::sync::Arc<LocalCluster>, kube::Client) {
    let local = LocalCluster::start(
        kubarium_cluster::ClusterBuilder::new(dir)
            .listen("127.0.0.1:0".parse().unwrap())
            .runtime(kubarium_cluster::RuntimeKind::Hollow),
    );
    tokio::time::timeout(
        WAIT,
        local
            .subscribe()
            .wait_for(|s| s.phase == crate::ipc::ClusterPhase::Connected),
    )
    .await
    .expect("the cluster connected in time")
    .unwrap();
    let client = local.client().await.unwrap();
    (local, client)
}

/// What the UI would hold, fed by a watch running in the background.
struct View {
    rx: mpsc::UnboundedReceiver<ResourceBatch>,
    rows: HashMap<String, Row>,
    resets: usize,
    changes: usize,
    task: tokio::task::JoinHandle<()>,
}

impl View {
    fn watch(client: &kube::Client, resource: &'static str, namespace: Option<&str>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = client.clone();
        let namespace = namespace.map(str::to_owned);
        let task = tokio::spawn(async move {
            watch_resources(client, resource, namespace, move |b| tx.send(b).is_ok())
                .await
                .unwrap();
        });
        View {
            rx,
            rows: HashMap::new(),
            resets: 0,
            changes: 0,
            task,
        }
    }

    /// Applies batches until `done` holds of the rows.
    async fn until(&mut self, what: &str, done: impl Fn(&HashMap<String, Row>) -> bool) {
        let wait = async {
            while !(self.resets > 0 && done(&self.rows)) {
                match self.rx.recv().await.expect("the watch runs") {
                    ResourceBatch::Reset { rows } => {
                        self.resets += 1;
                        self.rows = rows.into_iter().map(|r| (r.uid.clone(), r)).collect();
                    }
                    ResourceBatch::Changes { upserts, deletes } => {
                        self.changes += 1;
                        for row in upserts {
                            self.rows.insert(row.uid.clone(), row);
                        }
                        for uid in deletes {
                            self.rows.remove(&uid);
                        }
                    }
                    ResourceBatch::State { .. } => {}
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; rows: {:?}", self.names()));
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.rows.values().map(|r| r.name.clone()).collect();
        names.sort();
        names
    }
}

impl Drop for View {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "nginx",
            "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}}]},
    }))
    .unwrap()
}

fn named<'a>(rows: &'a HashMap<String, Row>, name: &str) -> Option<&'a Row> {
    rows.values().find(|r| r.name == name)
}

#[tokio::test]
async fn pods_and_nodes_of_a_hollow_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (local, client) = cluster(dir.path()).await;

    let mut nodes = View::watch(&client, "nodes", None);
    nodes
        .until("three ready nodes", |rows| {
            rows.len() == 3
                && rows
                    .values()
                    .all(|r| matches!(&r.summary, Summary::Node(n) if n.ready))
        })
        .await;
    let control_plane = named(&nodes.rows, "kubarium-control-plane").unwrap();
    let Summary::Node(summary) = &control_plane.summary else {
        panic!("not a node summary")
    };
    assert!(summary.hollow);
    assert_eq!(summary.roles, ["control-plane"]);
    assert!(summary.cpu_allocatable_milli > 0);
    assert!(summary.memory_allocatable_bytes > 0);
    assert!(
        summary.taints.iter().any(|t| t.ends_with(":NoSchedule")),
        "{:?}",
        summary.taints
    );
    assert_eq!(
        control_plane.cells[0],
        crate::ipc::resources::Cell::Text("Ready".into())
    );

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap(),
        )
        .await
        .unwrap();
    let mut everywhere = View::watch(&client, "pods", None);
    let mut default = View::watch(&client, "pods", Some("default"));
    default.until("the first list", |_| true).await;
    everywhere.until("the first list", |_| true).await;

    let in_other: Api<Pod> = Api::namespaced(client.clone(), "other");
    in_other
        .create(&PostParams::default(), &pod("elsewhere"))
        .await
        .unwrap();
    let in_default: Api<Pod> = Api::namespaced(client.clone(), "default");
    in_default
        .create(&PostParams::default(), &pod("web"))
        .await
        .unwrap();
    default
        .until("web running", |rows| {
            named(rows, "web").is_some_and(|r| matches!(&r.summary, Summary::Pod(p) if p.ready))
        })
        .await;
    // Created before `web`, so a leak into this namespace's watch would have shown by now.
    assert!(
        named(&default.rows, "elsewhere").is_none(),
        "{:?}",
        default.names()
    );
    let web = named(&default.rows, "web").unwrap();
    let Summary::Pod(summary) = &web.summary else {
        panic!("not a pod summary")
    };
    assert_eq!(summary.status, "Running");
    assert!(summary.node.is_some());
    assert_eq!(summary.cpu_request_milli, 100);
    assert_eq!(summary.containers, ["app"]);
    everywhere
        .until("both pods", |rows| {
            named(rows, "web").is_some() && named(rows, "elsewhere").is_some()
        })
        .await;
    assert!(default.resets == 1 && default.changes > 0);

    in_default
        .delete("web", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    default
        .until("web gone", |rows| named(rows, "web").is_none())
        .await;
    drop((nodes, default, everywhere));
    local.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_configmaps_arrives_in_few_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (local, client) = cluster(dir.path()).await;
    let mut view = View::watch(&client, "configmaps", Some("default"));
    view.until("the first list", |_| true).await;
    let before = view.rows.len();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let creates = (0..200).map(|i| {
        let api = api.clone();
        async move {
            let map: ConfigMap = serde_json::from_value(
                json!({"metadata": {"name": format!("burst-{i}")}, "data": {"i": i.to_string()}}),
            )
            .unwrap();
            api.create(&PostParams::default(), &map).await.unwrap();
        }
    });
    futures_util::future::join_all(creates).await;
    view.until("200 more configmaps", |rows| rows.len() == before + 200)
        .await;
    eprintln!("200 creates arrived in {} batches", view.changes);
    // How few depends on the machine's pace (the flush interval is a clock); that some were
    // coalesced does not: 200 concurrent creates are committed and watched in bursts. The
    // exact coalescing is tested on scripted events above.
    assert!(
        view.changes < 200,
        "200 creates arrived in {} batches: none were coalesced",
        view.changes
    );
    drop(view);
    local.shutdown().await;
}

#[tokio::test]
async fn one_object_is_fetched_and_watched_until_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (local, client) = cluster(dir.path()).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let map: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "settings"}, "data": {"a": "1"}}))
            .unwrap();
    api.create(&PostParams::default(), &map).await.unwrap();

    let object = get_object(client.clone(), "configmaps", Some("default"), "settings")
        .await
        .unwrap();
    assert_eq!(object["apiVersion"], "v1");
    assert_eq!(object["kind"], "ConfigMap");
    assert_eq!(object["data"]["a"], "1");
    assert!(
        object["metadata"].get("managedFields").is_none(),
        "{object}"
    );
    let missing = get_object(client.clone(), "configmaps", Some("default"), "nope")
        .await
        .unwrap_err();
    assert_eq!(
        crate::ipc::AppError::from(missing).code,
        crate::ipc::ErrorCode::NotFound
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    let watching = {
        let client = client.clone();
        tokio::spawn(async move {
            watch_object(
                client,
                "configmaps",
                Some("default".into()),
                "settings",
                move |u| tx.send(u).is_ok(),
            )
            .await
            .unwrap();
        })
    };
    let mut next = async || {
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("an update in time")
            .expect("the watch runs")
    };
    let ObjectUpdate::Object { object } = next().await else {
        panic!("the object first")
    };
    assert_eq!(object["data"]["a"], "1");
    assert!(object["metadata"].get("managedFields").is_none());

    let mut changed = api.get("settings").await.unwrap();
    changed
        .data
        .get_or_insert_default()
        .insert("a".into(), "2".into());
    api.replace("settings", &PostParams::default(), &changed)
        .await
        .unwrap();
    let ObjectUpdate::Object { object } = next().await else {
        panic!("the changed object")
    };
    assert_eq!(object["data"]["a"], "2");

    api.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(next().await, ObjectUpdate::Deleted);
    watching.abort();
    local.shutdown().await;
}

#[tokio::test]
async fn unknown_resources_are_refused() {
    // No cluster needed: the resource is checked before anything is asked.
    let client =
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    let error = watch_resources(client.clone(), "widgets", None, |_| true)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("widgets"), "{error}");
    let error = get_object(client, "pods", None, "web").await.unwrap_err();
    assert!(error.to_string().contains("namespace"), "{error}");
}

#[tokio::test]
async fn app_watches_are_tasks_the_ui_stops_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let (local, _client) = cluster(dir.path()).await;
    let app = crate::App::local_only(std::sync::Arc::clone(&local));
    let refused = app
        .watch_resources(crate::LOCAL, "widgets".into(), None, |_| true)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("widgets"), "{refused}");

    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = app
        .watch_resources(crate::LOCAL, "nodes".into(), None, move |b| {
            tx.send(b).is_ok()
        })
        .await
        .unwrap();
    let reset = async {
        loop {
            if let Some(ResourceBatch::Reset { rows }) = rx.recv().await {
                return rows;
            }
        }
    };
    let rows = tokio::time::timeout(WAIT, reset).await.expect("a reset");
    assert_eq!(rows.len(), 3);
    app.tasks().stop(id);
    // Stopping drops the task and its sink: the channel closes.
    let closed = async { while rx.recv().await.is_some() {} };
    tokio::time::timeout(WAIT, closed)
        .await
        .expect("the watch stopped");
    local.shutdown().await;
}
