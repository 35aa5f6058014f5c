//! Scenarios: the shared informers against a live API server. An object handed to a
//! subscriber after a watch event is the very copy the cache holds, so a loop that keeps
//! what it is given (the scheduler keeps every pod) adds no second decoded copy.

use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kubarium_controllers::informers::Informers;
use kube::Api;
use kube::api::PostParams;
use kube::runtime::reflector::ObjectRef;
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

    let handed = tokio::time::timeout(SETTLE, async {
        loop {
            let object = changed.next().await.expect("the subscription ended");
            if object.metadata.name.as_deref() == Some("shared") {
                return object;
            }
        }
    })
    .await
    .expect("the new ConfigMap never reached the subscriber");
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
