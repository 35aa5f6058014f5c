//! Scenarios: ReplicaSets and Deployments as `kubectl` users see them — create, scale,
//! rolling update, `rollout status/history/undo/restart/pause/resume`, Recreate, the
//! progress deadline, and `kubectl describe` showing upstream's conditions and events.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::support::{Hollow, SETTLE};

/// Polls `check` until it returns `Some`, failing with `what` after [`SETTLE`].
async fn settle<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn deployment(name: &str, replicas: i32, image: &str, strategy: serde_json::Value) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }))
    .unwrap()
}

/// The Deployment's ReplicaSets by revision.
async fn replica_sets(client: &Client, app: &str) -> BTreeMap<i64, ReplicaSet> {
    Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|rs| {
            let revision =
                rs.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"]
                    .parse()
                    .unwrap();
            (revision, rs)
        })
        .collect()
}

/// Messages of the events about `name`, oldest first.
async fn events(client: &Client, name: &str) -> Vec<String> {
    let list = Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .unwrap();
    let mut events = list.items;
    events.sort_by_key(|e| e.metadata.name.clone());
    events
        .into_iter()
        .map(|e| {
            format!(
                "{} {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect()
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().unwrap().replicas.unwrap()
}

/// Whether `kubectl rollout status` finished, by what the controller reports.
async fn rolled_out(client: &Client, name: &str) {
    let api = Api::<Deployment>::namespaced(client.clone(), "default");
    settle("the rollout", || async {
        let d = api.get(name).await.ok()?;
        let want = d.spec.as_ref()?.replicas?;
        let s = d.status?;
        (s.observed_generation >= d.metadata.generation
            && s.updated_replicas == Some(want)
            && s.replicas == Some(want)
            && s.available_replicas == Some(want))
        .then_some(())
    })
    .await;
}

/// The field managers of `meta`'s `managedFields`, with their subresource.
fn managers(meta: &ObjectMeta) -> Vec<(String, Option<String>)> {
    let entries = meta.managed_fields.iter().flatten();
    entries
        .map(|e| (e.manager.clone().unwrap_or_default(), e.subresource.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_scale_rolling_update_and_undo() {
    let cluster = Hollow::start(1, &[]).await;
    let api = Api::<Deployment>::namespaced(cluster.client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("web", 3, "web:1", json!({})),
    )
    .await
    .unwrap();
    let status = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(
        status.contains("deployment \"web\" successfully rolled out"),
        "{status}"
    );

    let first = replica_sets(&cluster.client, "web").await;
    let rs1 = first[&1].metadata.name.clone().unwrap();
    let hash = first[&1].metadata.labels.as_ref().unwrap()["pod-template-hash"].clone();
    assert_eq!(rs1, format!("web-{hash}"));
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default")
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 3);
    for pod in &pods.items {
        let name = pod.metadata.name.as_deref().unwrap();
        assert_eq!(name.len(), rs1.len() + 6, "{name}");
        let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("ReplicaSet", rs1.as_str())
        );
        assert_eq!(
            (owner.controller, owner.block_owner_deletion),
            (Some(true), Some(true))
        );
        // Each component writes as its own field manager, named as upstream's are.
        assert_eq!(
            managers(&pod.metadata),
            [
                ("kube-controller-manager".to_owned(), None),
                ("kubelet".to_owned(), Some("status".to_owned()))
            ],
            "{name}"
        );
    }
    let deployment = api.get("web").await.unwrap();
    let status_manager = (
        "kube-controller-manager".to_owned(),
        Some("status".to_owned()),
    );
    assert!(
        managers(&deployment.metadata).contains(&status_manager),
        "{:?}",
        managers(&deployment.metadata)
    );
    let rs_events = events(&cluster.client, &rs1).await;
    assert_eq!(
        rs_events
            .iter()
            .filter(|e| e.starts_with("SuccessfulCreate Created pod: web-"))
            .count(),
        3
    );

    cluster.kubectl(&["scale", "deployment/web", "--replicas=5"]);
    rolled_out(&cluster.client, "web").await;
    assert_eq!(replicas(&replica_sets(&cluster.client, "web").await[&1]), 5);

    cluster.kubectl(&["set", "image", "deployment/web", "web=web:2"]);
    let status = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    rolled_out(&cluster.client, "web").await;
    let second = replica_sets(&cluster.client, "web").await;
    assert_eq!((replicas(&second[&1]), replicas(&second[&2])), (0, 5));
    let rs2 = second[&2].metadata.name.clone().unwrap();

    let history = cluster.kubectl(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, ["1", "2"], "{history}");

    cluster.kubectl(&["rollout", "undo", "deployment/web"]);
    let status = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    rolled_out(&cluster.client, "web").await;
    let d = api.get("web").await.unwrap();
    let image = d.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("web:1"));
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "3"
    );
    let third = replica_sets(&cluster.client, "web").await;
    let back = &third[&3];
    assert_eq!(
        back.metadata.name.as_deref(),
        Some(rs1.as_str()),
        "undo reuses the first ReplicaSet"
    );
    assert_eq!(
        back.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision-history"],
        "1"
    );
    assert_eq!((replicas(back), replicas(&third[&2])), (5, 0));

    let scaling = events(&cluster.client, "web").await;
    for expected in [
        format!("ScalingReplicaSet Scaled up replica set {rs1} from 0 to 3"),
        format!("ScalingReplicaSet Scaled up replica set {rs1} from 3 to 5"),
        format!("ScalingReplicaSet Scaled up replica set {rs2} from 0 to 2"),
    ] {
        assert!(
            scaling.contains(&expected),
            "{expected} not in {scaling:#?}"
        );
    }
    let down = format!("ScalingReplicaSet Scaled down replica set {rs2} from ");
    assert!(scaling.iter().any(|e| e.starts_with(&down)), "{scaling:#?}");

    let described = cluster.kubectl(&["describe", "deployment", "web"]);
    for line in [
        "Replicas:               5 desired | 5 updated | 5 total | 5 available | 0 unavailable",
        "StrategyType:           RollingUpdate",
        "RollingUpdateStrategy:  25% max unavailable, 25% max surge",
        "  Available      True    MinimumReplicasAvailable",
        "  Progressing    True    NewReplicaSetAvailable",
        &format!("NewReplicaSet:   {rs1} (5/5 replicas created)"),
        &format!("Scaled up replica set {rs1} from 0 to 3"),
        "deployment-controller",
    ] {
        assert!(described.contains(line), "{line:?} not in:\n{described}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_scales_down_before_it_scales_up() {
    let cluster = Hollow::start(1, &[]).await;
    let api = Api::<Deployment>::namespaced(cluster.client.clone(), "default");
    let recreate = json!({"type": "Recreate"});
    api.create(
        &PostParams::default(),
        &deployment("db", 2, "db:1", recreate),
    )
    .await
    .unwrap();
    rolled_out(&cluster.client, "db").await;
    cluster.kubectl(&["set", "image", "deployment/db", "web=db:2"]);
    let status = cluster.kubectl(&["rollout", "status", "deployment/db", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    let rss = replica_sets(&cluster.client, "db").await;
    let (old, new) = (
        rss[&1].metadata.name.clone().unwrap(),
        rss[&2].metadata.name.clone().unwrap(),
    );
    let scaling = events(&cluster.client, "db").await;
    let down = scaling
        .iter()
        .position(|e| *e == format!("ScalingReplicaSet Scaled down replica set {old} from 2 to 0"))
        .expect("old scaled down");
    let up = scaling
        .iter()
        .position(|e| *e == format!("ScalingReplicaSet Scaled up replica set {new} from 0 to 2"))
        .expect("new scaled up");
    assert!(down < up, "{scaling:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_restart_and_history() {
    let cluster = Hollow::start(1, &[]).await;
    let api = Api::<Deployment>::namespaced(cluster.client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("app", 2, "app:1", json!({})),
    )
    .await
    .unwrap();
    rolled_out(&cluster.client, "app").await;

    cluster.kubectl(&["rollout", "pause", "deployment/app"]);
    cluster.kubectl(&["set", "image", "deployment/app", "web=app:2"]);
    let paused = settle("the paused condition", || async {
        let d = api.get("app").await.ok()?;
        let status = d.status?;
        let progressing = status
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Progressing")?;
        (status.observed_generation >= d.metadata.generation
            && progressing.reason.as_deref() == Some("DeploymentPaused"))
        .then_some(progressing)
    })
    .await;
    assert_eq!(
        (paused.status.as_str(), paused.message.as_deref()),
        ("Unknown", Some("Deployment is paused"))
    );
    assert_eq!(
        replica_sets(&cluster.client, "app").await.len(),
        1,
        "no rollout while paused"
    );

    cluster.kubectl(&["rollout", "resume", "deployment/app"]);
    let status = cluster.kubectl(&["rollout", "status", "deployment/app", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    assert_eq!(replica_sets(&cluster.client, "app").await.len(), 2);

    cluster.kubectl(&["rollout", "restart", "deployment/app"]);
    let status = cluster.kubectl(&["rollout", "status", "deployment/app", "--timeout=60s"]);
    assert!(status.contains("successfully rolled out"), "{status}");
    let rss = replica_sets(&cluster.client, "app").await;
    assert_eq!(rss.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    let template = rss[&3].spec.as_ref().unwrap().template.as_ref().unwrap();
    assert!(
        template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()
            .contains_key("kubectl.kubernetes.io/restartedAt")
    );
    let history = cluster.kubectl(&["rollout", "history", "deployment/app", "--revision=2"]);
    assert!(history.contains("app:2"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_deadline_exceeded_fails_rollout_status() {
    let cluster = Hollow::start(1, &[]).await;
    let mut d = deployment("stuck", 1, "stuck:1", json!({}));
    let spec = d.spec.as_mut().unwrap();
    spec.progress_deadline_seconds = Some(2);
    // No node fits, so its pod stays Pending and the rollout makes no progress.
    let pod_spec = spec.template.spec.as_mut().unwrap();
    pod_spec.node_selector = Some([("disk".to_owned(), "none-has-it".to_owned())].into());
    Api::<Deployment>::namespaced(cluster.client.clone(), "default")
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let output = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(["rollout", "status", "deployment/stuck", "--timeout=60s"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("deployment \"stuck\" exceeded its progress deadline"),
        "{stderr}"
    );
    let described = cluster.kubectl(&["describe", "deployment", "stuck"]);
    assert!(
        described.contains("  Progressing    False   ProgressDeadlineExceeded"),
        "{described}"
    );
    assert!(
        described.contains("  Available      False   MinimumReplicasUnavailable"),
        "{described}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_set_replaces_deleted_pods_and_adopts_orphans() {
    let cluster = Hollow::start(1, &[]).await;
    let rs: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "front", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"tier": "front"}},
            "template": {
                "metadata": {"labels": {"tier": "front"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]},
            },
        },
    }))
    .unwrap();
    let rs_api = Api::<ReplicaSet>::namespaced(cluster.client.clone(), "default");
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    rs_api.create(&PostParams::default(), &rs).await.unwrap();
    let ready = |count: i32| {
        let rs_api = rs_api.clone();
        async move {
            let s = rs_api.get("front").await.ok()?.status?;
            (s.ready_replicas == Some(count)
                && s.available_replicas == Some(count)
                && s.replicas == count)
                .then_some(())
        }
    };
    settle("two ready replicas", || ready(2)).await;

    let listed = pods
        .list(&ListParams::default().labels("tier=front"))
        .await
        .unwrap();
    let victim = listed.items[0].metadata.name.clone().unwrap();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    settle("a replacement", || async {
        let names: Vec<String> = pods
            .list(&ListParams::default().labels("tier=front"))
            .await
            .ok()?
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        (names.len() == 2 && !names.contains(&victim)).then_some(())
    })
    .await;

    let orphan: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stray", "namespace": "default", "labels": {"tier": "front"}},
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    // Adopted, then one of three deleted: the unready or newest goes first.
    settle("adoption and scale-down", || async {
        let items = pods
            .list(&ListParams::default().labels("tier=front"))
            .await
            .ok()?
            .items;
        let live: Vec<&Pod> = items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        (live.len() == 2).then_some(())
    })
    .await;
    settle("two ready replicas again", || ready(2)).await;
    let messages = events(&cluster.client, "front").await;
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("SuccessfulCreate Created pod: front-")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("SuccessfulDelete Deleted pod: ")),
        "{messages:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_replicas_become_ready_without_extra_pods() {
    let cluster = Hollow::start(1, &[]).await;
    let api = Api::<Deployment>::namespaced(cluster.client.clone(), "default");
    let started = Instant::now();
    api.create(
        &PostParams::default(),
        &deployment("big", 100, "big:1", json!({})),
    )
    .await
    .unwrap();
    settle("100 pods", || async {
        let s = api.get("big").await.ok()?.status?;
        (s.replicas == Some(100)).then_some(())
    })
    .await;
    eprintln!("100 pods created in {:?}", started.elapsed());
    settle("100 ready replicas", || async {
        let s = api.get("big").await.ok()?.status?;
        (s.ready_replicas == Some(100)).then_some(())
    })
    .await;
    eprintln!("100 replicas Ready in {:?}", started.elapsed());
    rolled_out(&cluster.client, "big").await;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default")
        .list(&ListParams::default().labels("app=big"))
        .await
        .unwrap();
    assert_eq!(
        pods.items.len(),
        100,
        "expectations keep a slow cache from creating twice"
    );
    let rs = replica_sets(&cluster.client, "big").await;
    let name = rs[&1].metadata.name.clone().unwrap();
    // Events are written behind the work they describe.
    settle("an event per pod", || async {
        let created = events(&cluster.client, &name).await;
        (created
            .iter()
            .filter(|e| e.starts_with("SuccessfulCreate"))
            .count()
            == 100)
            .then_some(())
    })
    .await;
}
