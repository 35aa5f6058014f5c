//! The ServiceAccount admission plugin, on a new pod's JSON: the pod's service account must
//! exist, and unless the pod or its account opts out (`automountServiceAccountToken:
//! false`), every container gets the account's credentials at
//! `/var/run/secrets/kubernetes.io/serviceaccount` from a projected `kube-api-access-*`
//! volume (a token the kubelet asks for, the cluster CA from `kube-root-ca.crt`, the
//! namespace), so in-cluster clients (client-go's `InClusterConfig`, kube-rs's
//! `Config::incluster`) find what they read. A pod naming no image pull secrets takes the
//! account's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::handlers::Call;
use crate::object::list_mut;
use crate::status::StatusError;

/// Where client libraries look for a pod's service account credentials.
const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The prefix of the volume's name; a random suffix follows, as upstream's.
const VOLUME_PREFIX: &str = "kube-api-access-";
/// The token's lifetime: upstream's 3607 s, an hour and the 7 s that mark a token kept for
/// clients that never re-read it.
const TOKEN_SECONDS: i64 = 3607;
/// How often the `default` account is looked for before the pod is refused: the namespace
/// controller makes it just after the namespace, so a pod created at once may wait for it.
const DEFAULT_ATTEMPTS: u32 = 10;
const RETRY: Duration = Duration::from_millis(150);

/// Names the `default` account in a new pod that names none (upstream's plugin does, after
/// the field manager, so the creator does not own it); a mirror pod's spec is its node's.
pub(crate) fn default_name(pod: &mut Value) {
    if is_mirror(pod) {
        return;
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        for field in ["serviceAccountName", "serviceAccount"] {
            spec.insert(field.to_owned(), Value::from("default"));
        }
    }
}

fn is_mirror(pod: &Value) -> bool {
    pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string()
}

/// Admits new pod `pod` (its `spec.serviceAccountName` set by [`default_name`]).
pub(crate) async fn admit(call: &Call, name: &str, pod: &mut Value) -> Result<(), StatusError> {
    if is_mirror(pod) {
        return Ok(());
    }
    let account_name = pod["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    let namespace = call.target.namespace.as_deref().unwrap_or("default");
    let Some(account) = service_account(call, namespace, &account_name).await? else {
        return Err(StatusError::forbidden_object(
            "",
            "pods",
            name,
            &format!(
                "error looking up service account {namespace}/{account_name}: serviceaccount \"{account_name}\" not found"
            ),
        ));
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| account["automountServiceAccountToken"].as_bool())
        .unwrap_or(true);
    if automount {
        mount_token(spec);
    }
    let pulls = account["imagePullSecrets"]
        .as_array()
        .filter(|s| !s.is_empty());
    let has_pulls = spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    if let (Some(pulls), false) = (pulls, has_pulls) {
        let names: Vec<Value> = pulls
            .iter()
            .filter_map(|s| s["name"].as_str())
            .map(|name| json!({"name": name}))
            .collect();
        spec.insert("imagePullSecrets".to_owned(), Value::from(names));
    }
    Ok(())
}

/// ServiceAccount `name`, looked for again for a while if it is `default`.
async fn service_account(
    call: &Call,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, StatusError> {
    let accounts = crate::registry::served("", "v1", "serviceaccounts")?;
    let key = accounts.key(Some(namespace), name);
    let attempts = if name == "default" {
        DEFAULT_ATTEMPTS
    } else {
        1
    };
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(RETRY).await;
        }
        let stored = call
            .server
            .store()
            .get(&key)
            .map_err(|e| crate::handlers::store_error(call, name, e))?;
        if let Some(stored) = stored {
            return serde_json::from_slice(&stored.value)
                .map(Some)
                .map_err(|e| StatusError::internal(format!("stored service account: {e}")));
        }
    }
    Ok(None)
}

/// Mounts the token volume in every container and init container that has nothing at the
/// mount path yet, adding the volume (or reusing a `kube-api-access-*` one) if any does.
fn mount_token(spec: &mut serde_json::Map<String, Value>) {
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|volumes| {
            volumes
                .iter()
                .filter_map(|v| v["name"].as_str())
                .find(|name| name.starts_with(VOLUME_PREFIX))
                .map(str::to_owned)
        });
    let volume = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{}", crate::object::name_suffix()));
    let mut mounted = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let Some(container) = container.as_object_mut() else {
                continue;
            };
            let Some(mounts) = list_mut(container, "volumeMounts") else {
                continue;
            };
            if mounts.iter().any(|m| m["mountPath"] == MOUNT_PATH) {
                continue;
            }
            mounts.push(json!({"name": volume, "readOnly": true, "mountPath": MOUNT_PATH}));
            mounted = true;
        }
    }
    if mounted
        && existing.is_none()
        && let Some(volumes) = list_mut(spec, "volumes")
    {
        volumes.push(json!({
            "name": volume,
            "projected": {
                "defaultMode": 0o644,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": TOKEN_SECONDS, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ],
            },
        }));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{call, namespace, server_admitting_service_accounts};

    /// Creates `pod` in `shop`: the status code and the answer.
    async fn create(server: &crate::ApiServer, pod: Value) -> (u16, Value) {
        call(server, "POST", "/api/v1/namespaces/shop/pods", pod).await
    }

    async fn shop() -> crate::ApiServer {
        let server = server_admitting_service_accounts();
        namespace(&server, "shop").await;
        for account in [
            json!({"metadata": {"name": "default"}}),
            json!({"metadata": {"name": "quiet"}, "automountServiceAccountToken": false}),
            json!({"metadata": {"name": "puller"}, "imagePullSecrets": [{"name": "registry"}]}),
        ] {
            let (code, answer) = call(
                &server,
                "POST",
                "/api/v1/namespaces/shop/serviceaccounts",
                account,
            )
            .await;
            assert_eq!(code, 201, "{answer}");
        }
        server
    }

    #[tokio::test]
    async fn every_container_gets_its_service_accounts_token() {
        let server = shop().await;
        let (code, pod) = create(
            &server,
            json!({"metadata": {"name": "web"}, "spec": {
                "initContainers": [{"name": "setup", "image": "busybox"}],
                "containers": [
                    {"name": "app", "image": "nginx"},
                    {"name": "own", "image": "nginx", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]},
                ],
                "volumes": [{"name": "mine", "emptyDir": {}}],
            }}),
        )
        .await;
        assert_eq!(code, 201, "{pod}");
        let volume = pod["spec"]["volumes"][1]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(volume.len() == VOLUME_PREFIX.len() + 5 && volume.starts_with(VOLUME_PREFIX));
        insta::assert_json_snapshot!(pod["spec"], {
            ".volumes[1].name" => "[kube-api-access-*]",
            ".**.volumeMounts[].name" => insta::dynamic_redaction(|value, _| {
                match value.as_str() {
                    Some(name) if name.starts_with(VOLUME_PREFIX) => "[kube-api-access-*]".into(),
                    _ => value,
                }
            }),
        });
    }

    #[tokio::test]
    async fn the_creator_owns_what_it_sent_not_what_admission_added() {
        let server = shop().await;
        let (code, pod) = create(
            &server,
            json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}}),
        )
        .await;
        assert_eq!(code, 201, "{pod}");
        // Admission mounted the token and added the node-problem tolerations…
        assert_eq!(pod["spec"]["volumes"].as_array().map(Vec::len), Some(1));
        assert_eq!(pod["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
        // …after the field manager credited the decoded, defaulted pod to its creator, as
        // upstream's create handler runs mutating admission after it.
        let fields = &pod["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"];
        assert!(fields["f:containers"].is_object(), "{fields}");
        assert!(fields["f:dnsPolicy"].is_object(), "{fields}");
        for added in ["f:volumes", "f:tolerations"] {
            assert!(fields.get(added).is_none(), "{added} in {fields}");
        }
        let container = &fields["f:containers"]["k:{\"name\":\"app\"}"];
        assert!(container["f:image"].is_object(), "{container}");
        assert!(container.get("f:volumeMounts").is_none(), "{container}");
    }

    #[tokio::test]
    async fn the_pod_or_its_account_can_opt_out_and_the_pod_wins() {
        let server = shop().await;
        let volumes = |pod: &Value| pod["spec"]["volumes"].as_array().map_or(0, Vec::len);
        let pod = |name: &str, account: &str, automount: Value| {
            json!({"metadata": {"name": name}, "spec": {
                "serviceAccountName": account,
                "automountServiceAccountToken": automount,
                "containers": [{"name": "app", "image": "nginx"}],
            }})
        };
        let (_, quiet) = create(&server, pod("a", "quiet", Value::Null)).await;
        assert_eq!(volumes(&quiet), 0, "{quiet}");
        let (_, off) = create(&server, pod("b", "default", json!(false))).await;
        assert_eq!(volumes(&off), 0, "{off}");
        let (_, on) = create(&server, pod("c", "quiet", json!(true))).await;
        assert_eq!(volumes(&on), 1, "{on}");
    }

    #[tokio::test]
    async fn a_pod_takes_its_accounts_pull_secrets_unless_it_names_its_own() {
        let server = shop().await;
        let pod = |name: &str, secrets: Value| {
            json!({"metadata": {"name": name}, "spec": {
                "serviceAccountName": "puller",
                "imagePullSecrets": secrets,
                "containers": [{"name": "app", "image": "nginx"}],
            }})
        };
        let (_, inherited) = create(&server, pod("a", Value::Null)).await;
        assert_eq!(
            inherited["spec"]["imagePullSecrets"],
            json!([{"name": "registry"}])
        );
        let (_, own) = create(&server, pod("b", json!([{"name": "mine"}]))).await;
        assert_eq!(own["spec"]["imagePullSecrets"], json!([{"name": "mine"}]));
    }

    #[tokio::test]
    async fn the_deprecated_field_names_the_account_when_the_new_one_does_not() {
        let server = shop().await;
        let (code, pod) = create(
            &server,
            json!({"metadata": {"name": "old"}, "spec": {
                "serviceAccount": "puller",
                "containers": [{"name": "app", "image": "nginx"}],
            }}),
        )
        .await;
        assert_eq!(code, 201, "{pod}");
        assert_eq!(pod["spec"]["serviceAccountName"], "puller");
        assert_eq!(pod["spec"]["serviceAccount"], "puller");
        assert_eq!(
            pod["spec"]["imagePullSecrets"],
            json!([{"name": "registry"}])
        );
    }

    #[tokio::test]
    async fn a_pod_naming_a_missing_account_is_forbidden() {
        let server = shop().await;
        let (code, status) = create(
            &server,
            json!({"metadata": {"name": "web"}, "spec": {
                "serviceAccountName": "ghost",
                "containers": [{"name": "app", "image": "nginx"}],
            }}),
        )
        .await;
        assert_eq!(code, 403);
        assert_eq!(status["reason"], "Forbidden");
        assert_eq!(
            status["message"],
            "pods \"web\" is forbidden: error looking up service account shop/ghost: serviceaccount \"ghost\" not found"
        );
        let (code, _) = call(
            &server,
            "GET",
            "/api/v1/namespaces/shop/pods/web",
            Value::Null,
        )
        .await;
        assert_eq!(code, 404, "nothing was stored");
    }
}
