//! Subresources: `scale`, `namespaces/finalize`, `serviceaccounts/token`, and the routes of
//! `status` ([`super::status`]), `pods/binding` ([`super::binding`]), `pods/eviction` and the
//! streaming ones (`log`, `exec`, `attach`, `portforward`), which [`super::streams`] serves.

use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Call, json, parse_object};
use crate::StatusError;
use crate::object;

pub(crate) async fn handle(
    call: &mut Call,
    method: &Method,
    sub: &str,
    body: &[u8],
) -> Result<Response, StatusError> {
    let subresource = call
        .target
        .resource
        .subresource(sub)
        .ok_or_else(StatusError::path_not_found)?;
    let verb = match *method {
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        _ => "",
    };
    if !subresource.verbs.contains(&verb) {
        return Err(StatusError::method_not_allowed(method));
    }
    match (sub, verb) {
        ("status", "get") => super::read::get(call).await,
        ("status", "update") => super::status::update(call, body).await,
        ("status", "patch") => super::status::patch(call, body).await,
        ("scale", "get") => {
            let name = call.target.name.clone().unwrap_or_default();
            let current = super::write::load(call, &name)?;
            Ok(json(
                StatusCode::OK,
                scale_of(&super::read::parse(&current)?).to_string(),
            ))
        }
        ("scale", "update" | "patch") => scale_write(call, verb, body).await,
        ("finalize", "update") => finalize(call, body).await,
        ("binding", "create") => super::binding::bind(call, body).await,
        ("eviction", "create") => super::eviction::evict(call, body).await,
        ("token", "create") => token(call, body),
        ("portforward", _) => super::portforward::forward(call).await,
        ("log" | "exec" | "attach", _) => super::streams::handle(call, sub).await,
        _ => Err(StatusError::method_not_allowed(method)),
    }
}

/// The `autoscaling/v1 Scale` view of a scalable object.
fn scale_of(object: &Value) -> Value {
    let selector = object["spec"]["selector"].clone();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "uid": object["metadata"]["uid"],
            "resourceVersion": object["metadata"]["resourceVersion"],
            "creationTimestamp": object["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": object["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector_string(&selector),
        },
    })
}

/// A `LabelSelector` in the string syntax (`app=web,tier in (a,b)`).
pub(crate) fn selector_string(selector: &Value) -> String {
    let mut parts: Vec<String> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    for expression in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match expression["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        });
    }
    parts.join(",")
}

/// A Scale update or patch. Without a resourceVersion of the client's (none in the body, or
/// one the patch left as it was), a write that raced another is tried again on the fresh
/// object, as kube-apiserver's `GuaranteedUpdate` does; with one, the race is a 409.
async fn scale_write(call: &mut Call, verb: &str, body: &[u8]) -> Result<Response, StatusError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match scale_write_once(call, verb, body).await {
            Err((e, unconditional))
                if unconditional
                    && e.reason == "Conflict"
                    && attempt < super::patch::ATTEMPTS
                    && e.message.ends_with(StatusError::MODIFIED) => {}
            other => return other.map_err(|(e, _)| e),
        }
    }
}

/// One try of [`scale_write`]; an error says whether the write was unconditional.
async fn scale_write_once(
    call: &mut Call,
    verb: &str,
    body: &[u8],
) -> Result<Response, (StatusError, bool)> {
    let name = call.target.name.clone().unwrap_or_default();
    let current = super::write::load(call, &name).map_err(|e| (e, false))?;
    let old = super::read::parse(&current).map_err(|e| (e, false))?;
    let scale = scale_of(&old);
    let new_scale = if verb == "update" {
        parse_object(&call.headers, body)
    } else {
        super::patch::apply_patch(call, &scale, body, "Scale")
    }
    .map_err(|e| (e, false))?;
    let unconditional = match object::meta_str(&new_scale, "resourceVersion") {
        "" => true,
        rv => verb != "update" && rv == object::meta_str(&scale, "resourceVersion"),
    };
    scale_apply(call, &name, &current, &old, &new_scale)
        .await
        .map_err(|e| (e, unconditional))
}

/// Writes the replicas of `new_scale` into the object `old` (stored as `current`).
async fn scale_apply(
    call: &mut Call,
    name: &str,
    current: &kubarium_store::Object,
    old: &Value,
    new_scale: &Value,
) -> Result<Response, StatusError> {
    let name = name.to_owned();
    let expected = super::write::expected_revision(new_scale, current)?;
    let invalid_replicas = |reason: &str, message: &str| {
        StatusError::invalid(
            call.target.resource,
            &name,
            vec![cause(reason, "spec.replicas", message)],
        )
    };
    if let Some(bad) = new_scale["spec"]
        .get("replicas")
        .filter(|r| !r.is_i64() && !r.is_null())
    {
        return Err(invalid_replicas(
            "FieldValueInvalid",
            &format!("Invalid value: {bad}: must be an integer"),
        ));
    }
    let Some(replicas) = new_scale["spec"]["replicas"].as_i64() else {
        return Err(invalid_replicas("FieldValueRequired", "Required value"));
    };
    if replicas < 0 {
        return Err(invalid_replicas(
            "FieldValueInvalid",
            &format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    let mut object = old.clone();
    object["spec"]["replicas"] = Value::from(replicas);
    let stored = super::write::replace(call, &name, old, object, expected).await?;
    let stored: Value =
        serde_json::from_slice(&stored).map_err(|e| StatusError::internal(e.to_string()))?;
    Ok(json(StatusCode::OK, scale_of(&stored).to_string()))
}

fn cause(
    reason: &str,
    field: &str,
    message: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause {
        reason: Some(reason.to_owned()),
        field: Some(field.to_owned()),
        message: Some(message.to_owned()),
    }
}

/// `namespaces/{name}/finalize`: replaces `spec.finalizers` only (the namespace controller
/// removes `kubernetes` once the namespace is empty).
async fn finalize(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let new = parse_object(&call.headers, body)?;
    let current = super::write::load(call, &name)?;
    let old = super::read::parse(&current)?;
    let mut object = old.clone();
    object["spec"]["finalizers"] = new["spec"]["finalizers"].clone();
    // A terminating namespace left with no finalizers is deleted by the update itself.
    let stored = super::write::replace(call, &name, &old, object, current.mod_revision).await?;
    let stored: Value =
        serde_json::from_slice(&stored).map_err(|e| StatusError::internal(e.to_string()))?;
    Ok(json(StatusCode::OK, stored.to_string()))
}

/// `serviceaccounts/{name}/token`: a signed token for the service account.
fn token(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let namespace = call.target.namespace.clone().unwrap_or_default();
    let account = super::read::parse(&super::write::load(call, &name)?)?;
    let mut request = parse_object(&call.headers, body)?;
    let seconds = request["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(3600);
    if seconds < 600 {
        return Err(StatusError::invalid(
            call.target.resource,
            &name,
            vec![cause(
                "FieldValueInvalid",
                "spec.expirationSeconds",
                &format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            )],
        ));
    }
    let seconds = seconds.min(i64::from(u32::MAX));
    let audiences: Vec<String> = request["spec"]["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![crate::tokens::ISSUER.to_owned()]);
    let signer = call.server.signer().ok_or_else(|| {
        StatusError::service_unavailable("this server issues no service account tokens")
    })?;
    let now = k8s_openapi::jiff::Timestamp::now();
    let token = signer.issue(&crate::tokens::Claims {
        namespace: &namespace,
        name: &name,
        uid: object::meta_str(&account, "uid"),
        audiences: &audiences,
        issued_at: now.as_second(),
        expires_at: now.as_second() + seconds,
    });
    let expires = now + std::time::Duration::from_secs(seconds as u64);
    request["apiVersion"] = Value::from("authentication.k8s.io/v1");
    request["kind"] = Value::from("TokenRequest");
    request["metadata"] = json!({"name": name, "namespace": namespace, "creationTimestamp": null});
    request["spec"]["audiences"] = json!(audiences);
    request["spec"]["expirationSeconds"] = Value::from(seconds);
    request["status"] = json!({"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()});
    Ok(json(StatusCode::CREATED, request.to_string()))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;
    use serde_json::{Value, json};

    use crate::testing::{self, TOKEN};

    async fn post(server: &crate::ApiServer, uri: &str, object: Value) -> (u16, Value) {
        let request = Request::post(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(object.to_string()))
            .unwrap();
        let (response, body) = testing::send(server, request).await;
        (
            response.status().as_u16(),
            serde_json::from_str(&body).unwrap(),
        )
    }

    /// A server with namespace `shop`.
    async fn shop() -> crate::ApiServer {
        let server = testing::server();
        let namespace = json!({"metadata": {"name": "shop"}});
        let (code, _) = post(&server, "/api/v1/namespaces", namespace).await;
        assert_eq!(code, 201);
        server
    }

    #[tokio::test]
    async fn binding_assigns_the_node_and_copies_its_annotations() {
        let server = shop().await;
        let pod = json!({
            "metadata": {"name": "web-0", "annotations": {"keep": "me"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        });
        let (code, created) = post(&server, "/api/v1/namespaces/shop/pods", pod).await;
        assert_eq!(code, 201, "{created}");

        let binding = |uid: &str| {
            json!({
                "metadata": {"name": "web-0", "uid": uid,
                             "annotations": {"scheduler.kubarium.dev/decision": "{\"node\":\"n1\"}"}},
                "target": {"kind": "Node", "apiVersion": "v1", "name": "n1"},
            })
        };
        let uri = "/api/v1/namespaces/shop/pods/web-0/binding";
        let answered = async |binding: Value, code: u16, why: &str| {
            let (answer, status) = post(&server, uri, binding).await;
            assert_eq!(answer, code, "{status}");
            let message = status["message"].as_str().unwrap();
            assert!(message.contains(why), "{status}");
        };
        let refused = async |binding: Value, why: &str| answered(binding, 409, why).await;
        let mut elsewhere = binding("");
        elsewhere["metadata"]["name"] = json!("web-1");
        let mismatch = "name in URL does not match name in Binding object";
        answered(elsewhere, 400, mismatch).await;
        let mut to_a_pod = binding("");
        to_a_pod["target"]["kind"] = json!("Pod");
        let unsupported =
            r#"Binding target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>""#;
        answered(to_a_pod, 400, unsupported).await;
        refused(
            binding("not-the-uid"),
            "Precondition failed: UID in precondition: not-the-uid",
        )
        .await;

        let uid = created["metadata"]["uid"].as_str().unwrap();
        let mut stale = binding(uid);
        stale["metadata"]["resourceVersion"] = json!("1");
        refused(
            stale,
            "Precondition failed: ResourceVersion in precondition: 1",
        )
        .await;
        let dry_run = format!("{uri}?dryRun=All");
        let (code, status) = post(&server, &dry_run, binding(uid)).await;
        assert_eq!(code, 201, "{status}");
        let get = async || {
            let (_, pod) = testing::get(&server, "/api/v1/namespaces/shop/pods/web-0").await;
            serde_json::from_str::<Value>(&pod).unwrap()
        };
        assert_eq!(get().await, created, "a dry run assigns nothing");

        let (code, status) = post(&server, uri, binding(uid)).await;
        assert_eq!(code, 201, "{status}");
        let pod = get().await;
        assert_eq!(pod["spec"]["nodeName"], "n1");
        // As upstream's binding, which writes the pod without a field manager.
        assert_eq!(
            pod["metadata"]["managedFields"],
            created["metadata"]["managedFields"]
        );
        assert_eq!(
            pod["metadata"]["annotations"],
            json!({"keep": "me", "scheduler.kubarium.dev/decision": "{\"node\":\"n1\"}"})
        );
        assert_eq!(pod["status"]["conditions"][0]["type"], "PodScheduled");
        assert_eq!(pod["status"]["conditions"][0]["status"], "True");

        refused(binding(uid), "is already assigned to node \"n1\"").await;
    }

    async fn call(server: &crate::ApiServer, method: &str, uri: &str, body: Value) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let (response, text) = testing::send(server, request).await;
        (
            response.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn a_namespace_goes_only_once_finalized() {
        let server = testing::server();
        let (code, _) = post(
            &server,
            "/api/v1/namespaces",
            json!({"metadata": {"name": "shop"}}),
        )
        .await;
        assert_eq!(code, 201);
        let delete = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
        let (code, deleting) = call(&server, "DELETE", "/api/v1/namespaces/shop", delete).await;
        assert_eq!(code, 200);
        assert_eq!(deleting["status"]["phase"], "Terminating");
        assert!(deleting["metadata"]["deletionTimestamp"].is_string());
        // A status update does not end it while `kubernetes` is in spec.finalizers.
        let uri = "/api/v1/namespaces/shop/status";
        let (code, _) = call(&server, "PUT", uri, deleting.clone()).await;
        assert_eq!(code, 200);
        let (response, _) = testing::get(&server, "/api/v1/namespaces/shop").await;
        assert_eq!(response.status().as_u16(), 200);
        // Finalizing removes the last finalizer, and with it the namespace.
        let mut finalized = deleting;
        finalized["spec"]["finalizers"] = json!([]);
        let uri = "/api/v1/namespaces/shop/finalize";
        let (code, _) = call(&server, "PUT", uri, finalized).await;
        assert_eq!(code, 200);
        let (response, _) = testing::get(&server, "/api/v1/namespaces/shop").await;
        assert_eq!(response.status().as_u16(), 404);
    }

    #[tokio::test]
    async fn a_pod_in_its_grace_period_takes_its_final_status_then_goes_when_its_node_deletes_it() {
        let server = shop().await;
        let pod = json!({
            "metadata": {"name": "web-0"},
            "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "web:1"}]},
        });
        let (code, _) = post(&server, "/api/v1/namespaces/shop/pods", pod).await;
        assert_eq!(code, 201);
        let uri = "/api/v1/namespaces/shop/pods/web-0";
        let delete = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5});
        let (code, deleting) = call(&server, "DELETE", uri, delete).await;
        assert_eq!(code, 200);
        assert_eq!(deleting["metadata"]["deletionGracePeriodSeconds"], 5);
        // The node's final status is stored: no finalizer, but a grace period running.
        let mut last = deleting.clone();
        last["status"] = json!({"phase": "Failed"});
        let (code, stored) = call(&server, "PUT", &format!("{uri}/status"), last).await;
        assert_eq!(code, 200, "{stored}");
        let (response, body) = testing::get(&server, uri).await;
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["status"]["phase"], "Failed");
        // Then the node deletes it for good.
        let delete = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0});
        let (code, _) = call(&server, "DELETE", uri, delete).await;
        assert_eq!(code, 200);
        let (response, _) = testing::get(&server, uri).await;
        assert_eq!(response.status().as_u16(), 404);
    }

    #[tokio::test]
    async fn a_status_write_changes_the_status_alone_and_a_write_of_the_object_all_but_it() {
        let server = shop().await;
        let pod = json!({
            "metadata": {"name": "web-0", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        });
        let (code, created) = post(&server, "/api/v1/namespaces/shop/pods", pod).await;
        assert_eq!(code, 201, "{created}");
        let uri = "/api/v1/namespaces/shop/pods/web-0";
        let status_uri = format!("{uri}/status");
        let without_status = |object: &Value| {
            let mut object = object.clone();
            object.as_object_mut().unwrap().remove("status");
            object["metadata"]
                .as_object_mut()
                .unwrap()
                .retain(|key, _| !["resourceVersion", "managedFields"].contains(&key.as_str()));
            object
        };

        // A merge patch of the status and, beside it, of labels and spec.
        let patch = json!({
            "metadata": {"labels": {"app": "db", "new": "label"}},
            "spec": {"activeDeadlineSeconds": 5},
            "status": {"phase": "Running"},
        });
        let (code, patched) = testing::call(&server, "PATCH", &status_uri, patch).await;
        assert_eq!(code, 200, "{patched}");
        assert_eq!(patched["status"]["phase"], "Running");
        assert_eq!(without_status(&patched), without_status(&created));

        // A whole object put to the status: the same.
        let mut put = patched.clone();
        put["metadata"]["labels"] = json!({"app": "cache"});
        put["spec"]["containers"][0]["image"] = json!("web:2");
        put["status"]["phase"] = json!("Succeeded");
        let (code, stored) = testing::call(&server, "PUT", &status_uri, put).await;
        assert_eq!(code, 200, "{stored}");
        assert_eq!(stored["status"]["phase"], "Succeeded");
        assert_eq!(without_status(&stored), without_status(&created));
        // A patch of the object changes all it names but the status.
        let patch = json!({"metadata": {"labels": {"app": "db"}}, "status": {"phase": "Failed"}});
        let (code, patched) = testing::call(&server, "PATCH", uri, patch).await;
        assert_eq!(code, 200, "{patched}");
        assert_eq!(patched["metadata"]["labels"], json!({"app": "db"}));
        assert_eq!(patched["status"], stored["status"]);
    }

    #[tokio::test]
    async fn a_status_write_gets_its_kinds_status_defaults() {
        let server = shop().await;
        // Upstream defaults a namespace's phase to Active and a volume's and a claim's to
        // Pending, on any write that leaves them out.
        let (_, namespace) = testing::get(&server, "/api/v1/namespaces/shop").await;
        let mut namespace: Value = serde_json::from_str(&namespace).unwrap();
        namespace["status"] = json!({});
        let (code, written) =
            testing::call(&server, "PUT", "/api/v1/namespaces/shop/status", namespace).await;
        assert_eq!(code, 200, "{written}");
        assert_eq!(written["status"]["phase"], "Active");

        let volume = json!({"metadata": {"name": "pv-1"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/pv-1"}}});
        let (code, mut volume) = post(&server, "/api/v1/persistentvolumes", volume).await;
        assert_eq!(code, 201, "{volume}");
        volume["status"] = json!({"message": "checked"});
        let (code, written) = testing::call(
            &server,
            "PUT",
            "/api/v1/persistentvolumes/pv-1/status",
            volume,
        )
        .await;
        assert_eq!(code, 200, "{written}");
        assert_eq!(
            written["status"],
            json!({"message": "checked", "phase": "Pending"})
        );

        let claim = json!({"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        let claims = "/api/v1/namespaces/shop/persistentvolumeclaims";
        let (code, mut claim) = post(&server, claims, claim).await;
        assert_eq!(code, 201, "{claim}");
        claim["status"] = json!({"accessModes": ["ReadWriteOnce"]});
        let status = format!("{claims}/data/status");
        let (code, written) = testing::call(&server, "PUT", &status, claim).await;
        assert_eq!(code, 200, "{written}");
        assert_eq!(written["status"]["phase"], "Pending");

        // A Service's status always has its load balancer, empty until one is assigned.
        let service = json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}});
        let services = "/api/v1/namespaces/shop/services";
        let (code, mut service) = post(&server, services, service).await;
        assert_eq!(code, 201, "{service}");
        service["status"] = json!({});
        let status = format!("{services}/web/status");
        let (code, written) = testing::call(&server, "PUT", &status, service).await;
        assert_eq!(code, 200, "{written}");
        assert_eq!(written["status"], json!({"loadBalancer": {}}));
    }
}
