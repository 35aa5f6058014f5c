//! Reading and writing the parts of a JSON object every kind shares: `metadata` and
//! `status`.

use serde_json::{Map, Value};

/// `metadata`, created if missing.
pub(crate) fn meta_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let map = object
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("made an object above"));
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .unwrap_or_else(|| unreachable!("made an object above"))
}

/// A string field of `metadata`, empty if absent.
pub(crate) fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object["metadata"][field].as_str().unwrap_or_default()
}

/// `metadata.name`.
pub(crate) fn name(object: &Value) -> &str {
    meta_str(object, "name")
}

/// `metadata.namespace`.
pub(crate) fn namespace(object: &Value) -> &str {
    meta_str(object, "namespace")
}

/// Sets or removes (`None`) a field of `metadata`.
pub(crate) fn set_meta(object: &mut Value, field: &str, value: Option<Value>) {
    let meta = meta_mut(object);
    match value {
        Some(value) => {
            meta.insert(field.to_owned(), value);
        }
        None => {
            meta.remove(field);
        }
    }
}

/// The list at `field` of `map`, made an empty one if it is missing or null; `None` if
/// it is something else (which validation has refused already).
pub(crate) fn list_mut<'a>(
    map: &'a mut Map<String, Value>,
    field: &str,
) -> Option<&'a mut Vec<Value>> {
    let list = map.entry(field).or_insert_with(|| Value::Array(Vec::new()));
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    list.as_array_mut()
}

/// `metadata.finalizers`.
pub(crate) fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether anything still holds the object's deletion: a `metadata.finalizers` entry, or
/// for a namespace a `spec.finalizers` one (the namespace controller's `kubernetes`), as
/// kube-apiserver's namespace storage only deletes a namespace whose spec has none.
pub(crate) fn held(kind: &str, object: &Value) -> bool {
    !finalizers(object).is_empty()
        || (kind == "Namespace"
            && object["spec"]["finalizers"]
                .as_array()
                .is_some_and(|list| !list.is_empty()))
}

/// Whether deletion of the object has begun.
pub(crate) fn deleting(object: &Value) -> bool {
    !object["metadata"]["deletionTimestamp"].is_null()
}

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub(crate) fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `object` with `status` taken from `from` (or removed when `from` has none).
pub(crate) fn with_status_of(object: Value, from: &Value) -> Value {
    with_status(object, from.get("status").cloned())
}

/// `object` with its `status` set to `status`, or removed for `None`.
pub(crate) fn with_status(mut object: Value, status: Option<Value>) -> Value {
    if let Some(map) = object.as_object_mut() {
        match status {
            Some(status) => map.insert("status".to_owned(), status),
            None => map.remove("status"),
        };
    }
    object
}

/// Whether two objects differ in anything but `metadata.resourceVersion` (a no-op write is
/// not stored; a change of field ownership is a change).
pub(crate) fn same_content(a: &Value, b: &Value) -> bool {
    // Compared in place, member by member: no copy of either object.
    fn same_except<'a>(
        a: &'a serde_json::Map<String, Value>,
        b: &'a serde_json::Map<String, Value>,
        skip: Option<&str>,
        inner: impl Fn(&str, &'a Value, &'a Value) -> bool,
    ) -> bool {
        let counted = |m: &serde_json::Map<String, Value>| {
            m.len() - usize::from(skip.is_some_and(|skip| m.contains_key(skip)))
        };
        counted(a) == counted(b)
            && a.iter()
                .filter(|(key, _)| Some(key.as_str()) != skip)
                .all(|(key, value)| b.get(key).is_some_and(|other| inner(key, value, other)))
    }
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            same_except(a, b, None, |key, a, b| match (key, a, b) {
                ("metadata", Value::Object(a), Value::Object(b)) => {
                    same_except(a, b, Some("resourceVersion"), |_, a, b| a == b)
                }
                _ => a == b,
            })
        }
        _ => a == b,
    }
}

/// A fresh UID (random, RFC 4122 version 4).
pub(crate) fn new_uid() -> String {
    let mut bytes = [0u8; 16];
    // The system source failing is not something a request can cause or recover from; an
    // all-zero UID would at worst collide, which the store rejects as AlreadyExists.
    let _ = getrandom::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Five characters from the alphabet upstream uses for `generateName` suffixes (no vowels,
/// no look-alikes, so no words and no confusion).
pub(crate) fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = [0u8; 5];
    let _ = getrandom::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn uids_look_like_uuids() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert_ne!(uid, new_uid());
    }

    #[test]
    fn no_op_writes_are_recognised() {
        let owned = json!({"metadata": {"name": "a", "managedFields": [{"manager": "x"}]}});
        assert!(
            !same_content(&owned, &json!({"metadata": {"name": "a"}})),
            "ownership changed"
        );
        let a = json!({"metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "v"}});
        let b = json!({"metadata": {"name": "a", "resourceVersion": "2"}, "data": {"k": "v"}});
        assert!(same_content(&a, &b));
        assert!(!same_content(
            &a,
            &json!({"metadata": {"name": "a"}, "data": {}})
        ));
        // A resourceVersion on one side only is still not content.
        let unversioned = json!({"metadata": {"name": "a"}, "data": {"k": "v"}});
        assert!(same_content(&a, &unversioned) && same_content(&unversioned, &a));
        // Any other difference, in or out of metadata, in either direction, is.
        for other in [
            json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}}),
            json!({"metadata": {"name": "a", "resourceVersion": "1"}}),
            json!({"metadata": {"name": "b", "resourceVersion": "1"}, "data": {"k": "v"}}),
            json!({"data": {"k": "v"}}),
        ] {
            assert!(!same_content(&a, &other), "{other}");
            assert!(!same_content(&other, &a), "{other}");
        }
    }
}
