//! OpenAPI documents, generated from k8s-openapi's schemas: `/openapi/v2` (Swagger 2.0, one
//! document) and `/openapi/v3` (an index, then one OpenAPI 3.0 document per group/version).
//!
//! kubectl reads them for `explain`, for client-side validation, to learn that the server
//! validates fields itself (`fieldValidation` on the operations), and for the patch merge keys
//! of `apply`. So each kind's schema carries `x-kubernetes-group-version-kind`, each list that
//! merges carries `x-kubernetes-patch-merge-key`/`-strategy` (from [`crate::schema`]), and
//! every operation its query parameters.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderValue};
use serde_json::{Map, Value, json};

mod proto;
mod schemas;

use schemas::definitions;
pub(crate) use schemas::v3_definitions;

use crate::registry::{self, RESOURCES, Resource};
use crate::{ApiServer, StatusError};

pub(crate) fn routes() -> Router<ApiServer> {
    Router::new()
        .route("/openapi/v2", get(v2))
        .route("/openapi/v3", get(v3_index))
        .route("/openapi/v3/api/v1", get(|| async { v3_document("") }))
        .route("/openapi/v3/apis/{group}/{version}", get(|Path((g, v)): Path<(String, String)>| async move { v3_document(&format!("{g}/{v}")) }))
}

/// Which OpenAPI flavour a set of definitions is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    V2,
    V3,
}

impl Flavour {
    fn prefix(self) -> &'static str {
        match self {
            Flavour::V2 => "#/definitions/",
            Flavour::V3 => "#/components/schemas/",
        }
    }
}

fn gvk(resource: &Resource) -> Value {
    json!({"group": resource.group, "version": resource.version, "kind": resource.kind})
}

fn group_version(resource: &Resource) -> String {
    if resource.group.is_empty() {
        resource.version.to_owned()
    } else {
        format!("{}/{}", resource.group, resource.version)
    }
}

/// A query parameter.
fn param(flavour: Flavour, name: &str, kind: &str, description: &str) -> Value {
    match flavour {
        Flavour::V2 => {
            json!({"name": name, "in": "query", "type": kind, "uniqueItems": true, "description": description})
        }
        Flavour::V3 => {
            json!({"name": name, "in": "query", "schema": {"type": kind, "uniqueItems": true}, "description": description})
        }
    }
}

fn path_param(flavour: Flavour, name: &str, description: &str) -> Value {
    match flavour {
        Flavour::V2 => {
            json!({"name": name, "in": "path", "required": true, "type": "string", "uniqueItems": true, "description": description})
        }
        Flavour::V3 => {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}, "description": description})
        }
    }
}

fn write_params(flavour: Flavour, patch: bool) -> Vec<Value> {
    let mut params = vec![
        param(
            flavour,
            "dryRun",
            "string",
            "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed",
        ),
        param(
            flavour,
            "fieldManager",
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes.",
        ),
        param(
            flavour,
            "fieldValidation",
            "string",
            "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn (the default) - Strict",
        ),
    ];
    if patch {
        params.push(param(flavour, "force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people."));
    }
    params
}

fn list_params(flavour: Flavour) -> Vec<Value> {
    [
        ("allowWatchBookmarks", "boolean"),
        ("continue", "string"),
        ("fieldSelector", "string"),
        ("labelSelector", "string"),
        ("limit", "integer"),
        ("resourceVersion", "string"),
        ("resourceVersionMatch", "string"),
        ("sendInitialEvents", "boolean"),
        ("timeoutSeconds", "integer"),
        ("watch", "boolean"),
    ]
    .into_iter()
    .map(|(name, kind)| param(flavour, name, kind, ""))
    .collect()
}

fn delete_params(flavour: Flavour) -> Vec<Value> {
    vec![
        param(flavour, "dryRun", "string", ""),
        param(flavour, "gracePeriodSeconds", "integer", ""),
        param(flavour, "propagationPolicy", "string", ""),
        param(flavour, "orphanDependents", "boolean", ""),
    ]
}

/// One operation.
fn operation(
    flavour: Flavour,
    resource: &Resource,
    action: &str,
    id: String,
    params: Vec<Value>,
    body: Option<&str>,
    response: &str,
) -> Value {
    let reference = format!("{}{response}", flavour.prefix());
    let mut op = json!({
        "operationId": id,
        "tags": [tag(resource)],
        "parameters": params,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(resource),
    });
    match flavour {
        Flavour::V2 => {
            op["responses"] = json!({"200": {"description": "OK", "schema": {"$ref": reference}}, "401": {"description": "Unauthorized"}});
            op["consumes"] = json!(["*/*"]);
            op["produces"] = json!(["application/json", "application/yaml"]);
            if let Some(body) = body {
                let body_ref = format!("{}{body}", flavour.prefix());
                if let Some(params) = op["parameters"].as_array_mut() {
                    params.push(json!({"name": "body", "in": "body", "required": true, "schema": {"$ref": body_ref}}));
                }
            }
        }
        Flavour::V3 => {
            op["responses"] = json!({
                "200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": reference}}}},
                "401": {"description": "Unauthorized"},
            });
            if let Some(body) = body {
                let body_ref = format!("{}{body}", flavour.prefix());
                let types: Vec<&str> = if action == "patch" {
                    vec![
                        "application/apply-patch+yaml",
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                    ]
                } else {
                    vec!["*/*"]
                };
                let content: Map<String, Value> = types
                    .into_iter()
                    .map(|t| (t.to_owned(), json!({"schema": {"$ref": body_ref}})))
                    .collect();
                op["requestBody"] = json!({"content": content, "required": true});
            }
        }
    }
    op
}

fn tag(resource: &Resource) -> String {
    if resource.group.is_empty() {
        format!("core_{}", resource.version)
    } else {
        format!(
            "{}_{}",
            resource.group.split('.').next().unwrap_or(resource.group),
            resource.version
        )
    }
}

fn operation_id(action: &str, resource: &Resource, namespaced: bool, suffix: &str) -> String {
    let group: String = resource
        .group
        .split('.')
        .next()
        .filter(|g| !g.is_empty())
        .map(|g| {
            let mut chars = g.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "Core".to_owned());
    let version = {
        let mut chars = resource.version.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect::<String>())
            .unwrap_or_default()
    };
    let scope = if namespaced { "Namespaced" } else { "" };
    format!("{action}{group}{version}{scope}{}{suffix}", resource.kind)
}

/// The paths of `resources`, as one map of path → path item.
fn paths(flavour: Flavour, resources: &[&Resource]) -> Map<String, Value> {
    let mut paths = Map::new();
    for r in resources {
        let kind = r.rules.schema_name();
        let base = if r.group.is_empty() {
            "/api/v1".to_owned()
        } else {
            format!("/apis/{}/{}", r.group, r.version)
        };
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{base}/{}", r.plural)
        };
        let item = format!("{collection}/{{name}}");
        let scope_params = |with_name: bool| {
            let mut params = Vec::new();
            if with_name {
                params.push(path_param(
                    flavour,
                    "name",
                    &format!("name of the {}", r.kind),
                ));
            }
            if r.namespaced {
                params.push(path_param(
                    flavour,
                    "namespace",
                    "object name and auth scope, such as for teams and projects",
                ));
            }
            params.push(param(
                flavour,
                "pretty",
                "string",
                "If 'true', then the output is pretty printed.",
            ));
            params
        };
        let mut collection_item = json!({"parameters": scope_params(false)});
        if r.verbs.contains(&"list") {
            collection_item["get"] = operation(
                flavour,
                r,
                "list",
                operation_id("list", r, r.namespaced, ""),
                list_params(flavour),
                None,
                &kind,
            );
        }
        if r.verbs.contains(&"create") {
            collection_item["post"] = operation(
                flavour,
                r,
                "post",
                operation_id("create", r, r.namespaced, ""),
                write_params(flavour, false),
                Some(&kind),
                &kind,
            );
        }
        if r.verbs.contains(&"deletecollection") {
            collection_item["delete"] = operation(
                flavour,
                r,
                "deletecollection",
                operation_id("deleteCollection", r, r.namespaced, ""),
                delete_params(flavour),
                None,
                "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
            );
        }
        paths.insert(collection, collection_item);
        if r.namespaced && r.verbs.contains(&"list") {
            let all = json!({
                "parameters": [param(flavour, "pretty", "string", "")],
                "get": operation(flavour, r, "list", operation_id("list", r, false, "ForAllNamespaces"), list_params(flavour), None, &kind),
            });
            paths.insert(format!("{base}/{}", r.plural), all);
        }
        let mut item_item = json!({"parameters": scope_params(true)});
        for (verb, method, action, id) in [
            ("get", "get", "get", "read"),
            ("update", "put", "put", "replace"),
            ("patch", "patch", "patch", "patch"),
            ("delete", "delete", "delete", "delete"),
        ] {
            if !r.verbs.contains(&verb) {
                continue;
            }
            let (params, body) = match verb {
                "update" => (write_params(flavour, false), Some(kind.as_str())),
                "patch" => (
                    write_params(flavour, true),
                    Some("io.k8s.apimachinery.pkg.apis.meta.v1.Patch"),
                ),
                "delete" => (
                    delete_params(flavour),
                    Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
                ),
                _ => (Vec::new(), None),
            };
            item_item[method] = operation(
                flavour,
                r,
                action,
                operation_id(id, r, r.namespaced, ""),
                params,
                body,
                &kind,
            );
        }
        paths.insert(item.clone(), item_item);
        for sub in r.subresources {
            let response = match sub.name {
                "scale" => "io.k8s.api.autoscaling.v1.Scale".to_owned(),
                "status" => kind.clone(),
                "eviction" => "io.k8s.api.policy.v1.Eviction".to_owned(),
                "binding" => "io.k8s.api.core.v1.Binding".to_owned(),
                _ => continue,
            };
            let title: String = sub
                .name
                .chars()
                .next()
                .map(|c| c.to_uppercase().chain(sub.name.chars().skip(1)).collect())
                .unwrap_or_default();
            let mut sub_item = json!({"parameters": scope_params(true)});
            for verb in sub.verbs {
                let (method, action, id, params, body) = match *verb {
                    "get" => ("get", "get", "read", Vec::new(), None),
                    "update" => (
                        "put",
                        "put",
                        "replace",
                        write_params(flavour, false),
                        Some(response.as_str()),
                    ),
                    "patch" => (
                        "patch",
                        "patch",
                        "patch",
                        write_params(flavour, true),
                        Some("io.k8s.apimachinery.pkg.apis.meta.v1.Patch"),
                    ),
                    "create" => (
                        "post",
                        "post",
                        "create",
                        write_params(flavour, false),
                        Some(response.as_str()),
                    ),
                    _ => continue,
                };
                sub_item[method] = operation(
                    flavour,
                    r,
                    action,
                    operation_id(id, r, r.namespaced, &title),
                    params,
                    body,
                    &response,
                );
            }
            paths.insert(format!("{item}/{}", sub.name), sub_item);
        }
    }
    paths
}

/// The definitions `paths` (and what they use, transitively) refer to.
fn referenced(flavour: Flavour, paths: &Map<String, Value>) -> Map<String, Value> {
    let all = definitions(flavour);
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    collect_refs(&Value::Object(paths.clone()), &mut queue);
    while let Some(name) = queue.pop() {
        if !wanted.insert(name.clone()) {
            continue;
        }
        if let Some(def) = all.get(&name) {
            collect_refs(def, &mut queue);
        }
    }
    let mut out: Map<String, Value> = wanted
        .into_iter()
        .filter_map(|n| all.get(&n).map(|d| (n, d.clone())))
        .collect();
    out.entry("io.k8s.apimachinery.pkg.apis.meta.v1.Patch".to_owned()).or_insert_with(|| {
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"})
    });
    out
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && let Some(name) = reference.rsplit('/').next()
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn info() -> Value {
    json!({"title": "Kubernetes", "version": crate::build_info().git_version})
}

fn cached(body: &'static [u8], etag: &str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(ETAG, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    response
}

fn hash(bytes: &[u8]) -> String {
    // A cache key for clients, not a security boundary.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// The Swagger 2.0 document as (JSON, protobuf, hash); generated once.
fn v2_document() -> &'static (Vec<u8>, Vec<u8>, String) {
    static DOC: OnceLock<(Vec<u8>, Vec<u8>, String)> = OnceLock::new();
    DOC.get_or_init(|| {
        let resources: Vec<&Resource> = RESOURCES.iter().collect();
        let paths = paths(Flavour::V2, &resources);
        let doc = json!({
            "swagger": "2.0",
            "info": info(),
            "paths": paths,
            "definitions": definitions(Flavour::V2),
            "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication"}},
            "security": [{"BearerToken": []}],
        });
        let body = doc.to_string().into_bytes();
        let etag = hash(&body);
        (body, proto::document(&doc), etag)
    })
}

/// The media type of the protobuf v2 document, as kube-openapi sends it (the requested
/// type has an `@`, which clients cannot parse back as a content type).
const V2_PROTOBUF: &str = "application/octet-stream";

async fn v2(headers: http::HeaderMap) -> Response {
    let (json, protobuf, etag) = v2_document();
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // kubectl up to 1.29 asks for protobuf only; anything else gets JSON.
    let wants_protobuf = accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("proto-openapi.spec.v2"));
    if wants_protobuf {
        let mut response = cached(protobuf.as_slice(), etag);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(V2_PROTOBUF));
        return response;
    }
    cached(json.as_slice(), etag)
}

/// The per-group/version documents, generated once: key → (body, hash).
fn v3_documents() -> &'static Vec<(String, Vec<u8>, String)> {
    static DOCS: OnceLock<Vec<(String, Vec<u8>, String)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        registry::group_versions()
            .into_iter()
            .map(|(group, version)| {
                let resources: Vec<&Resource> = RESOURCES.iter().filter(|r| r.group == group && r.version == version).collect();
                let key = group_version(resources[0]);
                let paths = paths(Flavour::V3, &resources);
                let schemas = referenced(Flavour::V3, &paths);
                let doc = json!({
                    "openapi": "3.0.0",
                    "info": info(),
                    "paths": paths,
                    "components": {
                        "schemas": schemas,
                        "securitySchemes": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header", "description": "Bearer Token authentication"}},
                    },
                });
                let body = doc.to_string().into_bytes();
                let etag = hash(&body);
                (key, body, etag)
            })
            .collect()
    })
}

async fn v3_index() -> Response {
    let paths: Map<String, Value> = v3_documents()
        .iter()
        .map(|(key, _, etag)| {
            let path = if key.contains('/') {
                format!("apis/{key}")
            } else {
                format!("api/{key}")
            };
            let url = format!("/openapi/v3/{path}?hash={etag}");
            (path, json!({"serverRelativeURL": url}))
        })
        .collect();
    let body = json!({"paths": paths}).to_string();
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn v3_document(key: &str) -> Response {
    let key = if key.is_empty() { "v1" } else { key };
    match v3_documents().iter().find(|(k, _, _)| k == key) {
        Some((_, body, etag)) => cached(body.as_slice(), etag),
        None => StatusError::path_not_found().into_response(),
    }
}
