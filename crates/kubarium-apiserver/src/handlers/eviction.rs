//! `pods/{name}/eviction`: a delete that the pod's PodDisruptionBudget may refuse, as
//! upstream's `EvictionREST` (pkg/registry/core/pod/storage/eviction.go, 1.32).
//!
//! Pods that are pending, finished or already terminating go without a look at budgets. A
//! pod matched by more than one budget is refused (500). With one budget, an unready pod
//! goes when the budget is healthy anyway (or its `unhealthyPodEvictionPolicy` is
//! `AlwaysAllow`), on the condition that it is still the pod that was judged (a
//! resourceVersion precondition); otherwise the budget must allow a disruption: its
//! `disruptionsAllowed` is decremented and the pod recorded in `disruptedPods` through an
//! optimistic status update (retried on conflict), or the eviction is refused with 429
//! `TooManyRequests`. Before the delete the pod gets the `DisruptionTarget` condition. A
//! dry run writes nothing.

use std::collections::BTreeMap;

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, StatusCause, Time};
use serde_json::{Value, json};

use super::{Call, created_status, json, parse_object};
use crate::StatusError;
use crate::object;
use crate::registry::{self, Resource};
use crate::request::{Params, Target};

/// Tries of a write that lost a race, as upstream's `EvictionsRetry` (20 steps).
const ATTEMPTS: usize = 20;

/// Upstream's `MaxDisruptedPodSize`.
const MAX_DISRUPTED_PODS: usize = 2000;

const REFUSED: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// The `type` (serialised as `reason`) of the cause a refusal names its budget in.
const DISRUPTION_BUDGET_CAUSE: &str = "DisruptionBudget";

pub(super) async fn evict(call: &mut Call, body: &[u8]) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let eviction = parse_object(&call.headers, body)?;
    if eviction["metadata"]["name"].as_str() != Some(name.as_str()) {
        return Err(StatusError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let options = delete_options(call, &eviction)?;
    let dry_run = options["dryRun"]
        .as_array()
        .is_some_and(|values| values.iter().any(|v| v == "All"));
    let rv_preset = !options["preconditions"]["resourceVersion"].is_null();
    let pods = call.target.resource;

    // Pods whose disruption has already happened (or never will) go without a budget check.
    let mut attempt = 0;
    let pod = loop {
        attempt += 1;
        let pod = load_pod(call, &name)?;
        if !can_ignore_budgets(&pod) {
            break pod;
        }
        let mut options = options.clone();
        if enforce_resource_version(&pod) && !rv_preset {
            options["preconditions"]["resourceVersion"] = json!(pod.metadata.resource_version);
        }
        match condition_and_delete(call, &name, options, dry_run).await {
            Err(e) if e.code == StatusCode::CONFLICT && !rv_preset && attempt < ATTEMPTS => {}
            result => return result.map(|()| created_status()),
        }
    };

    let budgets = budgets_of(call, &pod)?;
    if budgets.len() > 1 {
        return Ok(json(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                "code": 500})
            .to_string(),
        ));
    }
    let mut precondition = false;
    let mut budget_name = String::new();
    if let Some(budget) = budgets.into_iter().next() {
        budget_name = budget.metadata.name.clone().unwrap_or_default();
        if unhealthy_may_go(&pod, &budget) {
            precondition = true;
        } else {
            decrement(call, &pod, budget, dry_run).await?;
        }
    }
    let mut options = options;
    if precondition {
        options["preconditions"]["resourceVersion"] = json!(pod.metadata.resource_version);
    }
    match condition_and_delete(call, &name, options, dry_run).await {
        Err(e) if e.code == StatusCode::CONFLICT && precondition && !rv_preset => {
            // The pod changed (it may have become ready) since it was judged: the client
            // tries again, as upstream answers.
            Err(still_processing(&budget_name))
        }
        Err(e) if e.code == StatusCode::NOT_FOUND => Err(StatusError::not_found(pods, &name)),
        result => result.map(|()| created_status()),
    }
}

/// The eviction's `DeleteOptions` with the request's `dryRun` in them, as upstream's
/// `propagateDryRun`.
fn delete_options(call: &Call, eviction: &Value) -> Result<Value, StatusError> {
    let query: Vec<&str> = if call.params.dry_run()? {
        vec!["All"]
    } else {
        Vec::new()
    };
    let mut options = match eviction.get("deleteOptions") {
        Some(o) if o.is_object() => o.clone(),
        _ => json!({}),
    };
    let body: Vec<&str> = options["dryRun"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if body.is_empty() {
        if !query.is_empty() {
            options["dryRun"] = json!(query);
        }
    } else if !query.is_empty() && query != body {
        return Err(StatusError::bad_request(format!(
            "Non-matching dry-run options in request and content: {query:?} and {body:?}"
        )));
    }
    Ok(options)
}

/// Upstream's `canIgnorePDB`: pending, finished or terminating pods.
fn can_ignore_budgets(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed" | "Pending")
        || pod.metadata.deletion_timestamp.is_some()
}

/// Upstream's `shouldEnforceResourceVersion`: not for finished or terminating pods.
fn enforce_resource_version(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Whether an unready pod may go without using up the budget: it is not counted as
/// healthy, so it goes when the budget is met anyway (`IfHealthyBudget`, the default) or
/// always (`AlwaysAllow`).
fn unhealthy_may_go(pod: &Pod, budget: &PodDisruptionBudget) -> bool {
    if ready(pod) {
        return false;
    }
    let policy = budget
        .spec
        .as_ref()
        .and_then(|s| s.unhealthy_pod_eviction_policy.as_deref());
    let status = budget.status.clone().unwrap_or_default();
    match policy {
        None | Some("IfHealthyBudget") => {
            status.current_healthy >= status.desired_healthy && status.desired_healthy > 0
        }
        Some("AlwaysAllow") => true,
        Some(_) => false,
    }
}

/// A call on another resource of the same namespace, made by the eviction itself.
fn call_on(
    call: &Call,
    resource: &'static Resource,
    name: &str,
    subresource: Option<&str>,
) -> Call {
    Call {
        server: call.server.clone(),
        target: Target {
            resource,
            namespace: call.target.namespace.clone(),
            name: Some(name.to_owned()),
            subresource: subresource.map(str::to_owned),
            watch_prefix: false,
        },
        params: Params::default(),
        output: call.output,
        headers: HeaderMap::new(),
        warnings: Vec::new(),
        applying: false,
        user: call.user.clone(),
        query: None,
        upgrade: None,
    }
}

fn budgets_resource() -> Result<&'static Resource, StatusError> {
    registry::served("policy", "v1", "poddisruptionbudgets")
}

fn load_pod(call: &Call, name: &str) -> Result<Pod, StatusError> {
    let stored = super::write::load(call, name)?;
    typed(&super::read::parse(&stored)?)
}

fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, StatusError> {
    T::deserialize(value).map_err(|e| StatusError::internal(e.to_string()))
}

/// The budgets of the pod's namespace whose selector matches it; a budget with no (or an
/// empty) selector matches nothing here.
fn budgets_of(call: &Call, pod: &Pod) -> Result<Vec<PodDisruptionBudget>, StatusError> {
    let mut list = call_on(call, budgets_resource()?, "", None);
    list.target.name = None;
    let listed = super::read::collect(&list, &super::read::Filter::from_call(&list)?)?;
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let mut out = Vec::new();
    for stored in &listed.items {
        let budget: PodDisruptionBudget = typed(&super::read::parse(stored)?)?;
        let Some(selector) = budget.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
            continue;
        };
        let empty = selector
            .match_labels
            .as_ref()
            .is_none_or(BTreeMap::is_empty)
            && selector
                .match_expressions
                .as_ref()
                .is_none_or(Vec::is_empty);
        if !empty && crate::kinds::selector_matches(selector, &labels) {
            out.push(budget);
        }
    }
    Ok(out)
}

/// Upstream's `checkAndDecrement`, retried with a fresh budget while the status update
/// loses races.
async fn decrement(
    call: &Call,
    pod: &Pod,
    mut budget: PodDisruptionBudget,
    dry_run: bool,
) -> Result<(), StatusError> {
    let resource = budgets_resource()?;
    let name = budget.metadata.name.clone().unwrap_or_default();
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let mut sub = call_on(call, resource, &name, Some("status"));
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            budget = typed(&super::read::parse(&super::write::load(&sub, &name)?)?)?;
        }
        let generation = budget.metadata.generation.unwrap_or(0);
        let mut status = budget.status.clone().unwrap_or_default();
        if status.observed_generation.unwrap_or(0) < generation {
            return Err(still_processing(&name));
        }
        if status.disruptions_allowed < 0 {
            return Err(StatusError::forbidden_object(
                "policy",
                "poddisruptionbudget",
                &name,
                "pdb disruptions allowed is negative",
            ));
        }
        if status.disrupted_pods.as_ref().map_or(0, BTreeMap::len) > MAX_DISRUPTED_PODS {
            return Err(StatusError::forbidden_object(
                "policy",
                "poddisruptionbudget",
                &name,
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
            ));
        }
        if status.disruptions_allowed == 0 {
            return Err(StatusError::too_many_requests(
                REFUSED,
                0,
                vec![budget_cause(format!(
                    "The disruption budget {name} needs {} healthy pods and has {} currently",
                    status.desired_healthy, status.current_healthy
                ))],
            ));
        }
        status.disruptions_allowed -= 1;
        if status.disruptions_allowed == 0 {
            insufficient(&mut status.conditions, status.observed_generation);
        }
        if dry_run {
            return Ok(());
        }
        status
            .disrupted_pods
            .get_or_insert_with(BTreeMap::new)
            .insert(pod_name.clone(), Time(k8s_openapi::jiff::Timestamp::now()));
        let old =
            serde_json::to_value(&budget).map_err(|e| StatusError::internal(e.to_string()))?;
        let mut new = old.clone();
        new["status"] =
            serde_json::to_value(&status).map_err(|e| StatusError::internal(e.to_string()))?;
        let revision: kubarium_store::Revision = budget
            .metadata
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0);
        match super::write::replace(&mut sub, &name, &old, new, revision).await {
            Err(e) if e.code == StatusCode::CONFLICT => continue,
            result => return result.map(drop),
        }
    }
    Err(StatusError::new_timeout(
        format!("couldn't update PodDisruptionBudget \"{name}\" due to conflicts"),
        10,
    ))
}

/// The `DisruptionAllowed` condition once no disruption is left, as upstream's
/// `UpdateDisruptionAllowedCondition`.
fn insufficient(conditions: &mut Option<Vec<Condition>>, observed_generation: Option<i64>) {
    let conditions = conditions.get_or_insert_with(Vec::new);
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    match conditions
        .iter_mut()
        .find(|c| c.type_ == "DisruptionAllowed")
    {
        Some(c) => {
            if c.status != "False" {
                c.last_transition_time = now;
            }
            c.status = "False".to_owned();
            c.reason = "InsufficientPods".to_owned();
            c.message = String::new();
            c.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: "DisruptionAllowed".to_owned(),
            status: "False".to_owned(),
            reason: "InsufficientPods".to_owned(),
            message: String::new(),
            last_transition_time: now,
            observed_generation,
        }),
    }
}

fn budget_cause(message: String) -> StatusCause {
    StatusCause {
        reason: Some(DISRUPTION_BUDGET_CAUSE.to_owned()),
        message: Some(message),
        field: None,
    }
}

/// Upstream's `createTooManyRequestsError`: the budget's status is behind its spec.
fn still_processing(name: &str) -> StatusError {
    StatusError::too_many_requests(
        REFUSED,
        10,
        vec![budget_cause(format!(
            "The disruption budget {name} is still being processed by the server."
        ))],
    )
}

/// Upstream's `addConditionAndDeletePod`: the pod gets `DisruptionTarget` (unless a dry
/// run), then goes with `options`, whose resourceVersion precondition (if any) moves to the
/// revision the condition made.
async fn condition_and_delete(
    call: &Call,
    name: &str,
    mut options: Value,
    dry_run: bool,
) -> Result<(), StatusError> {
    let pods = call.target.resource;
    if !dry_run {
        let mut status_call = call_on(call, pods, name, Some("status"));
        let current = super::write::load(&status_call, name)?;
        let old = super::read::parse(&current)?;
        let revision = current.mod_revision.to_string();
        for (field, label, have) in [
            ("uid", "UID", object::meta_str(&old, "uid")),
            ("resourceVersion", "ResourceVersion", revision.as_str()),
        ] {
            if let Some(want) = options["preconditions"][field]
                .as_str()
                .filter(|w| !w.is_empty() && *w != have)
            {
                return Err(StatusError::conflict(
                    pods,
                    name,
                    &format!(
                        "Precondition failed: {label} in precondition: {want}, {label} in object meta: {have}"
                    ),
                ));
            }
        }
        let mut new = old.clone();
        disruption_target(&mut new);
        let stored =
            super::write::replace(&mut status_call, name, &old, new, current.mod_revision).await?;
        if options["preconditions"]["resourceVersion"].is_string() {
            let stored: Value = serde_json::from_slice(&stored)
                .map_err(|e| StatusError::internal(e.to_string()))?;
            options["preconditions"]["resourceVersion"] =
                stored["metadata"]["resourceVersion"].clone();
        }
    }
    let mut delete_call = call_on(call, pods, name, None);
    super::write::delete_with(&mut delete_call, &options)
        .await
        .map(drop)
}

/// Sets the pod's `DisruptionTarget` condition as upstream's `UpdatePodCondition` does: the
/// transition time moves only when the status does.
fn disruption_target(pod: &mut Value) {
    let condition = json!({"type": "DisruptionTarget", "status": "True", "lastProbeTime": null,
        "lastTransitionTime": object::now(), "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting"});
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = pod["status"]["conditions"].as_array_mut() else {
        return;
    };
    match conditions
        .iter_mut()
        .find(|c| c["type"] == "DisruptionTarget")
    {
        Some(existing) => {
            let keep = existing["status"] == "True";
            let since = existing["lastTransitionTime"].clone();
            *existing = condition;
            if keep {
                existing["lastTransitionTime"] = since;
            }
        }
        None => conditions.push(condition),
    }
}

#[cfg(test)]
#[path = "eviction_tests.rs"]
mod tests;
