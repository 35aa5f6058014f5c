//! Per-kind rules, written against k8s-openapi's typed structs ([`Kind`]) and served to the
//! generic request handlers as JSON ([`Rules`], implemented once for every kind by
//! [`Typed`]).

use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, StatusCause};
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::table::{self, Column};
use crate::validation::{Causes, NameRule};

/// Where in its life an object is being admitted.
pub(crate) enum Stage<'a> {
    /// A create.
    Create,
    /// An update of the object (or a patch), with the stored object before it.
    Update(&'a Value),
    /// A write through the `status` subresource. All but the status is the stored
    /// object's, and decoding the request already normalised the status, so only the kind's
    /// [`Kind::STATUS_ADMISSION`] runs (upstream's status strategies validate the status
    /// alone too).
    Status,
}

/// Why an object was refused.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// It does not decode as its kind (wrong types): 400.
    BadRequest(String),
    /// It decodes but breaks validation: 422, one cause per field.
    Invalid(Vec<StatusCause>),
}

/// What the generic handlers need from a kind, on JSON objects.
pub(crate) trait Rules: Send + Sync {
    /// Decodes `body` as this kind: the object as the server would store it (unknown fields
    /// dropped) and the paths of the unknown fields, for `fieldValidation`.
    fn decode(&self, body: &Value) -> Result<(Value, Vec<String>), Rejection>;
    /// Applies kube-apiserver's defaults and validates; returns the object to store.
    fn admit(&self, object: Value, stage: Stage<'_>) -> Result<Value, Rejection>;
    /// Whether `metadata.generation` counts spec changes for this kind.
    fn tracks_generation(&self) -> bool;
    /// Whether a status write runs admission of its own ([`Kind::STATUS_ADMISSION`]); if
    /// not, `admit` at [`Stage::Status`] returns the object as it is.
    fn admits_status(&self) -> bool;
    /// Columns of `kubectl get`.
    fn columns(&self) -> &'static [Column];
    /// One row of `kubectl get`, one cell per column, from the object's stored JSON.
    fn row(&self, object: &[u8], now: Timestamp) -> Vec<Value>;
    /// As [`Rules::row`], for an object a client already parsed into its metadata and the
    /// rest of its JSON (as `kube`'s `DynamicObject` holds it).
    fn row_parts(&self, metadata: &ObjectMeta, rest: &Value, now: Timestamp) -> Vec<Value>;
    /// The value of a field selector's field, `None` if the kind does not support it.
    fn field(&self, object: &Value, field: &str) -> Option<String>;
    /// Registers the kind's schema (and those it uses) with `generator`, for the test that
    /// checks the schemas the binary ships (`openapi/schemas.rs`).
    #[cfg(test)]
    fn register_schema(&self, generator: &mut k8s_openapi::schemars::SchemaGenerator);
    /// The name of the kind's schema, e.g. `io.k8s.api.apps.v1.Deployment`.
    fn schema_name(&self) -> String;
}

/// Kind-specific behaviour, as upstream's registry strategies and defaulting functions
/// give it. Every method has the generic default; kinds override what they need.
pub(crate) trait Kind:
    k8s_openapi::Resource
    + k8s_openapi::schemars::JsonSchema
    + k8s_openapi::Metadata<Ty = ObjectMeta>
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Whether spec changes bump `metadata.generation`.
    const GENERATION: bool = false;

    /// How names of this kind must look.
    const NAME_RULE: NameRule = NameRule::Subdomain;

    /// Fills in defaults kube-apiserver fills in (defaulting functions and the built-in
    /// mutating admission plugins).
    fn default(&mut self) {}

    /// Validation of a new object beyond metadata (which is validated generically).
    fn validate(&self, _causes: &mut Causes) {}

    /// Validation of an update against the stored object: immutable fields and the like.
    fn validate_update(&self, _old: &Self, _causes: &mut Causes) {}

    /// What a status write goes through, for the kinds whose status has defaults or rules
    /// (upstream's status defaulting and `Validate…StatusUpdate`); without it a status write
    /// is not decoded again.
    const STATUS_ADMISSION: Option<fn(&mut Self, &mut Causes)> = None;

    /// The columns of `kubectl get`; by default name and age.
    fn columns() -> &'static [Column] {
        table::DEFAULT_COLUMNS
    }

    /// The cells of a row: after the name when the first column is the name (the name cell
    /// is added generically), else all of them.
    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![table::age(self.metadata().creation_timestamp.as_ref(), now)]
    }

    /// Fields usable in field selectors besides `metadata.name` and `metadata.namespace`,
    /// with the JSON path each reads (they differ now and then, e.g. Job `status.successful`).
    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[]
    }
}

/// The [`Rules`] of a [`Kind`].
pub(crate) struct Typed<K>(PhantomData<fn() -> K>);

impl<K> Typed<K> {
    pub(crate) const NEW: Self = Typed(PhantomData);
}

/// `value` decoded as `K`; a failure names the kind, the field's path and what was wrong.
fn decode_as<K: Kind>(value: &Value) -> Result<K, Rejection> {
    K::deserialize(value).map_err(|error| {
        let error = error.to_string();
        let path = super::path::failing_path::<K>(value, &error);
        Rejection::BadRequest(if path.is_empty() {
            format!(
                "{} in version \"{}\" cannot be handled as a {}: {error}",
                K::KIND,
                K::VERSION,
                K::KIND
            )
        } else {
            format!(
                "{} in version \"{}\" cannot be handled as a {}: {path}: {error}",
                K::KIND,
                K::VERSION,
                K::KIND
            )
        })
    })
}

fn encode<K: Kind>(object: &K) -> Result<Value, Rejection> {
    serde_json::to_value(object)
        .map_err(|e| Rejection::BadRequest(format!("cannot encode the {}: {e}", K::KIND)))
}

impl<K: Kind> Rules for Typed<K> {
    fn decode(&self, body: &Value) -> Result<(Value, Vec<String>), Rejection> {
        let typed = decode_as::<K>(body)?;
        let mut normalized = encode(&typed)?;
        drop_added_type_meta(body, &mut normalized, true);
        let mut unknown = Vec::new();
        unknown_fields(body, &normalized, &mut unknown);
        Ok((normalized, unknown))
    }

    fn admit(&self, object: Value, stage: Stage<'_>) -> Result<Value, Rejection> {
        match stage {
            Stage::Status => match K::STATUS_ADMISSION {
                Some(admit) => round_trip::<K>(object, |typed, causes| {
                    admit(typed, causes);
                    Ok(())
                }),
                None => Ok(object),
            },
            Stage::Create | Stage::Update(_) => round_trip::<K>(object, |typed, causes| {
                typed.default();
                crate::validation::object_meta(typed.metadata(), K::NAME_RULE, causes);
                typed.validate(causes);
                if let Stage::Update(old) = stage {
                    typed.validate_update(&decode_as::<K>(old)?, causes);
                }
                Ok(())
            }),
        }
    }

    fn tracks_generation(&self) -> bool {
        K::GENERATION
    }

    fn admits_status(&self) -> bool {
        K::STATUS_ADMISSION.is_some()
    }

    fn columns(&self) -> &'static [Column] {
        K::columns()
    }

    fn row(&self, object: &[u8], now: Timestamp) -> Vec<Value> {
        // Through a JSON tree, with the decoder from a tree that every kind has for writes:
        // one from the text would be a second copy of every type's decoding code. No printer
        // reads managed fields, so they are left out while parsing.
        let typed = super::unmanaged::parse(object).and_then(|object| K::deserialize(&object));
        match typed {
            Ok(typed) => typed_row(&typed, now),
            // Stored objects always decode; if one does not, show what we can.
            Err(_) => {
                let name = serde_json::from_slice::<Value>(object)
                    .map(|v| v["metadata"]["name"].clone())
                    .unwrap_or(Value::Null);
                unknown_row::<K>(name)
            }
        }
    }

    fn row_parts(&self, metadata: &ObjectMeta, rest: &Value, now: Timestamp) -> Vec<Value> {
        match K::deserialize(rest) {
            Ok(mut typed) => {
                // No printer reads managed fields; leaving them out keeps this cheap.
                *typed.metadata_mut() = ObjectMeta {
                    annotations: metadata.annotations.clone(),
                    creation_timestamp: metadata.creation_timestamp.clone(),
                    deletion_grace_period_seconds: metadata.deletion_grace_period_seconds,
                    deletion_timestamp: metadata.deletion_timestamp.clone(),
                    finalizers: metadata.finalizers.clone(),
                    generate_name: metadata.generate_name.clone(),
                    generation: metadata.generation,
                    labels: metadata.labels.clone(),
                    managed_fields: None,
                    name: metadata.name.clone(),
                    namespace: metadata.namespace.clone(),
                    owner_references: metadata.owner_references.clone(),
                    resource_version: metadata.resource_version.clone(),
                    self_link: None,
                    uid: metadata.uid.clone(),
                };
                typed_row(&typed, now)
            }
            Err(_) => unknown_row::<K>(Value::from(metadata.name.clone().unwrap_or_default())),
        }
    }

    #[cfg(test)]
    fn register_schema(&self, generator: &mut k8s_openapi::schemars::SchemaGenerator) {
        let _ = generator.subschema_for::<K>();
    }

    fn schema_name(&self) -> String {
        K::schema_name().into_owned()
    }

    fn field(&self, object: &Value, field: &str) -> Option<String> {
        let path = match field {
            "metadata.name" | "metadata.namespace" => field,
            _ => {
                K::selectable_fields()
                    .iter()
                    .find(|(name, _)| *name == field)?
                    .1
            }
        };
        let mut value = object;
        for segment in path.split('.') {
            value = &value[segment];
        }
        Some(match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
    }
}

/// `object` decoded as `K`, passed through `admit` (which defaults it and collects what is
/// invalid) and encoded again. Field ownership is neither defaulted nor validated, and the
/// write's field manager replaces it next: it stays out of the round trip.
fn round_trip<K: Kind>(
    mut object: Value,
    admit: impl FnOnce(&mut K, &mut Causes) -> Result<(), Rejection>,
) -> Result<Value, Rejection> {
    let managed = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|meta| meta.remove("managedFields"));
    let mut typed = decode_as::<K>(&object)?;
    let mut causes = Causes::default();
    admit(&mut typed, &mut causes)?;
    if !causes.is_empty() {
        return Err(Rejection::Invalid(causes.into_inner()));
    }
    let mut admitted = encode(&typed)?;
    drop_added_type_meta(&object, &mut admitted, true);
    if let (Some(managed), Some(meta)) = (
        managed,
        admitted.get_mut("metadata").and_then(Value::as_object_mut),
    ) {
        meta.insert("managedFields".to_owned(), managed);
    }
    Ok(admitted)
}

/// The `kubectl get` row of a decoded object: its name first when the first column is the
/// name (the name cell is added generically), then its kind's cells.
fn typed_row<K: Kind>(typed: &K, now: Timestamp) -> Vec<Value> {
    if K::columns().first().is_some_and(|c| c.format == "name") {
        let name = Value::from(typed.metadata().name.clone().unwrap_or_default());
        std::iter::once(name).chain(typed.cells(now)).collect()
    } else {
        typed.cells(now)
    }
}

/// The row of an object that does not decode as its kind: its name and `<unknown>` cells.
fn unknown_row<K: Kind>(name: Value) -> Vec<Value> {
    std::iter::once(name)
        .chain(
            K::columns()
                .iter()
                .skip(1)
                .map(|_| Value::from("<unknown>")),
        )
        .collect()
}

/// Removes `apiVersion` and `kind` that encoding added to nested objects: k8s-openapi writes
/// them for every type that is a resource (a StatefulSet's claim templates are
/// PersistentVolumeClaims), where the Go API omits them unless they were given.
fn drop_added_type_meta(input: &Value, output: &mut Value, root: bool) {
    match (input, output) {
        (Value::Object(input), Value::Object(output)) => {
            // Only embedded objects (they have metadata) carry type fields of their own; a
            // defaulted `fieldRef.apiVersion` is a field, not type metadata.
            if !root && output.contains_key("metadata") {
                for key in ["apiVersion", "kind"] {
                    if !input.contains_key(key) {
                        output.remove(key);
                    }
                }
            }
            for (key, value) in output.iter_mut() {
                match input.get(key) {
                    Some(given) => drop_added_type_meta(given, value, false),
                    None => strip_type_meta(value),
                }
            }
        }
        (Value::Array(input), Value::Array(output)) => {
            for (i, value) in output.iter_mut().enumerate() {
                match input.get(i) {
                    Some(given) => drop_added_type_meta(given, value, false),
                    None => strip_type_meta(value),
                }
            }
        }
        _ => {}
    }
}

/// Removes `apiVersion` and `kind` from every embedded object below `value` (defaults
/// added there).
fn strip_type_meta(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("metadata") {
                map.remove("apiVersion");
                map.remove("kind");
            }
            map.values_mut().for_each(strip_type_meta);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_type_meta),
        _ => {}
    }
}

/// Collects the paths of fields present in `input` but absent from `decoded` (what the typed
/// struct kept): those are fields the kind does not have.
fn unknown_fields(input: &Value, decoded: &Value, out: &mut Vec<String>) {
    use super::path::Step;
    fn render(path: &[Step<&str>], last: &str) -> String {
        let mut rendered = super::path::render(path);
        if !rendered.is_empty() {
            rendered.push('.');
        }
        rendered.push_str(last);
        rendered
    }
    // The path is built only for a field that is reported; the walk itself allocates
    // nothing but the stack.
    fn walk<'a>(
        input: &'a Value,
        decoded: &Value,
        path: &mut Vec<Step<&'a str>>,
        out: &mut Vec<String>,
    ) {
        match (input, decoded) {
            (Value::Object(input), Value::Object(decoded)) => {
                for (key, value) in input {
                    match decoded.get(key) {
                        Some(kept) => {
                            path.push(Step::Key(key));
                            walk(value, kept, path, out);
                            path.pop();
                        }
                        // Explicit nulls decode to "absent": that is not an unknown field.
                        None if value.is_null() => {}
                        None => out.push(render(path, key)),
                    }
                }
            }
            (Value::Array(input), Value::Array(decoded)) => {
                for (i, (value, kept)) in input.iter().zip(decoded).enumerate() {
                    path.push(Step::Index(i));
                    walk(value, kept, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    walk(input, decoded, &mut Vec::new(), out);
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_fields_are_reported_by_path() {
        let rules = Typed::<ConfigMap>::NEW;
        let body = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "bogus": 1, "labels": null, "ownerReferences": [
                {"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "u"},
                {"apiVersion": "v1", "kind": "Secret", "name": "t", "uid": "v", "odd": true},
            ]},
            "data": {"a": "b"},
            "extra": {"x": 1},
        });
        let (object, unknown) = rules.decode(&body).unwrap();
        assert_eq!(
            unknown,
            ["extra", "metadata.bogus", "metadata.ownerReferences[1].odd"]
        );
        assert_eq!(object["data"]["a"], "b");
        assert!(object.get("extra").is_none());
    }

    #[test]
    fn type_errors_name_the_field() {
        let rules = Typed::<ConfigMap>::NEW;
        let Err(Rejection::BadRequest(message)) = rules.decode(&json!({"metadata": {"name": 5}}))
        else {
            panic!("accepted a number as a name")
        };
        assert!(message.contains("metadata.name"), "{message}");
    }
}
