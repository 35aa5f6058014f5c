//! [`Lean`]: a `DynamicObject` as a list page or watch event delivers it, decoded in one
//! pass and without `metadata.managedFields`, which neither the app's rows nor the control
//! plane's loops read. kube's `DynamicObject` flattens its type fields and data, so serde
//! buffers the whole object before it decodes it, managed fields and all; for a list of ten
//! thousand pods that was most of the decoding.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{ApiResource, DynamicObject, TypeMeta};
use kube::core::DynamicResourceScope;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess};
use serde_json::{Map, Value};

/// An object of any kind, for watches whose readers never read its managed fields.
#[derive(Clone, Debug)]
pub struct Lean(pub DynamicObject);

impl<'de> Deserialize<'de> for Lean {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> de::Visitor<'de> for Object {
            type Value = Lean;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lean, A::Error> {
                let (mut api_version, mut kind) = (None, None);
                let mut metadata = ObjectMeta::default();
                let mut data = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "apiVersion" => api_version = map.next_value()?,
                        "kind" => kind = map.next_value()?,
                        "metadata" => {
                            let meta: Option<Meta> = map.next_value()?;
                            metadata = meta.map(|m| m.0).unwrap_or_default();
                        }
                        _ => {
                            let value = map.next_value()?;
                            data.insert(key, value);
                        }
                    }
                }
                let types = match (api_version, kind) {
                    (Some(api_version), Some(kind)) => Some(TypeMeta { api_version, kind }),
                    _ => None,
                };
                Ok(Lean(DynamicObject {
                    types,
                    metadata,
                    data: Value::Object(data),
                }))
            }
        }
        deserializer.deserialize_map(Object)
    }
}

/// Metadata without its managed fields.
struct Meta(ObjectMeta);

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> de::Visitor<'de> for Fields {
            type Value = Meta;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object's metadata")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Meta, A::Error> {
                let mut fields = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "managedFields" {
                        map.next_value::<IgnoredAny>()?;
                    } else {
                        let value = map.next_value()?;
                        fields.insert(key, value);
                    }
                }
                // From `&Value`, as the API server decodes: one copy of the decoding code.
                ObjectMeta::deserialize(&Value::Object(fields))
                    .map(Meta)
                    .map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

impl Resource for Lean {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(api: &ApiResource) -> Cow<'_, str> {
        DynamicObject::kind(api)
    }

    fn group(api: &ApiResource) -> Cow<'_, str> {
        DynamicObject::group(api)
    }

    fn version(api: &ApiResource) -> Cow<'_, str> {
        DynamicObject::version(api)
    }

    fn api_version(api: &ApiResource) -> Cow<'_, str> {
        DynamicObject::api_version(api)
    }

    fn plural(api: &ApiResource) -> Cow<'_, str> {
        DynamicObject::plural(api)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::super::decode;
    use super::*;

    fn pod(i: usize) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("web-{i}"),
                "namespace": "shop",
                "uid": format!("uid-{i}"),
                "resourceVersion": "41",
                "labels": {"app": "web"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs", "controller": true}],
                "managedFields": [{
                    "manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                    "subresource": "status", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:phase": {}, "f:podIP": {}, "f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}}}}},
                }],
            },
            "spec": {"nodeName": "worker", "containers": [{"name": "app", "image": "nginx"}]},
            "status": {"phase": "Running", "podIP": "10.244.1.5"},
        })
    }

    #[test]
    fn decodes_as_a_dynamic_object_does_less_the_managed_fields() {
        let text = pod(1).to_string();
        let lean: Lean = serde_json::from_str(&text).unwrap();
        let mut dynamic: DynamicObject = serde_json::from_str(&text).unwrap();
        assert!(dynamic.metadata.managed_fields.is_some());
        dynamic.metadata.managed_fields = None;
        assert_eq!(lean.0, dynamic);
        assert_eq!(lean.0.types.as_ref().map(|t| t.kind.as_str()), Some("Pod"));

        // As list items come: no type fields, and metadata may be null.
        let bare: Lean = serde_json::from_str(r#"{"metadata":null,"data":{"a":"b"}}"#).unwrap();
        assert_eq!(bare.0.types, None);
        assert_eq!(bare.0.metadata, ObjectMeta::default());
        assert_eq!(bare.0.data, json!({"data": {"a": "b"}}));

        // A watch event's object comes through serde's buffered content.
        let event = json!({"type": "ADDED", "object": pod(2)}).to_string();
        let event: kube::core::WatchEvent<Lean> = serde_json::from_str(&event).unwrap();
        let kube::core::WatchEvent::Added(lean) = event else {
            panic!("an ADDED event")
        };
        assert_eq!(lean.0.metadata.name.as_deref(), Some("web-2"));
        assert_eq!(lean.0.metadata.managed_fields, None);

        let wrong: Result<Lean, _> = serde_json::from_str(r#"{"metadata":{"name":7}}"#);
        assert!(wrong.is_err());
    }

    /// A pod as a hollow node runs it, with the managed fields its creator and kubelet leave.
    fn running_pod(i: usize) -> Value {
        let mut pod = pod(i);
        let condition = |type_: &str| json!({"type": type_, "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-12-01T06:00:00Z"});
        let owned = |type_: &str| {
            (
                format!("k:{{\"type\":\"{type_}\"}}"),
                json!({".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}),
            )
        };
        let kubelet = [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
        ];
        let owned: serde_json::Map<String, Value> = kubelet.iter().map(|t| owned(t)).collect();
        let conditions: Vec<Value> = kubelet
            .iter()
            .chain(&["PodScheduled"])
            .map(|t| condition(t))
            .collect();
        pod["metadata"]["managedFields"] = json!([
            {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1", "time": "2026-12-01T06:00:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:ownerReferences": {".": {}, "k:{\"uid\":\"rs\"}": {}}},
                          "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {}, "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                                     "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}}},
            {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-12-01T06:00:01Z", "subresource": "status", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:status": {"f:conditions": owned,
                                       "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {".": {}, "k:{\"ip\":\"10.244.1.5\"}": {".": {}, "f:ip": {}}}, "f:startTime": {}}}},
        ]);
        pod["spec"]["volumes"] = json!([{"name": "kube-api-access-x", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}]);
        pod["status"]["conditions"] = Value::from(conditions);
        pod["status"]["containerStatuses"] = json!([{"name": "app", "ready": true, "started": true, "restartCount": 0, "image": "nginx", "imageID": "hollow://sha256:0123456789abcdef",
            "containerID": "hollow://0123456789abcdef", "state": {"running": {"startedAt": "2026-12-01T06:00:01Z"}}, "lastState": {}}]);
        pod
    }

    /// Decoding a list page both ways: `cargo test -p kubarium-controllers --release --lib --
    /// --ignored --nocapture lean_page`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn lean_page() {
        let page = json!({"metadata": {}, "items": (0..500).map(running_pod).collect::<Vec<_>>()})
            .to_string();
        eprintln!("a page of {} bytes", page.len());
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let list: kube::core::ObjectList<DynamicObject> = serde_json::from_str(&page).unwrap();
            let dynamic = started.elapsed();
            let started = std::time::Instant::now();
            let lean: kube::core::ObjectList<Lean> = serde_json::from_str(&page).unwrap();
            let lean_took = started.elapsed();
            assert_eq!(list.items.len(), lean.items.len());
            let started = std::time::Instant::now();
            let mut pods: kube::core::ObjectList<Pod> = serde_json::from_str(&page).unwrap();
            for pod in &mut pods.items {
                pod.metadata.managed_fields = None;
            }
            let typed = started.elapsed();
            let started = std::time::Instant::now();
            let lean: kube::core::ObjectList<Lean> = serde_json::from_str(&page).unwrap();
            let through: Vec<Pod> = lean.items.into_iter().map(|o| decode(o).unwrap()).collect();
            let through_lean = started.elapsed();
            assert_eq!(through, pods.items);
            eprintln!(
                "500 pods: DynamicObject {dynamic:?}, Lean {lean_took:?}; \
                 Pod {typed:?}, Pod through Lean {through_lean:?}"
            );
        }
    }
}
