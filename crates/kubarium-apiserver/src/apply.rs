//! Server-side apply (`application/apply-patch+yaml`): the configuration a manager applies is
//! merged into the live object; fields the manager applied before and no longer does are
//! removed (when nobody else owns them); and a field another manager owns with a different
//! value is a conflict (409) unless the apply forces it.

use axum::response::Response;
use http::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause;
use serde_json::Value;

use crate::StatusError;
use crate::handlers::{self, Call};
use crate::managed::{self, Entry, FieldSet, Path};
use crate::object;
use crate::request::flag;
use crate::schema::{self, ListMerge, Ty};

/// Attempts before a racing apply gives up with 409.
const ATTEMPTS: usize = 5;

pub(crate) async fn apply(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let manager = call
        .params
        .field_manager
        .clone()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            StatusError::bad_request("fieldManager: Required value: is required for apply requests")
        })?;
    let force = flag(&call.params.force);
    let text = std::str::from_utf8(body)
        .map_err(|_| StatusError::bad_request("the apply configuration is not UTF-8"))?;
    let config: Value = serde_saphyr::from_str(text)
        .map_err(|e| StatusError::bad_request(format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(StatusError::bad_request(
            "the apply configuration must be an object",
        ));
    }
    for field in ["apiVersion", "kind"] {
        if config[field].as_str().is_none_or(str::is_empty) {
            return Err(StatusError::bad_request(format!(
                "{field} must be set in an apply configuration"
            )));
        }
    }
    handlers::write_check_type(call, &config)?;
    let name = call.target.name.clone().unwrap_or_default();
    if !object::name(&config).is_empty() && object::name(&config) != name {
        return Err(StatusError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            object::name(&config)
        )));
    }
    // Decoding fills in what the typed struct requires (`provisioner: ""`); an apply
    // configuration holds exactly the fields it names, so keep only those.
    let decoded = handlers::write_decode_value(call, &config)?;
    let mut config = restrict(decoded, &config);
    if let Some(namespace) = call
        .target
        .namespace
        .clone()
        .filter(|_| call.target.resource.namespaced)
    {
        object::set_meta(&mut config, "namespace", Some(Value::from(namespace)));
    }
    let ty = schema::root(call.target.resource.kind);
    let applied = FieldSet::of(&config, ty);
    let api_version = call.target.resource.api_version();
    call.applying = true;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let key = call
            .target
            .resource
            .key(call.target.namespace.as_deref(), &name);
        let current = call
            .server
            .store()
            .get(&key)
            .map_err(|e| handlers::store_error(call, &name, e))?;
        let Some(current) = current else {
            let mut object = config.clone();
            object::set_meta(&mut object, "name", Some(Value::from(name.clone())));
            let entry = Entry {
                manager: manager.clone(),
                operation: "Apply".to_owned(),
                api_version: api_version.clone(),
                subresource: None,
                fields: applied.clone(),
                time: None,
            };
            managed::store(&mut object, &[entry]);
            let (bytes, code) = handlers::write_create_object(call, object).await?;
            return Ok(handlers::json(code, bytes));
        };
        let live = handlers::read_parse(&current)?;
        let mut entries = managed::entries(&live);
        let conflicts = conflicts(&entries, &manager, &applied, &live, &config);
        if !conflicts.is_empty() && !force {
            return Err(conflict_error(call, &name, &conflicts));
        }
        // Forced: the conflicting fields change hands.
        for (other, path) in &conflicts {
            for entry in entries.iter_mut().filter(|e| &describe(e) == other) {
                entry.fields.remove(path);
            }
        }
        let previous_entry = entries
            .iter()
            .find(|e| e.manager == manager && e.operation == "Apply")
            .cloned();
        let previous = previous_entry
            .as_ref()
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        let mut object = live.clone();
        for path in previous.leaves() {
            let owned_elsewhere = entries
                .iter()
                .any(|e| !is_applier(e, &manager) && e.fields.contains(&path));
            if !applied.contains(&path) && !owned_elsewhere {
                managed::remove_path(&mut object, &path);
            }
        }
        merge(&mut object, &config, ty);
        entries.retain(|e| !(e.manager == manager && e.operation == "Apply"));
        // An apply that changes nothing keeps the entry's time, so it stays a no-op.
        let time = previous_entry
            .filter(|e| e.fields == applied)
            .and_then(|e| e.time);
        entries.push(Entry {
            manager: manager.clone(),
            operation: "Apply".to_owned(),
            api_version: api_version.clone(),
            subresource: None,
            fields: applied.clone(),
            time,
        });
        managed::store(&mut object, &entries);
        let object = if call.target.resource.has_status() {
            object::with_status_of(object, &live)
        } else {
            object
        };
        match handlers::write_replace(call, &name, &live, object, current.mod_revision).await {
            Err(e)
                if e.reason == "Conflict"
                    && attempt < ATTEMPTS
                    && e.message.ends_with(StatusError::MODIFIED) =>
            {
                continue;
            }
            Err(e) => return Err(e),
            Ok(bytes) => return Ok(handlers::json(StatusCode::OK, bytes)),
        }
    }
}

/// `decoded` with only the fields `given` has (objects key by key, lists element by element).
fn restrict(decoded: Value, given: &Value) -> Value {
    match (decoded, given) {
        (Value::Object(decoded), Value::Object(given)) => Value::Object(
            decoded
                .into_iter()
                .filter_map(|(key, value)| given.get(&key).map(|g| (key, restrict(value, g))))
                .collect(),
        ),
        (Value::Array(decoded), Value::Array(given)) => Value::Array(
            decoded
                .into_iter()
                .zip(given)
                .map(|(d, g)| restrict(d, g))
                .collect(),
        ),
        (decoded, _) => decoded,
    }
}

/// Whether `entry` is the applying manager's own apply.
fn is_applier(entry: &Entry, manager: &str) -> bool {
    entry.manager == manager && entry.operation == "Apply" && entry.subresource.is_none()
}

/// A manager as conflict messages name it: `"kubectl" with subresource "scale"`.
fn describe(entry: &Entry) -> String {
    match &entry.subresource {
        Some(sub) => format!("\"{}\" with subresource \"{sub}\"", entry.manager),
        None => format!("\"{}\"", entry.manager),
    }
}

/// Fields `applied` sets that another manager owns with a different live value, with that
/// manager's description.
fn conflicts(
    entries: &[Entry],
    manager: &str,
    applied: &FieldSet,
    live: &Value,
    config: &Value,
) -> Vec<(String, Path)> {
    let mut out = Vec::new();
    for path in applied.leaves() {
        if path.last().is_some_and(|l| l == ".") {
            continue;
        }
        let wanted = managed::lookup(config, &path);
        if managed::lookup(live, &path) == wanted {
            continue;
        }
        // Managers are told apart by name, operation and subresource: the same program's
        // updates (say `kubectl scale`) conflict with its applies.
        for entry in entries.iter().filter(|e| !is_applier(e, manager)) {
            if entry.fields.contains(&path) {
                out.push((describe(entry), path.clone()));
            }
        }
    }
    out
}

fn conflict_error(call: &Call, name: &str, conflicts: &[(String, Path)]) -> StatusError {
    let api_version = call.target.resource.api_version();
    let causes: Vec<StatusCause> = conflicts
        .iter()
        .map(|(manager, path)| StatusCause {
            reason: Some("FieldManagerConflict".to_owned()),
            message: Some(format!("conflict with {manager} using {api_version}")),
            field: Some(display_path(path)),
        })
        .collect();
    let listed: Vec<String> = causes
        .iter()
        .map(|c| {
            format!(
                "{}: {}",
                c.message.as_deref().unwrap_or_default(),
                c.field.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let plural = if conflicts.len() == 1 {
        "conflict"
    } else {
        "conflicts"
    };
    let mut error = StatusError::conflict(
        call.target.resource,
        name,
        &format!(
            "Apply failed with {} {plural}: {}",
            conflicts.len(),
            listed.join("\n")
        ),
    );
    error.message = format!(
        "Apply failed with {} {plural}: {}",
        conflicts.len(),
        listed.join("\n")
    );
    if let Some(details) = error.details.as_mut() {
        details.causes = Some(causes);
    }
    error
}

/// `.spec.template.spec.containers[name="web"].image`, as upstream prints paths.
fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(field) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = element.strip_prefix("k:") {
            let key: serde_json::Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        }
    }
    out
}

/// Merges an apply configuration into the live object: maps field by field, keyed lists
/// element by element, sets by union, everything else replaced.
fn merge(live: &mut Value, config: &Value, ty: Ty) {
    let (Some(live_map), Some(config_map)) = (live.as_object_mut(), config.as_object()) else {
        *live = config.clone();
        return;
    };
    for (key, value) in config_map {
        let child_ty = schema::child(ty, key);
        match (value, schema::list(ty, key)) {
            (Value::Array(items), ListMerge::ByKey(merge_key)) => {
                let target = live_map
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !target.is_array() {
                    *target = Value::Array(Vec::new());
                }
                if let Some(list) = target.as_array_mut() {
                    for item in items {
                        match list
                            .iter_mut()
                            .find(|e| e.get(merge_key) == item.get(merge_key))
                        {
                            Some(existing) => merge(existing, item, child_ty),
                            None => list.push(item.clone()),
                        }
                    }
                }
            }
            (Value::Array(items), ListMerge::Set) => {
                let target = live_map
                    .entry(key.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Some(list) = target.as_array_mut() {
                    for item in items {
                        if !list.contains(item) {
                            list.push(item.clone());
                        }
                    }
                }
            }
            (Value::Object(_), _) => merge(
                live_map.entry(key.clone()).or_insert(Value::Null),
                value,
                child_ty,
            ),
            _ => {
                live_map.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_print_like_upstream() {
        let path: Path = vec![
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"web\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(display_path(&path), ".spec.containers[name=\"web\"].image");
    }

    #[test]
    fn configurations_keep_only_their_fields() {
        let decoded = json!({"provisioner": "", "metadata": {"name": "a", "labels": {"x": "1"}}, "list": [{"a": 1, "b": 0}]});
        let given = json!({"metadata": {"labels": {"x": "1"}}, "list": [{"a": 1}]});
        assert_eq!(
            restrict(decoded, &given),
            json!({"metadata": {"labels": {"x": "1"}}, "list": [{"a": 1}]})
        );
    }

    #[test]
    fn merging_keeps_what_others_set() {
        let mut live = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "a", "args": ["x"]}]}}}});
        let config = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "b"}, {"name": "side", "image": "s"}]}}}});
        merge(&mut live, &config, schema::root("Deployment"));
        assert_eq!(live["spec"]["replicas"], 3);
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "b", "args": ["x"]}, {"name": "side", "image": "s"}])
        );
    }
}
