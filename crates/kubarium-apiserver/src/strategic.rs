//! Strategic merge patch (`application/strategic-merge-patch+json`), the patch kubectl
//! sends for built-in kinds: maps merge field by field, lists merge by their patch merge key
//! ([`crate::schema`]), and directives steer the rest — `$patch: replace|delete|merge`,
//! `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`.

use serde_json::{Map, Value};

use crate::schema::{self, ListMerge, Ty};

/// `original` with `patch` applied.
pub(crate) fn apply(original: &Value, patch: &Value, ty: Ty) -> Result<Value, String> {
    match merge_value(Some(original), patch, ty)? {
        Some(value) => Ok(value),
        None => Err("the patch deletes the whole object".to_owned()),
    }
}

/// Merges `patch` into `original` (absent when the field is new). `None`: delete it.
fn merge_value(original: Option<&Value>, patch: &Value, ty: Ty) -> Result<Option<Value>, String> {
    match patch {
        Value::Object(patch) => merge_map(original.and_then(Value::as_object), patch, ty),
        other => Ok(Some(other.clone())),
    }
}

fn merge_map(
    original: Option<&Map<String, Value>>,
    patch: &Map<String, Value>,
    ty: Ty,
) -> Result<Option<Value>, String> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(None),
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            return Ok(Some(Value::Object(strip_directives(replaced))));
        }
        Some("merge") | None => {}
        Some(other) => return Err(format!("unknown patch type: {other:?} in map")),
    }
    let mut result = original.cloned().unwrap_or_default();
    let mut orders: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = value
                .as_array()
                .ok_or("$deleteFromPrimitiveList must be a list")?;
            if let Some(Value::Array(list)) = result.get_mut(field) {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if let Some(field) = key.strip_prefix("$setElementOrder/") {
            orders.push((
                field,
                value.as_array().ok_or("$setElementOrder must be a list")?,
            ));
            continue;
        }
        if value.is_null() {
            result.remove(key);
            continue;
        }
        let child_ty = schema::child(ty, key);
        let merged = match (value, schema::list(ty, key)) {
            (Value::Array(items), ListMerge::ByKey(merge_key)) => merge_keyed(
                result.get(key).and_then(Value::as_array),
                items,
                merge_key,
                child_ty,
            )?
            .map(Value::Array),
            (Value::Array(items), ListMerge::Set) => {
                let mut list = result
                    .get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for item in items {
                    if !list.contains(item) {
                        list.push(item.clone());
                    }
                }
                Some(Value::Array(list))
            }
            _ => merge_value(result.get(key), value, child_ty)?,
        };
        match merged {
            Some(merged) => {
                result.insert(key.clone(), merged);
            }
            None => {
                result.remove(key);
            }
        }
    }
    for (field, order) in orders {
        if let (Some(Value::Array(list)), ListMerge::ByKey(merge_key)) =
            (result.get_mut(field), schema::list(ty, field))
        {
            reorder(list, order, merge_key);
        } else if let Some(Value::Array(list)) = result.get_mut(field) {
            reorder_primitive(list, order);
        }
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain
            .as_array()
            .ok_or("$retainKeys must be a list")?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        result.retain(|key, _| keep.contains(&key.as_str()));
    }
    Ok(Some(Value::Object(result)))
}

/// Merges list `patch` into `original` by `merge_key`. `None`: the field is deleted.
fn merge_keyed(
    original: Option<&Vec<Value>>,
    patch: &[Value],
    merge_key: &str,
    ty: Ty,
) -> Result<Option<Vec<Value>>, String> {
    if patch
        .iter()
        .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let kept = patch
            .iter()
            .filter(|item| item.get("$patch").is_none())
            .map(|item| {
                item.as_object()
                    .map(|m| Value::Object(strip_directives(m.clone())))
                    .unwrap_or_else(|| item.clone())
            })
            .collect();
        return Ok(Some(kept));
    }
    let mut list = original.cloned().unwrap_or_default();
    for item in patch {
        let Some(key) = item.get(merge_key) else {
            // Without its merge key an element cannot be matched; upstream refuses it.
            return Err(format!(
                "map: {item} does not contain declared merge key: {merge_key}"
            ));
        };
        let position = list
            .iter()
            .position(|existing| existing.get(merge_key) == Some(key));
        match (item.get("$patch").and_then(Value::as_str), position) {
            (Some("delete"), Some(i)) => {
                list.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => match merge_value(Some(&list[i]), item, ty)? {
                Some(merged) => list[i] = merged,
                None => {
                    list.remove(i);
                }
            },
            (_, None) => {
                if let Some(added) = merge_value(None, item, ty)? {
                    list.push(added);
                }
            }
        }
    }
    Ok(Some(list))
}

/// Orders `list` as `order` names its elements (by merge key); elements it does not name
/// keep their relative order after them.
fn reorder(list: &mut [Value], order: &[Value], merge_key: &str) {
    let rank = |item: &Value| {
        order
            .iter()
            .position(|o| o.get(merge_key) == item.get(merge_key))
            .unwrap_or(usize::MAX)
    };
    list.sort_by_key(rank);
}

fn reorder_primitive(list: &mut [Value], order: &[Value]) {
    list.sort_by_key(|item| order.iter().position(|o| o == item).unwrap_or(usize::MAX));
}

/// Removes directive keys from a replaced map (recursively).
fn strip_directives(mut map: Map<String, Value>) -> Map<String, Value> {
    map.retain(|key, _| !key.starts_with('$'));
    for value in map.values_mut() {
        if let Value::Object(inner) = value {
            *inner = strip_directives(std::mem::take(inner));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "finalizers": ["a"]},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                "template": {"spec": {"containers": [
                    {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}]},
                    {"name": "sidecar", "image": "side:1"},
                ]}},
            },
        })
    }

    #[test]
    fn containers_merge_by_name_and_maps_by_field() {
        let patch = json!({
            "metadata": {"labels": {"tier": null, "new": "x"}, "finalizers": ["b"]},
            "spec": {"template": {"spec": {"containers": [
                {"name": "web", "image": "web:2", "env": [{"name": "B", "value": "2"}]},
                {"name": "extra", "image": "extra:1"},
            ]}}},
        });
        let out = apply(&deployment(), &patch, schema::root("Deployment")).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"app": "web", "new": "x"}));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "web:2");
        assert_eq!(
            containers[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(containers[1]["name"], "sidecar");
        assert_eq!(containers[2]["name"], "extra");
    }

    #[test]
    fn directives() {
        let patch = json!({
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
                    "containers": [{"name": "web", "$patch": "delete"}],
                }},
            },
        });
        let out = apply(&deployment(), &patch, schema::root("Deployment")).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!([]));
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "sidecar", "image": "side:1"}])
        );

        let replace = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]}}}});
        let out = apply(&deployment(), &replace, schema::root("Deployment")).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "o"}])
        );

        let out = apply(
            &deployment(),
            &json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}),
            schema::root("Deployment"),
        )
        .unwrap();
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn lists_without_a_strategy_are_replaced() {
        let original = json!({"spec": {"tolerations": [{"key": "a"}], "args": ["x"]}});
        let patch = json!({"spec": {"tolerations": [{"key": "b"}]}});
        assert_eq!(
            apply(&original, &patch, schema::root("Pod")).unwrap()["spec"]["tolerations"],
            json!([{"key": "b"}])
        );
    }

    #[test]
    fn an_element_without_its_key_is_refused() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
        let error = apply(&deployment(), &patch, schema::root("Deployment")).unwrap_err();
        assert!(error.contains("merge key: name"), "{error}");
    }
}
