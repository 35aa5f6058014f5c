//! Scenarios: the shared informers against a live API server. An object handed to a
//! subscriber, listed or changed, is the very copy the cache holds, so a loop that keeps
//! what it is given (the scheduler and the node pool keep every pod) adds no second decoded
//! copy; the events stream carries the watch's events in order.

use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kubarium_controllers::informers::{Events, Informers, Subscription};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;
use serde_json::json;
use tokio::task::JoinSet;

use crate::support::{Hollow, SETTLE};

#[tokio::test]
async fn a_subscriber_shares_the_cached_copy_of_a_changed_object() {
    let cluster = Hollow::start(1, &[]).await;
    let informers = Informers::new(cluster.client.clone());
    let cache = informers.store::<ConfigMap>();
    let mut changed = informers.subscribe::<ConfigMap>();
    let mut tasks = JoinSet::new();
    informers.start(&mut tasks);
    tokio::time::timeout(SETTLE, informers.synced::<ConfigMap>())
        .await
        .expect("the ConfigMap cache never synced");

    let config_maps = Api::<ConfigMap>::namespaced(cluster.client.clone(), "default");
    let created: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "shared"},
        "data": {"greeting": "hello"},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &created)
        .await
        .unwrap();

    let handed = handed_out(&mut changed, "shared").await;
    let held = cache
        .get(&ObjectRef::new("shared").within("default"))
        .expect("the cache lacks the ConfigMap it handed out");
    assert_eq!(
        held.metadata.resource_version, handed.metadata.resource_version,
        "the cache moved on before the test looked"
    );
    assert!(
        Arc::ptr_eq(&held, &handed),
        "the subscriber got a second copy of the cached object"
    );
    assert!(
        handed.metadata.managed_fields.is_none(),
        "informers drop managedFields"
    );
    tasks.abort_all();
}

/// The ConfigMap `name` once the subscription hands it out, within [`SETTLE`].
async fn handed_out(subscription: &mut Subscription<ConfigMap>, name: &str) -> Arc<ConfigMap> {
    tokio::time::timeout(SETTLE, async {
        loop {
            let object = subscription.next().await.expect("the subscription ended");
            if object.metadata.name.as_deref() == Some(name) {
                return object;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("ConfigMap {name} never reached the subscriber"))
}

/// The next event, within [`SETTLE`].
async fn next(events: &mut Events<ConfigMap>) -> Event<Arc<ConfigMap>> {
    tokio::time::timeout(SETTLE, events.next())
        .await
        .expect("no event came")
        .expect("the events ended")
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn the_events_stream_hands_out_the_cached_copies_of_a_list_then_each_change() {
    let cluster = Hollow::start(1, &[]).await;
    let config_maps = Api::<ConfigMap>::namespaced(cluster.client.clone(), "default");
    config_maps
        .create(&PostParams::default(), &config_map("before"))
        .await
        .unwrap();
    let informers = Informers::new(cluster.client.clone());
    let cache = informers.store::<ConfigMap>();
    let mut listed = informers.subscribe::<ConfigMap>();
    let mut events = informers.events::<ConfigMap>();
    let mut tasks = JoinSet::new();
    informers.start(&mut tasks);

    let named = |event: &Event<Arc<ConfigMap>>| match event {
        Event::Apply(o) | Event::InitApply(o) | Event::Delete(o) => o.metadata.name.clone(),
        Event::Init | Event::InitDone => None,
    };
    assert!(matches!(next(&mut events).await, Event::Init));
    let mut before = None;
    loop {
        match next(&mut events).await {
            Event::InitApply(object) => {
                if object.metadata.name.as_deref() == Some("before") {
                    before = Some(object);
                }
            }
            Event::InitDone => break,
            other => panic!("a list carries only InitApply until InitDone, not {other:?}"),
        }
    }
    let before = before.expect("the list lacked the ConfigMap made before the start");
    let held = cache
        .get(&ObjectRef::new("before").within("default"))
        .expect("the cache lacks the listed ConfigMap");
    assert!(
        Arc::ptr_eq(&held, &before),
        "a listed object was handed out as a second copy"
    );
    let subscribed = handed_out(&mut listed, "before").await;
    assert!(Arc::ptr_eq(&held, &subscribed));

    config_maps
        .create(&PostParams::default(), &config_map("after"))
        .await
        .unwrap();
    config_maps
        .delete("before", &DeleteParams::default())
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = next(&mut events).await;
        match (&event, named(&event).as_deref()) {
            (Event::Apply(_), Some("after")) => seen.push("apply after"),
            (Event::Delete(_), Some("before")) => seen.push("delete before"),
            _ => {}
        }
    }
    assert_eq!(seen, ["apply after", "delete before"]);
    tasks.abort_all();
}
