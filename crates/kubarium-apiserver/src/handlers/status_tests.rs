//! The status patch read one level deep writes what the whole path would, to the byte.

use serde_json::json;

use super::super::members::assert_same_bytes;
use super::*;

const NOW: &str = "2026-12-02T16:00:00Z";

fn writer(manager: &str) -> Writer<'_> {
    Writer {
        manager,
        api_version: "v1",
        subresource: Some("status"),
        kind: "Pod",
        now: NOW,
    }
}

/// What a status merge patch does on the whole parsed object, as `patch_with` and `replace`
/// do it.
fn patched_in_full(stored: &Value, patch: &Value, writer: &Writer<'_>) -> Vec<u8> {
    let mut object = stored.clone();
    let mut status = object.get("status").cloned().unwrap_or(Value::Null);
    json_patch::merge(&mut status, patch);
    object["status"] = status;
    managed::record_update_by(&mut object, Some(stored), writer);
    object["metadata"]["resourceVersion"] = Value::from(revision_marker());
    serde_json::to_vec(&object).unwrap()
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-0", "namespace": "shop", "uid": "u-1", "resourceVersion": "7",
            "labels": {"app": "web"},
            "annotations": {"scheduler.kubarium.dev/decision": "{\"node\":\"n1\",\"é\":\"\\u0001\"}"},
            "managedFields": [
                {"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                 "time": "2026-12-01T00:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}}}}}},
            ],
        },
        "spec": {"containers": [{"name": "web", "image": "web:1", "args": ["a \"quoted\" é", 1.5, -2]}],
                 "nodeName": "n1"},
        "status": {"phase": "Pending", "qosClass": "BestEffort",
                   "conditions": [{"type": "PodScheduled", "status": "True"}]},
    })
}

fn running() -> Value {
    json!({
        "phase": "Running", "podIP": "10.0.0.5", "startTime": NOW,
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True", "lastTransitionTime": NOW},
        ],
        "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0,
                               "state": {"running": {"startedAt": NOW}}}],
    })
}

#[test]
fn a_status_patch_writes_what_the_whole_path_would() {
    let with_entry = |manager: &str, fields: Value| {
        let mut pod = pod();
        pod["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({
                "manager": manager, "operation": "Update", "apiVersion": "v1",
                "time": "2026-12-01T00:00:00Z", "fieldsType": "FieldsV1", "subresource": "status",
                "fieldsV1": {"f:status": fields},
            }));
        pod
    };
    // The node's own earlier entry, owning fields the next patch drops or keeps.
    let mut reported = with_entry(
        "kubarium-node",
        json!({"f:phase": {}, "f:message": {}, "f:reason": {}}),
    );
    reported["status"]["message"] = json!("waiting");
    reported["status"]["reason"] = json!("Pulling");
    // Another manager owning a status field the patch changes.
    let shared = with_entry("other", json!({"f:phase": {}, "f:qosClass": {}}));
    // Entries the walk drops (no fields) or must leave alone wherever they stand: a later
    // one of the node's own, and another manager's with nothing under the status.
    let mut mixed = with_entry("kubarium-node", json!({"f:phase": {}}));
    let entries = mixed["metadata"]["managedFields"].as_array_mut().unwrap();
    entries.push(
        json!({"manager": "empty", "operation": "Update", "fieldsType": "FieldsV1",
                        "fieldsV1": {}}),
    );
    entries.push(
        json!({"manager": "kubarium-node", "operation": "Update", "apiVersion": "v1",
                        "subresource": "status", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:status": {"f:podIP": {}}}}),
    );
    entries.push(
        json!({"manager": "labeller", "operation": "Update", "apiVersion": "v1",
                        "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}),
    );
    let mut nulled = pod();
    nulled["metadata"]["managedFields"] = Value::Null;
    let mut bare = pod();
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    bare.as_object_mut().unwrap().remove("status");
    for (stored, patch) in [
        (pod(), running()),
        (reported.clone(), running()),
        (reported, json!({"message": null, "phase": "Running"})),
        (shared, json!({"phase": "Succeeded"})),
        (mixed, running()),
        (nulled, running()),
        (bare, running()),
    ] {
        let bytes = serde_json::to_vec(&stored).unwrap();
        let writer = writer("kubarium-node");
        let shallow = match status_patched(&bytes, &patch, Some, &writer).unwrap() {
            Patched::Write(bytes) => bytes,
            other => panic!("{other:?} for {patch}"),
        };
        let whole = patched_in_full(&stored, &patch, &writer);
        assert_same_bytes(shallow, whole, format!("{stored} patched with {patch}"));
    }
}

#[test]
fn no_change_writes_nothing_and_deletion_or_a_bad_status_takes_the_whole_path() {
    let writer = writer("kubarium-node");
    let stored = serde_json::to_vec(&pod()).unwrap();
    let same = json!({"phase": "Pending"});
    assert!(matches!(
        status_patched(&stored, &same, Some, &writer).unwrap(),
        Patched::Unchanged
    ));
    // What the decoder makes of the status is what is compared and written.
    let normalised = |_: Value| Some(pod()["status"].clone());
    assert!(matches!(
        status_patched(&stored, &json!({"phase": "Running"}), normalised, &writer).unwrap(),
        Patched::Unchanged
    ));
    assert!(matches!(
        status_patched(&stored, &running(), |_| None, &writer).unwrap(),
        Patched::Whole
    ));
    let mut going = pod();
    going["metadata"]["deletionTimestamp"] = json!(NOW);
    let going = serde_json::to_vec(&going).unwrap();
    assert!(matches!(
        status_patched(&going, &running(), Some, &writer).unwrap(),
        Patched::Whole
    ));
    assert!(status_patched(b"[1]", &running(), Some, &writer).is_err());
}

/// Through the API: a node's status posts are recorded as its `status` entry, a post that
/// changes nothing stores nothing, and the spec and metadata stay as they were.
#[tokio::test]
async fn status_posts_are_recorded_for_their_manager_and_a_repeat_stores_nothing() {
    use crate::testing::{call, namespace, server};
    let server = server();
    namespace(&server, "shop").await;
    let pod = json!({"metadata": {"name": "web-0", "labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "web:1"}]}});
    let (code, created) = call(&server, "POST", "/api/v1/namespaces/shop/pods", pod).await;
    assert_eq!(code, 201, "{created}");
    let uri = "/api/v1/namespaces/shop/pods/web-0/status?fieldManager=kubelet";
    let (code, posted) = call(&server, "PATCH", uri, json!({"status": running()})).await;
    assert_eq!(code, 200, "{posted}");
    assert_eq!(posted["status"]["phase"], "Running");
    assert_eq!(posted["spec"], created["spec"]);
    assert_eq!(posted["metadata"]["labels"], created["metadata"]["labels"]);
    let entries = posted["metadata"]["managedFields"].as_array().unwrap();
    let mine: Vec<&Value> = entries
        .iter()
        .filter(|e| e["manager"] == "kubelet")
        .collect();
    assert_eq!(mine.len(), 1, "{entries:?}");
    assert_eq!(mine[0]["subresource"], "status");
    assert_eq!(mine[0]["operation"], "Update");
    assert!(
        mine[0]["fieldsV1"]["f:status"]["f:phase"].is_object(),
        "{mine:?}"
    );
    let (code, again) = call(&server, "PATCH", uri, json!({"status": running()})).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(
        again["metadata"]["resourceVersion"],
        posted["metadata"]["resourceVersion"]
    );
}
