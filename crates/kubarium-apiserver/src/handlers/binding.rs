//! `pods/{name}/binding`: assigns a pod to a node, once.
//!
//! As upstream's binding REST, this is a read-modify-write of the stored pod, retried when
//! another write got in between: no pod update strategy runs (binding is the one write that
//! sets `spec.nodeName`) and no field manager records it.
//!
//! Every pod is bound once, so this is one of the busiest writes. It reads the stored pod
//! only as deep as it changes it ([`Members`]): the rest of the pod — its managed fields,
//! containers and volumes — is copied back as the text it was stored as, where parsing it
//! into a `Value` and writing that out again cost more than the rest of the write.

use axum::response::Response;
use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Value, json};

use super::members::{members, raw, text};
use super::write::{load, revision_marker, stamped};
use super::{Call, created_status, parse_object, store_error};
use crate::StatusError;
use crate::object;

pub(super) async fn bind(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let binding = parse_object(&call.headers, body)?;
    // Upstream's binding validation: a pod is bound to a node, named or kind left empty.
    let kind = binding["target"]["kind"].as_str().unwrap_or_default();
    if !kind.is_empty() && kind != "Node" {
        return Err(StatusError::bad_request(format!(
            "Binding target.kind: Unsupported value: \"{kind}\": supported values: \"Node\", \"<empty>\""
        )));
    }
    let node = binding["target"]["name"].as_str().unwrap_or_default();
    if node.is_empty() {
        return Err(StatusError::bad_request(
            "Binding target.name (the node) is required",
        ));
    }
    if binding["metadata"]["name"]
        .as_str()
        .is_some_and(|named| named != name)
    {
        return Err(StatusError::bad_request(
            "name in URL does not match name in Binding object",
        ));
    }
    let dry_run = call.params.dry_run()?;
    let key = call
        .target
        .resource
        .key(call.target.namespace.as_deref(), &name);
    loop {
        let current = load(call, &name)?;
        let pod =
            assigned(&current.value, &binding, node, &object::now()).map_err(|why| match why {
                Refusal::Conflict(message) => {
                    StatusError::conflict(call.target.resource, &name, &message)
                }
                Refusal::Stored(e) => StatusError::internal(format!(
                    "stored object {} is not a JSON object: {e}",
                    current.key
                )),
            })?;
        if dry_run {
            return Ok(created_status());
        }
        let written = call
            .server
            .store()
            .update(&key, stamped(pod), Some(current.mod_revision))
            .await;
        match written {
            Ok(_) => return Ok(created_status()),
            // Written meanwhile (its node reporting status, say): bind the latest pod.
            Err(kubarium_store::Error::Conflict { .. }) => {}
            Err(error) => return Err(store_error(call, &name, error)),
        }
    }
}

/// Why a pod cannot be bound.
#[derive(Debug)]
enum Refusal {
    /// A 409 with this message: the pod is going, bound already, or not the one meant.
    Conflict(String),
    /// The stored pod is not a JSON object.
    Stored(serde_json::Error),
}

impl From<serde_json::Error> for Refusal {
    fn from(error: serde_json::Error) -> Self {
        Refusal::Stored(error)
    }
}

/// The stored pod `stored` assigned to `node` by `binding` at `now`, serialised with
/// [`revision_marker`] as its `resourceVersion`; or why it cannot be.
fn assigned(stored: &[u8], binding: &Value, node: &str, now: &str) -> Result<Vec<u8>, Refusal> {
    let mut pod = members(Some(stored))?;
    let mut metadata = members(raw(pod.get("metadata")))?;
    let name = text(metadata.get("name"))?.unwrap_or_default();
    if metadata
        .get("deletionTimestamp")
        .is_some_and(|t| t.get() != "null")
    {
        return Err(Refusal::Conflict(format!(
            "pod {name} is being deleted, cannot be assigned to a host"
        )));
    }
    let mut spec = members(raw(pod.get("spec")))?;
    let assigned = text(spec.get("nodeName"))?.unwrap_or_default();
    if !assigned.is_empty() {
        return Err(Refusal::Conflict(format!(
            "pod {name} is already assigned to node \"{assigned}\""
        )));
    }
    // The Binding's uid and resourceVersion are preconditions on the pod's.
    for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
        let wanted = binding["metadata"][field].as_str().unwrap_or_default();
        let found = text(metadata.get(field))?.unwrap_or_default();
        if !wanted.is_empty() && wanted != found {
            return Err(Refusal::Conflict(format!(
                "Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {found}"
            )));
        }
    }

    let node = to_raw_value(&Value::from(node))?;
    spec.insert("nodeName".to_owned(), &node);
    let spec = to_raw_value(&spec)?;
    pod.insert("spec".to_owned(), &spec);

    // The Binding's annotations are copied onto the pod (the scheduler records its decision
    // this way).
    let copied: Vec<(&String, Box<RawValue>)> = match binding["metadata"]["annotations"].as_object()
    {
        Some(annotations) => annotations
            .iter()
            .map(|(key, value)| Ok((key, to_raw_value(value)?)))
            .collect::<Result<_, serde_json::Error>>()?,
        None => Vec::new(),
    };
    let annotations = if copied.is_empty() {
        None
    } else {
        let mut annotations = members(raw(metadata.get("annotations")))?;
        for (key, value) in &copied {
            annotations.insert((*key).clone(), value);
        }
        Some(to_raw_value(&annotations)?)
    };
    if let Some(annotations) = &annotations {
        metadata.insert("annotations".to_owned(), annotations);
    }
    let marker = to_raw_value(&Value::from(revision_marker()))?;
    metadata.insert("resourceVersion".to_owned(), &marker);
    let metadata = to_raw_value(&metadata)?;
    pod.insert("metadata".to_owned(), &metadata);

    let mut status = members(raw(pod.get("status")))?;
    let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let mut conditions = match raw(status.get("conditions")) {
        Some(conditions) => serde_json::from_slice(conditions)?,
        None => Value::Null,
    };
    match conditions.as_array_mut() {
        Some(conditions) => {
            conditions.retain(|c| c["type"] != "PodScheduled");
            conditions.push(scheduled);
        }
        None => conditions = Value::Array(vec![scheduled]),
    }
    let conditions = to_raw_value(&conditions)?;
    status.insert("conditions".to_owned(), &conditions);
    let status = to_raw_value(&status)?;
    pod.insert("status".to_owned(), &status);
    Ok(serde_json::to_vec(&pod)?)
}

#[cfg(test)]
mod tests {
    use super::super::members::assert_same_bytes;
    use super::*;

    /// What binding does to a pod, on the whole parsed pod: the bytes [`assigned`] writes
    /// must be these, to the byte.
    fn assigned_in_full(mut pod: Value, binding: &Value, node: &str, now: &str) -> Vec<u8> {
        pod["spec"]["nodeName"] = Value::from(node);
        if let Some(annotations) = binding["metadata"]["annotations"].as_object()
            && !annotations.is_empty()
        {
            if !pod["metadata"]["annotations"].is_object() {
                pod["metadata"]["annotations"] = json!({});
            }
            for (key, value) in annotations {
                pod["metadata"]["annotations"][key] = value.clone();
            }
        }
        pod["metadata"]["resourceVersion"] = Value::from(revision_marker());
        let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
        if !pod["status"].is_object() {
            pod["status"] = json!({});
        }
        match pod["status"]["conditions"].as_array_mut() {
            Some(conditions) => {
                conditions.retain(|c| c["type"] != "PodScheduled");
                conditions.push(scheduled);
            }
            None => pod["status"]["conditions"] = json!([scheduled]),
        }
        serde_json::to_vec(&pod).unwrap()
    }

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-0", "namespace": "shop", "uid": "u-1", "resourceVersion": "7",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}}}}}}],
            },
            "spec": {"containers": [{"name": "web", "image": "web:1", "args": ["a \"quoted\" é", 1.5, -2]}],
                     "schedulerName": "default-scheduler"},
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        })
    }

    #[test]
    fn binding_writes_what_a_whole_parse_would_and_copies_the_rest_as_stored() {
        let now = "2026-12-02T12:00:00Z";
        let decision = json!({"metadata": {"annotations": {"scheduler.kubarium.dev/decision": "{\"node\":\"n1\"}"}}});
        let mut unschedulable = pod();
        unschedulable["status"]["conditions"] = json!([
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
            {"type": "Other", "status": "True"},
        ]);
        let mut annotated = pod();
        annotated["metadata"]["annotations"] = json!({"keep": "me", "z": "\u{1F600}"});
        let mut bare = pod();
        bare.as_object_mut().unwrap().remove("status");
        bare["metadata"]["annotations"] = Value::Null;
        for (pod, binding) in [
            (pod(), json!({})),
            (pod(), decision.clone()),
            (unschedulable, decision.clone()),
            (annotated, decision.clone()),
            (bare, decision),
        ] {
            let stored = serde_json::to_vec(&pod).unwrap();
            let shallow = assigned(&stored, &binding, "n1", now).unwrap();
            let whole = assigned_in_full(pod.clone(), &binding, "n1", now);
            assert_same_bytes(shallow, whole, format!("{pod} bound by {binding}"));
        }
    }

    #[test]
    fn a_pod_that_is_going_or_bound_or_not_the_one_meant_is_refused() {
        let refused = |pod: Value, binding: Value| {
            let stored = serde_json::to_vec(&pod).unwrap();
            match assigned(&stored, &binding, "n1", "now") {
                Err(Refusal::Conflict(message)) => message,
                other => panic!("{other:?}"),
            }
        };
        let mut going = pod();
        going["metadata"]["deletionTimestamp"] = json!("2026-12-02T12:00:00Z");
        assert!(refused(going, json!({})).contains("is being deleted"));
        let mut bound = pod();
        bound["spec"]["nodeName"] = json!("n2");
        assert!(refused(bound, json!({})).contains("already assigned to node \"n2\""));
        let other = json!({"metadata": {"uid": "u-2"}});
        assert!(
            refused(pod(), other).contains("UID in precondition: u-2, UID in object meta: u-1")
        );
        let stale = json!({"metadata": {"resourceVersion": "6"}});
        assert!(refused(pod(), stale).contains("ResourceVersion in precondition: 6"));
        let mut cleared = pod();
        cleared["metadata"]["deletionTimestamp"] = Value::Null;
        assert!(
            assigned(
                &serde_json::to_vec(&cleared).unwrap(),
                &json!({}),
                "n1",
                "now"
            )
            .is_ok()
        );
        assert!(matches!(
            assigned(b"[1]", &json!({}), "n1", "now"),
            Err(Refusal::Stored(_))
        ));
    }
}
