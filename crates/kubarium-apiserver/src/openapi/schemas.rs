//! The definitions section of the OpenAPI documents: the schema of every type the served
//! kinds use, as k8s-openapi's schemars implementations write them, then decorated with what
//! kube-apiserver's documents add (`x-kubernetes-group-version-kind`, the patch merge keys
//! and list types of [`crate::schema`]).
//!
//! The schemas ship as data: `schemas.json` beside this file, compressed into the binary by
//! the build script (98 KB). Generating them at start kept schemars and every type's
//! schema-writing code in the binary: 2 MB of the desktop app (docs/benchmarks.md). A test
//! generates them from the types and fails when the file differs; `cargo test -p
//! kubarium-apiserver --lib regenerate_openapi_schemas -- --ignored` writes it again.

use std::io::Read;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::{Flavour, gvk};
use crate::registry::RESOURCES;
use crate::schema::{self, ListMerge};

/// `schemas.json`, zlib-compressed by `build.rs`.
static SHIPPED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi-schemas.json.z"));

/// The prefix of the references in `schemas.json`, as in a Swagger 2.0 document.
const SHIPPED_PREFIX: &str = "#/definitions/";

/// Every definition the served kinds use, decorated; built once per flavour.
pub(crate) fn definitions(flavour: Flavour) -> &'static Map<String, Value> {
    static V2: OnceLock<Map<String, Value>> = OnceLock::new();
    static V3: OnceLock<Map<String, Value>> = OnceLock::new();
    let cell = if flavour == Flavour::V2 { &V2 } else { &V3 };
    cell.get_or_init(|| {
        let mut definitions = shipped();
        if flavour.prefix() != SHIPPED_PREFIX {
            rewrite_refs(&mut definitions, flavour.prefix());
        }
        decorate(&mut definitions);
        definitions
    })
}

/// The V3 definitions, for type navigation in patches.
pub(crate) fn v3_definitions() -> &'static Map<String, Value> {
    definitions(Flavour::V3)
}

/// `schemas.json` as built into the binary.
fn shipped() -> Map<String, Value> {
    let mut json = Vec::new();
    let decoded = flate2::read::ZlibDecoder::new(SHIPPED)
        .read_to_end(&mut json)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_slice(&json).map_err(|e| e.to_string()));
    // The build script compressed a file a test parses: this fails only in a broken build.
    decoded.unwrap_or_else(|error| {
        tracing::error!(%error, "the OpenAPI schemas built into this binary are unreadable");
        Map::new()
    })
}

/// Adds to the types' schemas what kube-apiserver's documents carry besides.
fn decorate(definitions: &mut Map<String, Value>) {
    for resource in RESOURCES {
        if let Some(Value::Object(def)) = definitions.get_mut(&resource.rules.schema_name()) {
            def.insert(
                "x-kubernetes-group-version-kind".to_owned(),
                json!([gvk(resource)]),
            );
        }
    }
    for (name, group, version, kind) in [
        (
            "io.k8s.api.autoscaling.v1.Scale",
            "autoscaling",
            "v1",
            "Scale",
        ),
        ("io.k8s.api.policy.v1.Eviction", "policy", "v1", "Eviction"),
        ("io.k8s.api.core.v1.Binding", "", "v1", "Binding"),
    ] {
        if let Some(Value::Object(def)) = definitions.get_mut(name) {
            def.insert(
                "x-kubernetes-group-version-kind".to_owned(),
                json!([{"group": group, "version": version, "kind": kind}]),
            );
        }
    }
    for (type_name, field, merge) in schema::LISTS {
        let Some(Value::Object(property)) = definitions
            .get_mut(*type_name)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(*field))
        else {
            continue;
        };
        match merge {
            ListMerge::ByKey(key) => {
                property.insert("x-kubernetes-patch-merge-key".to_owned(), Value::from(*key));
                let strategy = if schema::retains_keys(type_name, field) {
                    "merge,retainKeys"
                } else {
                    "merge"
                };
                property.insert(
                    "x-kubernetes-patch-strategy".to_owned(),
                    Value::from(strategy),
                );
                property.insert("x-kubernetes-list-type".to_owned(), Value::from("map"));
                property.insert("x-kubernetes-list-map-keys".to_owned(), json!([key]));
            }
            ListMerge::Set => {
                property.insert(
                    "x-kubernetes-patch-strategy".to_owned(),
                    Value::from("merge"),
                );
                property.insert("x-kubernetes-list-type".to_owned(), Value::from("set"));
            }
            ListMerge::Atomic => {}
        }
    }
    for (type_name, field) in schema::RETAIN_KEYS_FIELDS {
        if let Some(Value::Object(property)) = definitions
            .get_mut(*type_name)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(*field))
        {
            property.insert(
                "x-kubernetes-patch-strategy".to_owned(),
                Value::from("retainKeys"),
            );
        }
    }
}

fn rewrite_refs(value: &mut Map<String, Value>, prefix: &str) {
    for v in value.values_mut() {
        rewrite_value(v, prefix);
    }
}

fn rewrite_value(value: &mut Value, prefix: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.rsplit('/').next()
            {
                *reference = format!("{prefix}{name}");
            }
            for v in map.values_mut() {
                rewrite_value(v, prefix);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_value(v, prefix)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::schemars::generate::SchemaSettings;

    use super::*;

    /// The schemas as the types write them today, their references under `prefix`.
    fn generated(settings: SchemaSettings, prefix: &str) -> Map<String, Value> {
        let mut generator = settings
            .with(|s| {
                s.meta_schema = None;
            })
            .into_generator();
        for resource in RESOURCES {
            resource.rules.register_schema(&mut generator);
        }
        // Types that subresources and deletes take.
        let _ = generator.subschema_for::<k8s_openapi::api::autoscaling::v1::Scale>();
        let _ = generator.subschema_for::<k8s_openapi::api::policy::v1::Eviction>();
        let _ = generator.subschema_for::<k8s_openapi::api::core::v1::Binding>();
        let _ = generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>();
        let _ = generator
            .subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>();
        let mut definitions = generator.take_definitions(true);
        rewrite_refs(&mut definitions, prefix);
        definitions
    }

    /// The names of the definitions `left` and `right` disagree on.
    fn differences(left: &Map<String, Value>, right: &Map<String, Value>) -> Vec<String> {
        let names: std::collections::BTreeSet<&String> = left.keys().chain(right.keys()).collect();
        names
            .into_iter()
            .filter(|name| left.get(*name) != right.get(*name))
            .cloned()
            .collect()
    }

    #[test]
    fn the_shipped_schemas_are_what_the_types_generate_for_both_documents() {
        let shipped = shipped();
        assert!(shipped.contains_key("io.k8s.api.core.v1.Pod"));
        let v2 = differences(
            &shipped,
            &generated(SchemaSettings::draft07(), SHIPPED_PREFIX),
        );
        assert!(
            v2.is_empty(),
            "src/openapi/schemas.json differs from the types' schemas in {v2:?}: run `cargo \
             test -p kubarium-apiserver --lib regenerate_openapi_schemas -- --ignored`"
        );
        // The V3 document's are the same schemas, their references elsewhere.
        let mut moved = shipped;
        rewrite_refs(&mut moved, Flavour::V3.prefix());
        let v3 = differences(
            &moved,
            &generated(SchemaSettings::openapi3(), Flavour::V3.prefix()),
        );
        assert!(v3.is_empty(), "OpenAPI 3 schemas differ in {v3:?}");
    }

    #[test]
    fn kinds_carry_their_group_version_kind_and_lists_their_merge_keys() {
        let pod = &v3_definitions()["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "version": "v1", "kind": "Pod"}])
        );
        let containers =
            &v3_definitions()["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(
            containers["items"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Container"
        );
        let v2 = &definitions(Flavour::V2)["io.k8s.api.core.v1.PodSpec"]["properties"];
        assert_eq!(
            v2["containers"]["items"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.Container"
        );
    }

    #[test]
    #[ignore = "writes src/openapi/schemas.json; run after a change to k8s-openapi or the served kinds"]
    fn regenerate_openapi_schemas() -> std::io::Result<()> {
        let mut json =
            serde_json::to_string_pretty(&generated(SchemaSettings::draft07(), SHIPPED_PREFIX))?;
        json.push('\n');
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/src/openapi/schemas.json"),
            json,
        )
    }
}
