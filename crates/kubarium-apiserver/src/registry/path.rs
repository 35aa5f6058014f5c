//! Where a JSON object fails to decode as a kind: the path of the field (as in
//! `spec.containers[0].image`) that a `400 BadRequest` names, so a client (and the app's
//! YAML editor) can point at it.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// How many decodes [`failing_path`] may spend at most: enough for any object a person
/// writes; the path found so far is reported when they run out.
const PATH_SEARCH_DECODES: usize = 256;
/// How many JSON values all its decodes together may walk, so that a huge body costs a
/// bounded multiple of one decode (a few at least are always tried).
const PATH_SEARCH_WORK: usize = 4_000_000;
const PATH_SEARCH_MIN_DECODES: usize = 8;

/// The path (`spec.containers[0].image`) of the field that makes `value` fail to decode as
/// `K` with `error`, found by taking fields out one at a time: the one whose absence changes
/// the error holds it, and the search goes on inside it. Only a failure pays for this, and
/// it costs no second copy of every type's decoding code, as a path-tracking decoder would.
pub(crate) fn failing_path<K: DeserializeOwned>(value: &Value, error: &str) -> String {
    let mut trial = value.clone();
    let mut path: Vec<Step<String>> = Vec::new();
    let mut budget = (PATH_SEARCH_WORK / values_in(value).max(1))
        .clamp(PATH_SEARCH_MIN_DECODES, PATH_SEARCH_DECODES);
    let still_fails = |trial: &Value| K::deserialize(trial).is_err_and(|e| e.to_string() == error);
    'descend: while let Some(node) = at_mut(&mut trial, &path) {
        let segments: Vec<Step<String>> = match node {
            Value::Object(map) => map.keys().cloned().map(Step::Key).collect(),
            Value::Array(items) => (0..items.len()).map(Step::Index).collect(),
            _ => break,
        };
        for segment in segments {
            if budget == 0 {
                break 'descend;
            }
            budget -= 1;
            let Some(taken) = at_mut(&mut trial, &path).map(|node| take(node, &segment)) else {
                break 'descend;
            };
            let holds_error = !still_fails(&trial);
            if let Some(node) = at_mut(&mut trial, &path) {
                put_back(node, &segment, taken);
            }
            if holds_error {
                path.push(segment);
                continue 'descend;
            }
        }
        break;
    }
    render(&path)
}

/// How many JSON values `value` holds, itself included.
fn values_in(value: &Value) -> usize {
    1 + match value {
        Value::Object(map) => map.values().map(values_in).sum(),
        Value::Array(items) => items.iter().map(values_in).sum(),
        _ => 0,
    }
}

/// One step of a path into a JSON value: an object's key or an array's index.
pub(super) enum Step<K> {
    Key(K),
    Index(usize),
}

/// A path as messages write it: `spec.containers[0].image`.
pub(super) fn render<K: AsRef<str>>(path: &[Step<K>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key.as_ref());
            }
            Step::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

fn at_mut<'a>(value: &'a mut Value, path: &[Step<String>]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |node, segment| match segment {
        Step::Key(key) => node.get_mut(key.as_str()),
        Step::Index(index) => node.get_mut(*index),
    })
}

fn take(node: &mut Value, segment: &Step<String>) -> Value {
    match (node, segment) {
        (Value::Object(map), Step::Key(key)) => map.remove(key).unwrap_or_default(),
        (Value::Array(items), Step::Index(index)) => items.remove(*index),
        _ => Value::Null,
    }
}

fn put_back(node: &mut Value, segment: &Step<String>, taken: Value) {
    match (node, segment) {
        (Value::Object(map), Step::Key(key)) => {
            map.insert(key.clone(), taken);
        }
        (Value::Array(items), Step::Index(index)) => items.insert(*index, taken),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use serde_json::json;

    use super::*;

    fn path_of<K: DeserializeOwned>(value: &Value) -> String {
        let error = K::deserialize(value)
            .err()
            .expect("the value must not decode");
        failing_path::<K>(value, &error.to_string())
    }

    #[test]
    fn the_path_leads_to_the_field_with_the_wrong_type() {
        assert_eq!(
            path_of::<ConfigMap>(&json!({"metadata": {"name": 5}, "data": {"a": "b"}})),
            "metadata.name"
        );
        let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": [
            {"name": "a", "image": "nginx"},
            {"name": "b", "image": "nginx", "ports": [{"containerPort": 80}, {"containerPort": "http"}]},
        ]}});
        assert_eq!(
            path_of::<Pod>(&pod),
            "spec.containers[1].ports[1].containerPort"
        );
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_named_not_what_it_holds() {
        let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": {"name": "a"}}});
        assert_eq!(path_of::<Pod>(&pod), "spec.containers");
    }

    #[test]
    fn a_document_of_the_wrong_shape_has_no_path() {
        assert_eq!(path_of::<Pod>(&json!(["not", "a", "pod"])), "");
    }

    #[test]
    fn a_huge_object_stops_the_search_where_its_budget_ends() {
        let mut data: serde_json::Map<String, Value> = (0..PATH_SEARCH_DECODES * 2)
            .map(|i| (format!("k{i:05}"), Value::from("v")))
            .collect();
        data.insert("zz".to_owned(), Value::from(1));
        let map = json!({"metadata": {"name": "big"}, "data": data});
        assert_eq!(path_of::<ConfigMap>(&map), "data");
    }
}
