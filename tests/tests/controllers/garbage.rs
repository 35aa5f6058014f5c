//! Scenarios: namespace lifecycle (deletion empties the namespace, then it goes; every
//! namespace gets its `default` ServiceAccount and `kube-root-ca.crt`) and the garbage
//! collector's background, foreground and orphan propagation.
//!
//! Owners and dependents are ConfigMaps and a ReplicaSet with hand-made pods, so nothing here
//! depends on the workload controllers; pods stay unscheduled (a node selector nothing
//! matches) so they are deleted at once.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, ServiceAccount};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::{Hollow, eventually};

/// Creates ConfigMap `name` in `namespace` owned by `owners` (name, uid, blockOwnerDeletion).
async fn config_map(
    client: &Client,
    namespace: &str,
    name: &str,
    owners: &[(&str, &str, bool)],
) -> ConfigMap {
    let references: Vec<_> = owners
        .iter()
        .map(|(owner, uid, block)| {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid,
                "blockOwnerDeletion": block})
        })
        .collect();
    let object: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "ownerReferences": references},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &object)
        .await
        .unwrap()
}

fn uid(object: &ConfigMap) -> String {
    object.metadata.uid.clone().unwrap()
}

async fn exists(api: &Api<ConfigMap>, name: &str) -> bool {
    api.get_opt(name).await.unwrap().is_some()
}

#[tokio::test]
async fn new_namespaces_get_a_default_service_account_and_the_root_ca() {
    let cluster = Hollow::start(1, &[]).await;
    cluster.kubectl(&["create", "namespace", "team"]);
    let accounts = Api::<ServiceAccount>::namespaced(cluster.client.clone(), "team");
    let first = eventually("the default service account", || async {
        accounts.get_opt("default").await.unwrap()
    })
    .await;
    let config_maps = Api::<ConfigMap>::namespaced(cluster.client.clone(), "team");
    let root = eventually("kube-root-ca.crt", || async {
        config_maps.get_opt("kube-root-ca.crt").await.unwrap()
    })
    .await;
    let ca = &root.data.as_ref().unwrap()["ca.crt"];
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert!(
        root.metadata
            .annotations
            .unwrap()
            .contains_key("kubernetes.io/description")
    );
    // The system namespaces have them too.
    let system = Api::<ServiceAccount>::namespaced(cluster.client.clone(), "kube-system");
    eventually("kube-system's default service account", || async {
        system.get_opt("default").await.unwrap()
    })
    .await;

    // Deleted, they come back.
    cluster.kubectl(&["delete", "serviceaccount", "default", "-n", "team"]);
    cluster.kubectl(&["delete", "configmap", "kube-root-ca.crt", "-n", "team"]);
    eventually("a new default service account", || async {
        let again = accounts.get_opt("default").await.unwrap()?;
        (again.metadata.uid != first.metadata.uid).then_some(())
    })
    .await;
    eventually("kube-root-ca.crt again", || async {
        let again = config_maps.get_opt("kube-root-ca.crt").await.unwrap()?;
        (again.metadata.uid != root.metadata.uid).then_some(())
    })
    .await;
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_content_then_the_namespace() {
    let cluster = Hollow::start(1, &[]).await;
    cluster.kubectl(&["create", "namespace", "doomed"]);
    cluster.kubectl(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "doomed",
        "--from-literal=a=b",
    ]);
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "token",
        "-n",
        "doomed",
        "--from-literal=t=x",
    ]);
    cluster.kubectl(&[
        "create",
        "service",
        "clusterip",
        "web",
        "-n",
        "doomed",
        "--tcp=80:8080",
    ]);
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "waiting"},
        "spec": {"nodeSelector": {"kubarium.dev/no-such-node": "true"},
            "containers": [{"name": "app", "image": "kubarium/demo"}]},
    }))
    .unwrap();
    Api::<Pod>::namespaced(cluster.client.clone(), "doomed")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    // A ConfigMap held by a finalizer keeps the namespace terminating, with upstream's
    // conditions saying why.
    let held: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "finalizers": ["example.com/hold"]},
    }))
    .unwrap();
    let config_maps = Api::<ConfigMap>::namespaced(cluster.client.clone(), "doomed");
    config_maps
        .create(&PostParams::default(), &held)
        .await
        .unwrap();

    cluster.kubectl(&["delete", "namespace", "doomed", "--wait=false"]);
    let namespaces = Api::<Namespace>::all(cluster.client.clone());
    let stuck = eventually("the namespace waiting on a finalizer", || async {
        let namespace = namespaces.get("doomed").await.unwrap();
        let conditions = namespace.status.as_ref()?.conditions.clone()?;
        let waiting = conditions
            .iter()
            .find(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True")?;
        Some((
            namespace.clone(),
            waiting.message.clone().unwrap_or_default(),
        ))
    })
    .await;
    assert_eq!(
        stuck.1,
        "Some finalizers are remaining: example.com/hold in 1 resource instances"
    );
    assert_eq!(
        stuck.0.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let described = cluster.kubectl(&["describe", "namespace", "doomed"]);
    assert!(described.contains("SomeResourcesRemain"), "{described}");
    // Everything else is gone already.
    assert!(
        Api::<Pod>::namespaced(cluster.client.clone(), "doomed")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let left: Vec<_> = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(left, ["held"]);

    config_maps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    eventually("the namespace gone", || async {
        namespaces
            .get_opt("doomed")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let output = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            cluster.kubeconfig().to_str().unwrap(),
            "get",
            "namespace",
            "doomed",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NotFound"), "{stderr}");

    // Deleting a namespace through kubectl waits until it is gone.
    cluster.kubectl(&["create", "namespace", "quick"]);
    cluster.kubectl(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "quick",
        "--from-literal=a=b",
    ]);
    cluster.kubectl(&["delete", "namespace", "quick", "--timeout=60s"]);
    assert!(namespaces.get_opt("quick").await.unwrap().is_none());
}

#[tokio::test]
async fn background_deletion_removes_dependents() {
    let cluster = Hollow::start(1, &[]).await;
    let client = cluster.client.clone();
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let owner = config_map(&client, "default", "owner", &[]).await;
    let other = config_map(&client, "default", "other-owner", &[]).await;
    config_map(
        &client,
        "default",
        "child",
        &[("owner", &uid(&owner), false)],
    )
    .await;
    config_map(
        &client,
        "default",
        "shared",
        &[
            ("owner", &uid(&owner), false),
            ("other-owner", &uid(&other), false),
        ],
    )
    .await;
    cluster.kubectl(&["delete", "configmap", "owner"]);
    eventually("the dependent deleted", || async {
        (!exists(&config_maps, "child").await).then_some(())
    })
    .await;
    // A dependent with another owner stays, without the reference to the one gone.
    let shared = eventually("the shared dependent released", || async {
        let shared = config_maps.get("shared").await.unwrap();
        (shared.metadata.owner_references.as_ref()?.len() == 1).then_some(shared)
    })
    .await;
    assert_eq!(
        shared.metadata.owner_references.unwrap()[0].name,
        "other-owner"
    );

    // A dependent whose owner never existed goes too.
    config_map(
        &client,
        "default",
        "stray",
        &[("ghost", "0000-ghost", false)],
    )
    .await;
    eventually("the stray dependent deleted", || async {
        (!exists(&config_maps, "stray").await).then_some(())
    })
    .await;
}

#[tokio::test]
async fn replica_set_cascade_deletes_its_pods() {
    let cluster = Hollow::start(1, &[]).await;
    let client = cluster.client.clone();
    let replica_set: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"nodeSelector": {"kubarium.dev/no-such-node": "true"},
                    "containers": [{"name": "app", "image": "kubarium/demo"}]}}},
    }))
    .unwrap();
    let replica_set = Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &replica_set)
        .await
        .unwrap();
    let pods = Api::<Pod>::namespaced(client.clone(), "default");
    for name in ["web-a", "web-b"] {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                    "uid": replica_set.metadata.uid, "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"nodeSelector": {"kubarium.dev/no-such-node": "true"},
                "containers": [{"name": "app", "image": "kubarium/demo"}]},
        }))
        .unwrap();
        // A ReplicaSet controller may have made its own pods meanwhile; ours are extra.
        let _ = pods.create(&PostParams::default(), &pod).await;
    }
    cluster.kubectl(&["delete", "replicaset", "web"]);
    let selected = ListParams::default().labels("app=web");
    eventually("the replica set's pods deleted", || async {
        pods.list(&selected)
            .await
            .unwrap()
            .items
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let cluster = Hollow::start(1, &[]).await;
    let client = cluster.client.clone();
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let owner = config_map(&client, "default", "owner", &[]).await;
    config_map(
        &client,
        "default",
        "free",
        &[("owner", &uid(&owner), false)],
    )
    .await;
    let held: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "finalizers": ["example.com/hold"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                "uid": uid(&owner), "blockOwnerDeletion": true}]},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &held)
        .await
        .unwrap();

    cluster.kubectl(&[
        "delete",
        "configmap",
        "owner",
        "--cascade=foreground",
        "--wait=false",
    ]);
    // The owner waits, marked, while its blocking dependent is held by a finalizer.
    eventually("dependents deleted, the owner waiting", || async {
        let owner = config_maps.get("owner").await.unwrap();
        let held = config_maps.get("held").await.unwrap();
        let waiting = owner.metadata.deletion_timestamp.is_some()
            && owner
                .metadata
                .finalizers
                .as_ref()?
                .iter()
                .any(|f| f == "foregroundDeletion");
        (waiting
            && held.metadata.deletion_timestamp.is_some()
            && !exists(&config_maps, "free").await)
            .then_some(())
    })
    .await;
    config_maps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    eventually("the owner gone after its dependents", || async {
        (!exists(&config_maps, "owner").await && !exists(&config_maps, "held").await).then_some(())
    })
    .await;

    // kubectl's own foreground deletion waits for the same.
    let owner = config_map(&client, "default", "owner2", &[]).await;
    config_map(
        &client,
        "default",
        "child2",
        &[("owner2", &uid(&owner), true)],
    )
    .await;
    cluster.kubectl(&[
        "delete",
        "configmap",
        "owner2",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert!(!exists(&config_maps, "owner2").await);
    assert!(!exists(&config_maps, "child2").await);
}

#[tokio::test]
async fn orphan_deletion_leaves_dependents_without_the_owner() {
    let cluster = Hollow::start(1, &[]).await;
    let client = cluster.client.clone();
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let owner = config_map(&client, "default", "owner", &[]).await;
    config_map(&client, "default", "kept", &[("owner", &uid(&owner), true)]).await;
    cluster.kubectl(&[
        "delete",
        "configmap",
        "owner",
        "--cascade=orphan",
        "--timeout=60s",
    ]);
    eventually("the owner gone", || async {
        (!exists(&config_maps, "owner").await).then_some(())
    })
    .await;
    let kept = config_maps.get("kept").await.unwrap();
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn an_owner_in_another_namespace_is_reported_and_treated_as_gone() {
    let cluster = Hollow::start(1, &[]).await;
    let client = cluster.client.clone();
    cluster.kubectl(&["create", "namespace", "elsewhere"]);
    let owner = config_map(&client, "elsewhere", "owner", &[]).await;
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    config_map(
        &client,
        "default",
        "confused",
        &[("owner", &uid(&owner), false)],
    )
    .await;
    eventually("the confused dependent deleted", || async {
        (!exists(&config_maps, "confused").await).then_some(())
    })
    .await;
    let events = Api::<Event>::namespaced(client.clone(), "default");
    let selected = ListParams::default().fields("involvedObject.name=confused");
    let event = eventually("an OwnerRefInvalidNamespace event", || async {
        let list = events.list(&selected).await.unwrap().items;
        list.into_iter()
            .find(|e| e.reason.as_deref() == Some("OwnerRefInvalidNamespace"))
    })
    .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let message = event.message.unwrap();
    assert!(
        message.starts_with("ownerRef [v1/ConfigMap, namespace: default, name: owner, uid: ")
            && message.ends_with("] does not exist in namespace \"default\""),
        "{message}"
    );
    // The owner itself is untouched.
    let elsewhere = Api::<ConfigMap>::namespaced(client, "elsewhere");
    assert!(exists(&elsewhere, "owner").await);
}
