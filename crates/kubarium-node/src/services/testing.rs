//! Objects for the renderers' tests, written as the API server would return them.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Service `namespace/name` (uid `uid-<name>`) with `spec`.
pub(crate) fn service(namespace: &str, name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": namespace, "name": name, "uid": format!("uid-{name}")},
        "spec": spec
    }))
    .unwrap()
}

/// An IPv4 EndpointSlice of Service `namespace/service` with `ports` and `endpoints`.
pub(crate) fn slice(
    namespace: &str,
    service: &str,
    ports: serde_json::Value,
    endpoints: serde_json::Value,
) -> Arc<EndpointSlice> {
    Arc::new(
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "namespace": namespace,
                "name": format!("{service}-abcde"),
                "labels": {"kubernetes.io/service-name": service}
            },
            "addressType": "IPv4",
            "ports": ports,
            "endpoints": endpoints
        }))
        .unwrap(),
    )
}
