//! StatefulSets and their volumes: ordinals created in order, each after the previous is
//! Ready; stable names and claims that outlive their pods; scale down in reverse; a
//! rolling update held at a partition; claims bound to provisioned or static volumes, and
//! volumes reclaimed by policy.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::support::{Hollow, PodHistory, eventually};

fn web(replicas: i32, claims: bool) -> StatefulSet {
    let mut set = json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "nginx",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
            },
        },
    });
    if claims {
        set["spec"]["volumeClaimTemplates"] = json!([{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }]);
    }
    serde_json::from_value(set).unwrap()
}

async fn ready_pod(pods: &Api<Pod>, name: &str) -> Option<Pod> {
    let pod = pods.get_opt(name).await.ok()??;
    let ready = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    (ready && pod.metadata.deletion_timestamp.is_none()).then_some(pod)
}

async fn set_status(sets: &Api<StatefulSet>, check: impl Fn(&StatefulSet) -> bool) -> StatefulSet {
    eventually("the StatefulSet's status", || async {
        sets.get("web").await.ok().filter(|s| check(s))
    })
    .await
}

fn ready_replicas(set: &StatefulSet) -> i32 {
    set.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

#[tokio::test]
async fn ordinals_come_up_in_order_and_keep_their_names_and_claims() {
    let cluster = Hollow::start(3, &[]).await;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let claims = Api::<PersistentVolumeClaim>::namespaced(cluster.client.clone(), "default");
    let sets = Api::<StatefulSet>::namespaced(cluster.client.clone(), "default");
    let history = PodHistory::start(&cluster.client, "default").await;
    sets.create(&PostParams::default(), &web(3, true))
        .await
        .unwrap();
    let done = set_status(&sets, |s| ready_replicas(s) == 3).await;

    // Each ordinal appeared only once the one before it was Ready.
    for (before, after) in [("web-0", "web-1"), ("web-1", "web-2")] {
        let ready = history.first(before, |ready, _| ready).unwrap();
        let created = history.first(after, |_, _| true).unwrap();
        assert!(
            ready < created,
            "{after} was created before {before} was Ready: {:?}",
            history.states()
        );
    }
    let status = done.status.unwrap();
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(
        (
            status.replicas,
            status.current_replicas,
            status.updated_replicas
        ),
        (3, Some(3), Some(3))
    );

    // Stable identity, and a bound claim per pod.
    let web0 = ready_pod(&pods, "web-0").await.unwrap();
    let labels = web0.metadata.labels.clone().unwrap();
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "0");
    assert_eq!(
        labels["controller-revision-hash"],
        status.update_revision.clone().unwrap()
    );
    let spec = web0.spec.clone().unwrap();
    assert_eq!(
        (spec.hostname.as_deref(), spec.subdomain.as_deref()),
        (Some("web-0"), Some("nginx"))
    );
    let claim = eventually("data-web-0 bound", || async {
        claims
            .get("data-web-0")
            .await
            .ok()
            .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
    })
    .await;
    let claim_spec = claim.spec.clone().unwrap();
    assert_eq!(claim_spec.storage_class_name.as_deref(), Some("standard"));
    let volume = claim_spec.volume_name.clone().unwrap();
    assert_eq!(
        volume,
        format!("pvc-{}", claim.metadata.uid.clone().unwrap())
    );

    // The pod comes back under its name, with the same claim still bound to the same volume.
    cluster.kubectl(&["delete", "pod", "web-0", "--wait=false"]);
    let old_uid = web0.metadata.uid.clone();
    let again = eventually("a new web-0 Ready", || async {
        ready_pod(&pods, "web-0")
            .await
            .filter(|p| p.metadata.uid != old_uid)
    })
    .await;
    let volumes = again.spec.unwrap().volumes.unwrap();
    let data = volumes.iter().find(|v| v.name == "data").unwrap();
    assert_eq!(
        data.persistent_volume_claim.as_ref().unwrap().claim_name,
        "data-web-0"
    );
    let kept = claims.get("data-web-0").await.unwrap();
    assert_eq!(kept.metadata.uid, claim.metadata.uid);
    assert_eq!(
        kept.spec.unwrap().volume_name.as_deref(),
        Some(volume.as_str())
    );

    let events = cluster.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message,FROM:.source.component",
    ]);
    for line in [
        "create Pod web-0 in StatefulSet web successful",
        "create Claim data-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-2 in StatefulSet web successful",
    ] {
        assert!(events.contains(line), "no event {line:?} in\n{events}");
    }
    assert!(events.contains("statefulset-controller"), "{events}");
    let rollout = cluster.kubectl(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(
        rollout.contains("partitioned roll out complete: 3 new pods have been updated")
            || rollout.contains("statefulset rolling update complete 3 pods at revision"),
        "{rollout}"
    );
}

#[tokio::test]
async fn scale_down_goes_in_reverse_and_a_rolling_update_stops_at_the_partition() {
    let cluster = Hollow::start(3, &[]).await;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    let sets = Api::<StatefulSet>::namespaced(cluster.client.clone(), "default");
    sets.create(&PostParams::default(), &web(3, false))
        .await
        .unwrap();
    set_status(&sets, |s| ready_replicas(s) == 3).await;

    let history = PodHistory::start(&cluster.client, "default").await;
    cluster.kubectl(&["scale", "sts/web", "--replicas=1"]);
    set_status(&sets, |s| {
        s.status.as_ref().is_some_and(|st| st.replicas == 1)
    })
    .await;
    let gone2 = history.first("web-2", |_, deleting| deleting).unwrap();
    let gone1 = history.first("web-1", |_, deleting| deleting).unwrap();
    assert!(
        gone2 < gone1,
        "web-1 went before web-2: {:?}",
        history.states()
    );
    assert!(ready_pod(&pods, "web-0").await.is_some());

    cluster.kubectl(&["scale", "sts/web", "--replicas=3"]);
    let before = set_status(&sets, |s| ready_replicas(s) == 3).await;
    let old_revision = before.status.unwrap().update_revision.unwrap();

    // With partition 2 only web-2 moves to the new template.
    let patch = json!({"spec": {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
        "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.28"}]}},
    }});
    sets.patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let held = set_status(&sets, |s| {
        let st = s.status.clone().unwrap_or_default();
        st.observed_generation == s.metadata.generation
            && st.updated_replicas == Some(1)
            && st.ready_replicas == Some(3)
    })
    .await;
    let new_revision = held.status.unwrap().update_revision.unwrap();
    assert_ne!(new_revision, old_revision);
    let revision =
        |pod: &Pod| pod.metadata.labels.as_ref().unwrap()["controller-revision-hash"].clone();
    let web2 = ready_pod(&pods, "web-2").await.unwrap();
    assert_eq!(revision(&web2), new_revision);
    for name in ["web-0", "web-1"] {
        let pod = pods.get(name).await.unwrap();
        assert_eq!(
            revision(&pod),
            old_revision,
            "{name} moved below the partition"
        );
        assert_eq!(
            pod.spec.unwrap().containers[0].image.as_deref(),
            Some("nginx:1.27")
        );
    }
    let rollout = cluster.kubectl(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert!(
        rollout.contains("partitioned roll out complete: 1 new pods have been updated"),
        "{rollout}"
    );

    // Partition 0: the rest follow, highest ordinal first, and the rollout completes.
    let history = PodHistory::start(&cluster.client, "default").await;
    let patch = json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}});
    sets.patch("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let done = set_status(&sets, |s| {
        let st = s.status.clone().unwrap_or_default();
        st.updated_replicas == Some(3)
            && st.ready_replicas == Some(3)
            && st.current_revision == st.update_revision
    })
    .await;
    assert_eq!(
        done.status.unwrap().current_revision.as_deref(),
        Some(new_revision.as_str())
    );
    let gone1 = history.first("web-1", |_, deleting| deleting).unwrap();
    let gone0 = history.first("web-0", |_, deleting| deleting).unwrap();
    assert!(
        gone1 < gone0,
        "web-0 was updated before web-1: {:?}",
        history.states()
    );
    let rollout = cluster.kubectl(&["rollout", "status", "sts/web", "--timeout=60s"]);
    // kubectl reports any RollingUpdate with a partition field this way, 0 included.
    assert!(
        rollout.contains("partitioned roll out complete: 3 new pods have been updated"),
        "{rollout}"
    );
    let revisions = cluster.kubectl(&["get", "controllerrevisions", "-o", "name"]);
    assert_eq!(revisions.lines().count(), 2, "{revisions}");
}

#[tokio::test]
async fn claims_bind_provisioned_or_static_volumes_which_are_reclaimed_by_policy() {
    let cluster = Hollow::start(0, &["--runtime", "hollow"]).await;
    let claims = Api::<PersistentVolumeClaim>::namespaced(cluster.client.clone(), "default");
    let volumes = Api::<PersistentVolume>::all(cluster.client.clone());
    let classes = cluster.kubectl(&["get", "storageclass", "standard", "-o", "jsonpath={.provisioner} {.reclaimPolicy} {.volumeBindingMode} {.metadata.annotations.storageclass\\.kubernetes\\.io/is-default-class}"]);
    assert_eq!(classes, "kubarium.dev/local-path Delete Immediate true");

    let claim = |name: &str, class: Option<&str>| -> PersistentVolumeClaim {
        let mut c = json!({"metadata": {"name": name}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}});
        if let Some(class) = class {
            c["spec"]["storageClassName"] = json!(class);
        }
        serde_json::from_value(c).unwrap()
    };
    let bound =
        |name: &'static str| {
            let claims = claims.clone();
            async move {
                eventually(&format!("{name} bound"), || async {
                    claims.get(name).await.ok().filter(|c| {
                        c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
                    })
                })
                .await
            }
        };

    // Provisioned: a directory under the data dir, removed with the volume.
    claims
        .create(&PostParams::default(), &claim("scratch", None))
        .await
        .unwrap();
    let scratch = bound("scratch").await;
    let name = scratch.spec.clone().unwrap().volume_name.unwrap();
    let volume = volumes.get(&name).await.unwrap();
    let annotations = volume.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations["pv.kubernetes.io/provisioned-by"],
        "kubarium.dev/local-path"
    );
    let path = std::path::PathBuf::from(volume.spec.clone().unwrap().host_path.unwrap().path);
    assert!(
        path.starts_with(cluster.daemon.data_dir()) && path.is_dir(),
        "{}",
        path.display()
    );
    let claim_annotations = scratch.metadata.annotations.clone().unwrap();
    assert_eq!(claim_annotations["pv.kubernetes.io/bind-completed"], "yes");
    assert_eq!(
        claim_annotations["pv.kubernetes.io/bound-by-controller"],
        "yes"
    );
    let status = scratch.status.unwrap();
    assert_eq!(status.capacity.unwrap()["storage"].0, "2Gi");
    let events = cluster.kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=scratch",
        "-o",
        "custom-columns=REASON:.reason,MESSAGE:.message",
    ]);
    assert!(
        events.contains(&format!(
            "Successfully provisioned volume {name} using kubarium.dev/local-path"
        )),
        "{events}"
    );
    cluster.kubectl(&["delete", "pvc", "scratch"]);
    eventually("the provisioned volume deleted", || async {
        volumes
            .get_opt(&name)
            .await
            .ok()
            .and_then(|v| v.is_none().then_some(()))
    })
    .await;
    assert!(!path.exists());

    // Static: the smallest fitting volume binds; Retain keeps it Released.
    for (pv, size) in [("small", "1Gi"), ("fits", "5Gi"), ("big", "50Gi")] {
        let volume: PersistentVolume = serde_json::from_value(json!({
            "metadata": {"name": pv},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                "storageClassName": "", "hostPath": {"path": format!("/tmp/{pv}")}},
        }))
        .unwrap();
        volumes
            .create(&PostParams::default(), &volume)
            .await
            .unwrap();
    }
    claims
        .create(&PostParams::default(), &claim("static", Some("")))
        .await
        .unwrap();
    let bound_static = bound("static").await;
    assert_eq!(
        bound_static.spec.unwrap().volume_name.as_deref(),
        Some("fits")
    );
    let phase = |v: PersistentVolume| v.status.and_then(|s| s.phase).unwrap_or_default();
    eventually("fits Bound", || async {
        volumes
            .get("fits")
            .await
            .ok()
            .filter(|v| phase(v.clone()) == "Bound")
    })
    .await;
    eventually("small Available", || async {
        volumes
            .get("small")
            .await
            .ok()
            .filter(|v| phase(v.clone()) == "Available")
    })
    .await;
    cluster.kubectl(&["delete", "pvc", "static"]);
    eventually("fits Released", || async {
        volumes
            .get("fits")
            .await
            .ok()
            .filter(|v| phase(v.clone()) == "Released")
    })
    .await;
}
