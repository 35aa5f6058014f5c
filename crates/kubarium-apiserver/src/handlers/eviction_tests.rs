//! Evictions against disruption budgets, through the router.

use serde_json::{Value, json};

use crate::testing::call;

const PODS: &str = "/api/v1/namespaces/shop/pods";
const PDBS: &str = "/apis/policy/v1/namespaces/shop/poddisruptionbudgets";

/// A server with namespace `shop` and pod `web-0` labelled `app=web`, bound, in `phase`
/// and ready or not.
async fn shop(phase: &str, ready: bool) -> crate::ApiServer {
    let server = crate::testing::server();
    crate::testing::namespace(&server, "shop").await;
    pod(&server, "web-0", phase, ready).await;
    server
}

async fn pod(server: &crate::ApiServer, name: &str, phase: &str, ready: bool) {
    let pod = json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
    });
    let (code, created) = call(server, "POST", PODS, pod).await;
    assert_eq!(code, 201, "{created}");
    let mut status = created;
    status["status"] = json!({"phase": phase, "conditions": [
        {"type": "Ready", "status": if ready { "True" } else { "False" }}
    ]});
    let (code, body) = call(server, "PUT", &format!("{PODS}/{name}/status"), status).await;
    assert_eq!(code, 200, "{body}");
}

/// A budget selecting `app=web` whose status says `allowed` disruptions (healthy 2 of 2
/// desired), observed at its generation unless `stale`.
async fn budget(server: &crate::ApiServer, name: &str, spec: Value, allowed: i32, stale: bool) {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app": "web"}});
    let body = json!({"metadata": {"name": name}, "spec": spec});
    let (code, created) = call(server, "POST", PDBS, body).await;
    assert_eq!(code, 201, "{created}");
    let mut status = created;
    status["status"] = json!({"disruptionsAllowed": allowed, "currentHealthy": 2,
        "desiredHealthy": 2, "expectedPods": 2, "observedGeneration": if stale { 0 } else { 1 }});
    let (code, body) = call(server, "PUT", &format!("{PDBS}/{name}/status"), status).await;
    assert_eq!(code, 200, "{body}");
}

fn eviction(name: &str) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}})
}

async fn evict(server: &crate::ApiServer, body: Value) -> (u16, Value) {
    let name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    call(server, "POST", &format!("{PODS}/{name}/eviction"), body).await
}

async fn get(server: &crate::ApiServer, uri: &str) -> Value {
    let (code, body) = call(server, "GET", uri, Value::Null).await;
    assert_eq!(code, 200, "{body}");
    body
}

#[tokio::test]
async fn a_budget_without_disruptions_left_refuses_with_429() {
    let server = shop("Running", true).await;
    budget(&server, "web", json!({"minAvailable": 2}), 0, false).await;
    let (code, status) = evict(&server, eviction("web-0")).await;
    assert_eq!(code, 429);
    insta::assert_json_snapshot!(status, @r#"
    {
      "apiVersion": "v1",
      "code": 429,
      "details": {
        "causes": [
          {
            "message": "The disruption budget web needs 2 healthy pods and has 2 currently",
            "reason": "DisruptionBudget"
          }
        ]
      },
      "kind": "Status",
      "message": "Cannot evict pod as it would violate the pod's disruption budget.",
      "metadata": {},
      "reason": "TooManyRequests",
      "status": "Failure"
    }
    "#);
    let pod = get(&server, &format!("{PODS}/web-0")).await;
    assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
}

#[tokio::test]
async fn an_allowed_eviction_uses_up_the_budget_and_marks_the_pod() {
    let server = shop("Running", true).await;
    budget(&server, "web", json!({"maxUnavailable": 1}), 1, false).await;
    let (code, status) = evict(&server, eviction("web-0")).await;
    assert_eq!(code, 201, "{status}");
    assert_eq!(status["status"], "Success");
    let pdb = get(&server, &format!("{PDBS}/web")).await;
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert!(pdb["status"]["disruptedPods"]["web-0"].is_string(), "{pdb}");
    let condition = &pdb["status"]["conditions"][0];
    assert_eq!(
        (
            &condition["type"],
            &condition["status"],
            &condition["reason"]
        ),
        (
            &json!("DisruptionAllowed"),
            &json!("False"),
            &json!("InsufficientPods")
        )
    );
    // An unbound pod has no grace period: it is gone, with the condition on its last state.
    let (code, _) = call(&server, "GET", &format!("{PODS}/web-0"), Value::Null).await;
    assert_eq!(code, 404);
    // The next one is refused.
    pod(&server, "web-1", "Running", true).await;
    assert_eq!(evict(&server, eviction("web-1")).await.0, 429);
}

#[tokio::test]
async fn the_pod_gets_the_disruption_target_condition_before_it_goes() {
    let server = shop("Running", true).await;
    // A finalizer keeps the pod so its last state can be read.
    let (code, body) = call(
        &server,
        "PATCH",
        &format!("{PODS}/web-0"),
        json!({"metadata": {"finalizers": ["kubarium.dev/test"]}}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = evict(&server, eviction("web-0")).await;
    assert_eq!(code, 201);
    let pod = get(&server, &format!("{PODS}/web-0")).await;
    assert!(pod["metadata"]["deletionTimestamp"].is_string());
    let condition = pod["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "DisruptionTarget")
        .cloned()
        .unwrap();
    assert_eq!(condition["reason"], "EvictionByEvictionAPI");
    assert_eq!(condition["message"], "Eviction API: evicting");
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let server = shop("Running", true).await;
    budget(&server, "web", json!({"minAvailable": 1}), 1, false).await;
    let before = get(&server, &format!("{PDBS}/web")).await;
    let (code, status) = call(
        &server,
        "POST",
        &format!("{PODS}/web-0/eviction?dryRun=All"),
        eviction("web-0"),
    )
    .await;
    assert_eq!(code, 201, "{status}");
    assert_eq!(get(&server, &format!("{PDBS}/web")).await, before);
    let pod = get(&server, &format!("{PODS}/web-0")).await;
    assert!(pod["metadata"]["deletionTimestamp"].is_null());
    assert!(
        !pod["status"]["conditions"]
            .to_string()
            .contains("DisruptionTarget")
    );
}

#[tokio::test]
async fn a_stale_budget_says_it_is_still_being_processed() {
    let server = shop("Running", true).await;
    budget(&server, "web", json!({"minAvailable": 1}), 1, true).await;
    let (code, status) = evict(&server, eviction("web-0")).await;
    assert_eq!(code, 429);
    assert_eq!(status["details"]["retryAfterSeconds"], 10);
    assert_eq!(
        status["details"]["causes"][0]["message"],
        "The disruption budget web is still being processed by the server."
    );
}

#[tokio::test]
async fn two_budgets_are_not_supported() {
    let server = shop("Running", true).await;
    budget(&server, "a", json!({"minAvailable": 1}), 1, false).await;
    budget(&server, "b", json!({"minAvailable": 1}), 1, false).await;
    let (code, status) = evict(&server, eviction("web-0")).await;
    assert_eq!(code, 500);
    assert_eq!(
        status["message"],
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );
}

#[tokio::test]
async fn pending_pods_go_without_a_budget_check() {
    let server = shop("Pending", false).await;
    budget(&server, "web", json!({"minAvailable": 2}), 0, false).await;
    assert_eq!(evict(&server, eviction("web-0")).await.0, 201);
}

#[tokio::test]
async fn unready_pods_go_when_the_policy_allows_it() {
    // IfHealthyBudget (the default): the budget is met without the unready pod.
    let server = shop("Running", false).await;
    budget(&server, "web", json!({"minAvailable": 2}), 0, false).await;
    assert_eq!(evict(&server, eviction("web-0")).await.0, 201);
    let pdb = get(&server, &format!("{PDBS}/web")).await;
    assert!(pdb["status"]["disruptedPods"].is_null(), "{pdb}");

    // Not met: refused, unless AlwaysAllow.
    let server = shop("Running", false).await;
    budget(&server, "web", json!({"minAvailable": 3}), 0, false).await;
    let (code, body) = call(&server, "GET", &format!("{PDBS}/web"), Value::Null).await;
    assert_eq!(code, 200);
    let mut unmet = body;
    unmet["status"]["desiredHealthy"] = json!(3);
    assert_eq!(
        call(&server, "PUT", &format!("{PDBS}/web/status"), unmet)
            .await
            .0,
        200
    );
    assert_eq!(evict(&server, eviction("web-0")).await.0, 429);
    let (code, _) = call(
        &server,
        "PATCH",
        &format!("{PDBS}/web"),
        json!({"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}}),
    )
    .await;
    assert_eq!(code, 200);
    // The spec change makes the status stale, but AlwaysAllow never reads it.
    assert_eq!(evict(&server, eviction("web-0")).await.0, 201);
}

#[tokio::test]
async fn the_body_must_name_the_pod() {
    let server = shop("Running", true).await;
    let mut body = eviction("web-0");
    body["metadata"]["name"] = json!("other");
    let (code, status) = call(&server, "POST", &format!("{PODS}/web-0/eviction"), body).await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "name in URL does not match name in Eviction object"
    );
}
