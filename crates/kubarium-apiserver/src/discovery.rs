//! Discovery: which groups, versions and resources the server serves, in the legacy
//! documents (`/api`, `/apis`, `APIResourceList`s) and the aggregated form kubectl 1.30+
//! asks for first (`APIGroupDiscoveryList`, `apidiscovery.k8s.io/v2` and `v2beta1`).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::registry::{self, RESOURCES, Resource};
use crate::{ApiServer, StatusError};

pub(crate) fn routes() -> Router<ApiServer> {
    Router::new()
        .route("/api", get(api))
        .route("/api/v1", get(|| async { resource_list("", "v1") }))
        .route("/apis", get(apis))
        .route("/apis/{group}", get(group))
        .route(
            "/apis/{group}/{version}",
            get(|Path((g, v)): Path<(String, String)>| async move { resource_list(&g, &v) }),
        )
}

/// The aggregated-discovery version the client asks for, if any.
fn aggregated(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(http::header::ACCEPT)?.to_str().ok()?;
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
        if params
            .first()
            .is_some_and(|m| matches!(*m, "application/json" | "*/*" | "application/*"))
            && params.len() == 1
        {
            return None;
        }
    }
    None
}

fn respond(body: Value, content_type: &str) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

async fn api(State(server): State<ApiServer>, headers: HeaderMap) -> Response {
    if let Some(version) = aggregated(&headers) {
        return aggregated_list(version, |g| g.is_empty());
    }
    let _ = server;
    respond(
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        }),
        "application/json",
    )
}

fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&str> = Vec::new();
    for (group, _) in registry::group_versions() {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups
}

fn group_document(group: &str) -> Value {
    let versions: Vec<Value> = registry::group_versions()
        .into_iter()
        .filter(|(g, _)| *g == group)
        .map(|(g, v)| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

async fn apis(headers: HeaderMap) -> Response {
    if let Some(version) = aggregated(&headers) {
        return aggregated_list(version, |g| !g.is_empty());
    }
    let groups: Vec<Value> = groups().into_iter().map(group_document).collect();
    respond(
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
        "application/json",
    )
}

async fn group(Path(group): Path<String>) -> Response {
    if !groups().contains(&group.as_str()) {
        return StatusError::path_not_found().into_response();
    }
    let mut document = group_document(&group);
    document["kind"] = Value::from("APIGroup");
    document["apiVersion"] = Value::from("v1");
    respond(document, "application/json")
}

fn verbs(resource: &Resource) -> Value {
    json!(resource.verbs)
}

fn resource_list(group: &str, version: &str) -> Response {
    let served: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return StatusError::path_not_found().into_response();
    }
    let mut resources = Vec::new();
    for r in served {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        for sub in r.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", r.plural, sub.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": if sub.kind.is_empty() { r.kind } else { sub.kind },
                "verbs": sub.verbs,
            });
            if let Some(g) = sub.group {
                entry["group"] = Value::from(g);
            }
            if let Some(v) = sub.version {
                entry["version"] = Value::from(v);
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    respond(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
        "application/json",
    )
}

/// The aggregated discovery document of the groups `wanted` selects.
fn aggregated_list(version: &str, wanted: impl Fn(&str) -> bool) -> Response {
    let mut items = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (group, _) in registry::group_versions() {
        if !wanted(group) || seen.contains(&group) {
            continue;
        }
        seen.push(group);
        let versions: Vec<Value> = registry::group_versions()
            .into_iter()
            .filter(|(g, _)| *g == group)
            .map(|(g, v)| {
                let resources: Vec<Value> = RESOURCES
                    .iter()
                    .filter(|r| r.group == g && r.version == v)
                    .map(|r| {
                        let subresources: Vec<Value> = r
                            .subresources
                            .iter()
                            .map(|s| {
                                json!({
                                    "subresource": s.name,
                                    "responseKind": {
                                        "group": s.group.unwrap_or(r.group),
                                        "version": s.version.unwrap_or(r.version),
                                        "kind": if s.kind.is_empty() { r.kind } else { s.kind },
                                    },
                                    "verbs": s.verbs,
                                })
                            })
                            .collect();
                        let mut entry = json!({
                            "resource": r.plural,
                            "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                            "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": r.singular,
                            "verbs": r.verbs,
                        });
                        if !r.short_names.is_empty() {
                            entry["shortNames"] = json!(r.short_names);
                        }
                        if !r.categories.is_empty() {
                            entry["categories"] = json!(r.categories);
                        }
                        if !subresources.is_empty() {
                            entry["subresources"] = Value::Array(subresources);
                        }
                        entry
                    })
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        items.push(json!({"metadata": {"name": group}, "versions": versions}));
    }
    respond(
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{version}"),
            "metadata": {},
            "items": items,
        }),
        &format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"),
    )
}
