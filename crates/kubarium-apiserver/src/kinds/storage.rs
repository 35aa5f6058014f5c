//! The DefaultStorageClass admission plugin: a claim created without a storage class gets
//! the cluster's default class, the one annotated
//! `storageclass.kubernetes.io/is-default-class: "true"` (the newest if several are).

use serde_json::Value;

use crate::StatusError;
use crate::handlers::Call;

const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";
/// The annotation that named a claim's class before `spec.storageClassName`.
const BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// Sets `spec.storageClassName` of a new claim that names no class (an empty name is a
/// choice: no class) to the default class, if the cluster has one.
pub(crate) fn default_class(call: &Call, claim: &mut Value) -> Result<(), StatusError> {
    let has_class = !claim["spec"]["storageClassName"].is_null()
        || !claim["metadata"]["annotations"][BETA_CLASS].is_null();
    if has_class || !claim["spec"].is_object() {
        return Ok(());
    }
    let classes = crate::registry::served("storage.k8s.io", "v1", "storageclasses")?;
    let default = crate::handlers::stored_objects(call, classes)?
        .iter()
        .filter_map(|stored| serde_json::from_slice::<Value>(&stored.value).ok())
        .filter(|class| {
            let annotations = &class["metadata"]["annotations"];
            annotations[DEFAULT_CLASS] == "true" || annotations[BETA_DEFAULT_CLASS] == "true"
        })
        .max_by(|a, b| {
            let key = |c: &Value| {
                (
                    c["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    c["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            };
            key(a).cmp(&key(b))
        });
    if let Some(name) = default
        .as_ref()
        .and_then(|c| c["metadata"]["name"].as_str())
    {
        claim["spec"]["storageClassName"] = Value::from(name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;
    use serde_json::json;

    use serde_json::Value;

    use crate::testing::{self, TOKEN};

    async fn post(server: &crate::ApiServer, uri: &str, object: Value) -> Value {
        let request = Request::post(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(object.to_string()))
            .unwrap();
        let (response, body) = testing::send(server, request).await;
        assert!(response.status().is_success(), "{body}");
        serde_json::from_str(&body).unwrap()
    }

    fn claim(name: &str, class: Option<&str>) -> Value {
        let mut claim = json!({
            "metadata": {"name": name},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        });
        if let Some(class) = class {
            claim["spec"]["storageClassName"] = json!(class);
        }
        claim
    }

    #[tokio::test]
    async fn claims_without_a_class_get_the_default_one() {
        let server = testing::server();
        post(
            &server,
            "/api/v1/namespaces",
            json!({"metadata": {"name": "shop"}}),
        )
        .await;
        let claims = "/api/v1/namespaces/shop/persistentvolumeclaims";
        let before = post(&server, claims, claim("early", None)).await;
        assert!(before["spec"]["storageClassName"].is_null());
        for (name, default) in [("standard", "true"), ("fast", "false")] {
            let class = json!({
                "metadata": {
                    "name": name,
                    "annotations": {"storageclass.kubernetes.io/is-default-class": default},
                },
                "provisioner": "kubarium.dev/local-path",
            });
            post(&server, "/apis/storage.k8s.io/v1/storageclasses", class).await;
        }
        let defaulted = post(&server, claims, claim("data", None)).await;
        assert_eq!(defaulted["spec"]["storageClassName"], "standard");
        let chosen = post(&server, claims, claim("quick", Some("fast"))).await;
        assert_eq!(chosen["spec"]["storageClassName"], "fast");
        let none = post(&server, claims, claim("static", Some(""))).await;
        assert_eq!(none["spec"]["storageClassName"], "");
    }
}
