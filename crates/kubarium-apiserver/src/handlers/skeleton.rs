//! The part of a stored object that selectors read, parsed without the rest.
//!
//! A watch with a label or field selector decides for every write whether the object (and
//! its previous version) matches. Selectors read only `metadata.labels` and scalar fields
//! (`spec.nodeName`, `status.phase`, `involvedObject.name`, …), never an array, an
//! annotation or managed fields — which are most of a pod's bytes. [`parse`] keeps every
//! object and scalar and drops arrays and `metadata.annotations`, so a kubelet-style
//! `spec.nodeName` watch does not build a full tree of every pod twice per write.
//! Only for deciding: what a client receives is still the stored bytes, or the full parse.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The selector-relevant skeleton of a JSON object, or `None` if `bytes` are not JSON.
pub(crate) fn parse(bytes: &[u8]) -> Option<Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Skeleton { metadata: false }
        .deserialize(&mut deserializer)
        .ok()?;
    deserializer.end().ok()?;
    Some(value.unwrap_or(Value::Null))
}

/// A value's skeleton: `None` for what is dropped. `metadata` says the value is an
/// object's `metadata`, whose annotations are dropped.
struct Skeleton {
    metadata: bool,
}

impl<'de> DeserializeSeed<'de> for Skeleton {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skeleton {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Value::from(v)))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Some(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.metadata && key == "annotations" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let seed = Skeleton {
                metadata: key == "metadata",
            };
            if let Some(value) = map.next_value_seed(seed)? {
                object.insert(key, value);
            }
        }
        Ok(Some(Value::Object(object)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_labels_and_scalars_and_drops_arrays_and_annotations() {
        let pod = json!({
            "metadata": {
                "name": "web-0",
                "namespace": "default",
                "labels": {"app": "web"},
                "annotations": {"note": "big"},
                "managedFields": [{"manager": "kubectl"}],
            },
            "spec": {"nodeName": "node-1", "hostNetwork": true, "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready"}]},
            "type": "Opaque",
        });
        let skeleton = parse(&serde_json::to_vec(&pod).unwrap()).unwrap();
        assert_eq!(
            skeleton,
            json!({
                "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
                "spec": {"nodeName": "node-1", "hostNetwork": true},
                "status": {"phase": "Running"},
                "type": "Opaque",
            })
        );
    }

    #[test]
    fn annotations_are_dropped_only_from_metadata() {
        let skeleton = parse(br#"{"spec":{"annotations":{"a":"b"}}}"#).unwrap();
        assert_eq!(skeleton, json!({"spec": {"annotations": {"a": "b"}}}));
    }

    #[test]
    fn what_is_not_json_has_no_skeleton() {
        assert_eq!(parse(b"{\"metadata\":"), None);
        assert_eq!(parse(b"{} trailing"), None);
    }
}
