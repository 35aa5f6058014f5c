//! Probes on hollow nodes: hollow containers run no process, so their probes count as
//! passing (a probed pod becomes Ready, nothing is restarted) and no probe timer runs,
//! unless the pod is annotated `hollow.kubarium.dev/probes: fail` — then every probe fails
//! on its timers: the pod never becomes Ready and its liveness probe restarts the container,
//! with the kubelet's events.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;

use crate::support::{Hollow, eventually};

fn probed(name: &str, annotations: serde_json::Value) -> Pod {
    let probe = |extra: serde_json::Value| {
        let mut probe = json!({"exec": {"command": ["true"]}, "periodSeconds": 1});
        probe
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        probe
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [{
            "name": "app",
            "image": "app:1",
            "readinessProbe": probe(json!({})),
            "livenessProbe": probe(json!({"failureThreshold": 1})),
            "startupProbe": probe(json!({})),
        }]},
    }))
    .unwrap()
}

fn app(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStatus> {
    pod.status.as_ref()?.container_statuses.as_ref()?.first()
}

#[tokio::test]
async fn hollow_probes_pass_unless_told_to_fail() {
    let cluster = Hollow::start(1, &[]).await;
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default");
    pods.create(&PostParams::default(), &probed("passing", json!({})))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &probed("failing", json!({"hollow.kubarium.dev/probes": "fail"})),
    )
    .await
    .unwrap();

    let passing = eventually("the probed hollow pod to be Ready", || {
        let pods = pods.clone();
        async move {
            let pod = pods.get("passing").await.ok()?;
            app(&pod).filter(|s| s.ready && s.started == Some(true))?;
            Some(pod)
        }
    })
    .await;
    assert_eq!(app(&passing).unwrap().restart_count, 0);

    // The startup probe fails, so the container is restarted and never ready.
    let failing = eventually("the failing hollow pod to be restarted", || {
        let pods = pods.clone();
        async move {
            let pod = pods.get("failing").await.ok()?;
            app(&pod).filter(|s| s.restart_count >= 1)?;
            Some(pod)
        }
    })
    .await;
    assert!(!app(&failing).unwrap().ready);
    let events = Api::<Event>::namespaced(cluster.client.clone(), "default");
    eventually("the Unhealthy and Killing events", || {
        let events = events.clone();
        async move {
            let list = events
                .list(&ListParams::default().fields("involvedObject.name=failing"))
                .await
                .ok()?;
            let has = |reason: &str, text: &str| {
                list.items.iter().any(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.message.as_deref().is_some_and(|m| m.starts_with(text))
                })
            };
            (has("Unhealthy", "Startup probe failed: ")
                && has(
                    "Killing",
                    "Container app failed startup probe, will be restarted",
                ))
            .then_some(())
        }
    })
    .await;
}
