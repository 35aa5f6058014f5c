//! policy/v1: PodDisruptionBudgets, validated as upstream's `ValidatePodDisruptionBudget`
//! and printed as its `printPodDisruptionBudget`. There are no defaults in policy/v1.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::shared::validate_selector;
use crate::registry::table::{AGE, NAME, col};
use crate::registry::{Column, Kind, age};
use crate::validation::Causes;

/// What `unhealthyPodEvictionPolicy` may be, sorted as upstream lists them.
const EVICTION_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];

const PERCENT_MESSAGE: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// Upstream's `ValidatePodDisruptionBudgetStatusUpdate`: the counts are never negative.
fn validate_status(budget: &mut PodDisruptionBudget, causes: &mut Causes) {
    let PodDisruptionBudgetStatus {
        disruptions_allowed,
        current_healthy,
        desired_healthy,
        expected_pods,
        ..
    } = budget.status.clone().unwrap_or_default();
    for (field, value) in [
        ("status.disruptionsAllowed", disruptions_allowed),
        ("status.currentHealthy", current_healthy),
        ("status.desiredHealthy", desired_healthy),
        ("status.expectedPods", expected_pods),
    ] {
        causes.at_least(field, Some(i64::from(value)), 0);
    }
}

impl Kind for PodDisruptionBudget {
    const GENERATION: bool = true;
    const STATUS_ADMISSION: Option<fn(&mut Self, &mut Causes)> = Some(validate_status);

    fn validate(&self, causes: &mut Causes) {
        let spec = self.spec.clone().unwrap_or_default();
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            causes.invalid(
                "spec",
                &spec,
                "minAvailable and maxUnavailable cannot be both set",
            );
        }
        int_or_percent("spec.minAvailable", spec.min_available.as_ref(), causes);
        int_or_percent("spec.maxUnavailable", spec.max_unavailable.as_ref(), causes);
        validate_selector("spec.selector", spec.selector.as_ref(), causes);
        causes.one_of(
            "spec.unhealthyPodEvictionPolicy",
            spec.unhealthy_pod_eviction_policy.as_deref(),
            EVICTION_POLICIES,
        );
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Min Available",
                "string",
                "The minimum number of pods that must be available.",
            ),
            col(
                "Max Unavailable",
                "string",
                "The maximum number of pods that may be unavailable.",
            ),
            col(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let shown = |value: Option<IntOrString>| match value {
            Some(IntOrString::Int(n)) => Value::from(n.to_string()),
            Some(IntOrString::String(s)) => Value::from(s),
            None => Value::from("N/A"),
        };
        vec![
            shown(spec.min_available),
            shown(spec.max_unavailable),
            Value::from(
                self.status
                    .as_ref()
                    .map_or(0, |status| status.disruptions_allowed),
            ),
            age(self.metadata.creation_timestamp.as_ref(), now),
        ]
    }
}

/// Upstream's `ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent`.
fn int_or_percent(field: &str, value: Option<&IntOrString>, causes: &mut Causes) {
    match value {
        None => {}
        Some(IntOrString::Int(n)) => causes.at_least(field, Some(i64::from(*n)), 0),
        Some(IntOrString::String(s)) => match percent(s) {
            None => causes.invalid(field, s, PERCENT_MESSAGE),
            Some(p) if p > 100 => causes.invalid(field, s, "must not be greater than 100%"),
            Some(_) => {}
        },
    }
}

/// The number of a percent string (`[0-9]+%`), `None` when it is not one.
pub(crate) fn percent(value: &str) -> Option<u64> {
    let digits = value.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits that overflow are still a valid percent string, just over 100.
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::testing;

    const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

    async fn send(server: &crate::ApiServer, method: &str, uri: &str, body: Value) -> (u16, Value) {
        testing::call_accepting(server, method, uri, body, Some(TABLE)).await
    }

    async fn shop() -> crate::ApiServer {
        let server = testing::server();
        let namespace = json!({"metadata": {"name": "shop"}});
        assert_eq!(
            send(&server, "POST", "/api/v1/namespaces", namespace)
                .await
                .0,
            201
        );
        server
    }

    const PDBS: &str = "/apis/policy/v1/namespaces/shop/poddisruptionbudgets";

    fn pdb(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name}, "spec": spec})
    }

    /// Replaces what the server stamps on every object with placeholders.
    fn stable(mut object: Value) -> Value {
        if let Some(meta) = object["metadata"].as_object_mut() {
            for key in ["uid", "creationTimestamp", "resourceVersion"] {
                if meta.contains_key(key) {
                    meta.insert(key.to_owned(), json!(format!("[{key}]")));
                }
            }
            for entry in meta
                .get_mut("managedFields")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                entry["time"] = json!("[time]");
            }
        }
        object
    }

    #[tokio::test]
    async fn created_with_generation_one_and_no_status() {
        let server = shop().await;
        let mut body = pdb(
            "web",
            json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}),
        );
        body["status"] = json!({"disruptionsAllowed": 5});
        let (code, created) = testing::call(&server, "POST", PDBS, body).await;
        assert_eq!(code, 201, "{created}");
        insta::assert_json_snapshot!("pdb_created", stable(created));
    }

    #[tokio::test]
    async fn the_table_shows_each_bound_or_na() {
        let server = shop().await;
        for (name, spec) in [
            (
                "web",
                json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}),
            ),
            (
                "db",
                json!({"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "db"}}}),
            ),
        ] {
            assert_eq!(
                testing::call(&server, "POST", PDBS, pdb(name, spec))
                    .await
                    .0,
                201
            );
        }
        let (code, mut table) = send(&server, "GET", PDBS, Value::Null).await;
        assert_eq!(code, 200, "{table}");
        table["metadata"]["resourceVersion"] = json!("[rv]");
        for row in table["rows"].as_array_mut().unwrap() {
            row["cells"][4] = json!("[age]");
            row["object"] = stable(row["object"].take());
        }
        insta::assert_json_snapshot!("pdb_list_table", table);
    }

    #[tokio::test]
    async fn invalid_budgets_are_refused_with_upstreams_causes() {
        let server = shop().await;
        let cases = [
            json!({"minAvailable": 1, "maxUnavailable": 1, "selector": {}}),
            json!({"minAvailable": -1}),
            json!({"maxUnavailable": "150%"}),
            json!({"minAvailable": "half"}),
            json!({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Sometimes"}),
            json!({"minAvailable": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "In"}, {"key": "tier", "operator": "Near", "values": ["a"]}, {"key": "x", "operator": "Exists", "values": ["a"]}]}}),
        ];
        let mut messages = Vec::new();
        for spec in cases {
            let (code, status) = send(&server, "POST", PDBS, pdb("bad", spec)).await;
            assert_eq!(code, 422, "{status}");
            messages.push(status["message"].clone());
        }
        insta::assert_json_snapshot!("pdb_invalid", messages);
    }

    #[tokio::test]
    async fn a_status_write_is_held_to_the_status_rules_alone() {
        let server = shop().await;
        let spec = json!({"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}});
        let (code, mut budget) = testing::call(&server, "POST", PDBS, pdb("web", spec)).await;
        assert_eq!(code, 201, "{budget}");
        let status = format!("{PDBS}/web/status");
        budget["status"] = json!({"disruptionsAllowed": -1, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0});
        let (code, refused) = testing::call(&server, "PUT", &status, budget.clone()).await;
        assert_eq!(code, 422, "{refused}");
        assert_eq!(
            refused["details"]["causes"][0]["field"],
            "status.disruptionsAllowed"
        );

        // The spec a status write carries is not the one stored, nor validated.
        budget["status"]["disruptionsAllowed"] = json!(1);
        budget["spec"]["minAvailable"] = json!(-1);
        let (code, written) = testing::call(&server, "PUT", &status, budget).await;
        assert_eq!(code, 200, "{written}");
        assert_eq!(written["status"]["disruptionsAllowed"], 1);
        assert_eq!(written["spec"]["minAvailable"], 2);
        assert_eq!(written["metadata"]["generation"], 1);
    }

    #[test]
    fn percent_strings() {
        assert_eq!(super::percent("50%"), Some(50));
        assert_eq!(super::percent("150%"), Some(150));
        assert_eq!(super::percent("%"), None);
        assert_eq!(super::percent("5"), None);
        assert_eq!(super::percent("-5%"), None);
    }
}
