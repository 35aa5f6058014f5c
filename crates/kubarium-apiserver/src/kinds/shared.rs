//! Pieces several kinds share: pod templates, label selectors, and the column cells for
//! containers and images.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::validation::Causes;

/// `name1,name2` of a template's containers (the CONTAINERS column).
pub(crate) fn containers(spec: Option<&PodSpec>) -> Value {
    Value::from(
        spec.map(|s| {
            s.containers
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default(),
    )
}

/// `image1,image2` of a template's containers (the IMAGES column).
pub(crate) fn images(spec: Option<&PodSpec>) -> Value {
    Value::from(
        spec.map(|s| {
            s.containers
                .iter()
                .map(|c| c.image.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default(),
    )
}

/// A label selector in string form (the SELECTOR column), `<none>` when empty.
pub(crate) fn selector(selector: Option<&LabelSelector>) -> Value {
    let value = selector
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    crate::registry::table_or_none(crate::handlers::selector_string(&value))
}

/// Whether `selector` matches `labels`.
pub(crate) fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let match_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    match_labels && expressions
}

/// Validates a workload's selector and template: the selector must be non-empty and select
/// the template's labels, and the template must be a valid pod spec.
pub(crate) fn validate_workload(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    causes: &mut Causes,
) {
    validate_workload_with(selector, template, &[], causes);
}

/// As [`validate_workload`], with volumes coming from claim templates.
pub(crate) fn validate_workload_with(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    extra_volumes: &[&str],
    causes: &mut Causes,
) {
    match selector {
        None => causes.required("spec.selector", ""),
        Some(s)
            if s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
                && s.match_expressions.as_ref().is_none_or(Vec::is_empty) =>
        {
            causes.invalid(
                "spec.selector",
                crate::validation::json(s),
                "empty selector is invalid for deployment",
            );
        }
        Some(s) => {
            let labels = template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            if !selector_matches(s, &labels) {
                causes.invalid(
                    "spec.template.metadata.labels",
                    &labels,
                    "`selector` does not match template `labels`",
                );
            }
        }
    }
    if let Some(meta) = &template.metadata {
        causes.labels("spec.template.metadata.labels", meta.labels.as_ref());
    }
    match &template.spec {
        Some(spec) => {
            super::pod::validate_spec_with(spec, "spec.template.spec", extra_volumes, causes)
        }
        None => causes.required("spec.template.spec", ""),
    }
}

/// Upstream's `ValidateLabelSelector`: label keys and values, and each expression's
/// operator with the values it needs or forbids.
pub(crate) fn validate_selector(
    field: &str,
    selector: Option<&LabelSelector>,
    causes: &mut Causes,
) {
    let Some(selector) = selector else { return };
    causes.labels(
        &format!("{field}.matchLabels"),
        selector.match_labels.as_ref(),
    );
    for (i, requirement) in selector.match_expressions.iter().flatten().enumerate() {
        let at = format!("{field}.matchExpressions[{i}]");
        let values = requirement.values.as_deref().unwrap_or_default();
        match requirement.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => causes.required(
                &format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => causes.forbidden(
                &format!("{at}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => causes.invalid(
                &format!("{at}.operator"),
                other,
                "not a valid selector operator",
            ),
        }
        for problem in crate::validation::qualified_name_problems(&requirement.key) {
            causes.invalid(&format!("{at}.key"), &requirement.key, problem);
        }
        for (j, value) in values.iter().enumerate() {
            for problem in crate::validation::label_value_problems(value) {
                causes.invalid(&format!("{at}.values[{j}]"), value, problem);
            }
        }
    }
}
