//! A stored object's JSON parsed into a tree without `metadata.managedFields`, for readers
//! that never look at them (the table printers). A running pod's managed fields are nearly a
//! third of its text (29 % of a hollow pod's after its create and the kubelet's status);
//! skipping them while parsing saves building that part of the tree only to drop it.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess};
use serde_json::{Map, Value};

/// Parses `object`, an object's JSON, leaving out its managed fields.
pub(crate) fn parse(object: &[u8]) -> serde_json::Result<Value> {
    let mut deserializer = serde_json::Deserializer::from_slice(object);
    let value = deserializer.deserialize_map(Fields { metadata: false })?;
    deserializer.end()?;
    Ok(value)
}

/// The fields of an object (`metadata: false`) or of its metadata (`true`).
#[derive(Clone, Copy)]
struct Fields {
    metadata: bool,
}

impl<'de> DeserializeSeed<'de> for Fields {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> de::Visitor<'de> for Fields {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.metadata {
            "an object's metadata"
        } else {
            "a Kubernetes object"
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.metadata && key == "managedFields" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = if !self.metadata && key == "metadata" {
                map.next_value_seed(Fields { metadata: true })?
            } else {
                map.next_value()?
            };
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_tree_is_the_object_less_its_managed_fields() {
        let object = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl", "operation": "Update"}],
            },
            "spec": {"nodeName": "worker", "managedFields": "not metadata: kept"},
            "status": {"phase": "Running"},
        });
        let mut expected = object.clone();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");

        let parsed = super::parse(&serde_json::to_vec(&object).unwrap()).unwrap();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn what_is_not_one_object_is_an_error() {
        for text in [&b"[1]"[..], b"{\"metadata\": 3}", b"{} {}", b"{\"a\":"] {
            assert!(
                super::parse(text).is_err(),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
