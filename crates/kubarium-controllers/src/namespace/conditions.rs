//! The status conditions the namespace controller keeps on a terminating namespace, with
//! upstream's types, reasons and messages (`pkg/controller/namespace/deletion`'s
//! `status_condition_utils.go`), so `kubectl describe namespace` explains a slow deletion.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{NamespaceCondition, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The condition types this controller owns, in upstream's order, with their "all well"
/// reason and message.
const OWNED: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
];

/// What one pass over a namespace's content found.
#[derive(Debug, Default, Clone)]
pub(crate) struct Findings {
    /// Discovery failed (some resources may have been skipped).
    pub(crate) discovery_error: Option<String>,
    /// One error per resource whose content could not be deleted.
    pub(crate) content_errors: Vec<String>,
    /// Objects left per resource, as `resource.group`.
    pub(crate) remaining: BTreeMap<String, usize>,
    /// Objects left per finalizer they still carry.
    pub(crate) finalizers: BTreeMap<String, usize>,
}

/// The failing conditions `findings` call for: (type, reason, message).
fn failing(findings: &Findings) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    if let Some(error) = &findings.discovery_error {
        out.push((
            "NamespaceDeletionDiscoveryFailure",
            "DiscoveryFailed",
            error.clone(),
        ));
    }
    if !findings.content_errors.is_empty() {
        let mut errors = findings.content_errors.clone();
        errors.sort();
        out.push((
            "NamespaceDeletionContentFailure",
            "ContentDeletionFailed",
            format!(
                "Failed to delete all resource types, {} remaining: {}",
                errors.len(),
                errors.join(", ")
            ),
        ));
    }
    let remaining: Vec<String> = findings
        .remaining
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(resource, n)| format!("{resource} has {n} resource instances"))
        .collect();
    if !findings.remaining.is_empty() {
        out.push((
            "NamespaceContentRemaining",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", sorted(remaining)),
        ));
    }
    let finalizers: Vec<String> = findings
        .finalizers
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(finalizer, n)| format!("{finalizer} in {n} resource instances"))
        .collect();
    if !findings.finalizers.is_empty() {
        out.push((
            "NamespaceFinalizersRemaining",
            "SomeFinalizerRemain",
            format!("Some finalizers are remaining: {}", sorted(finalizers)),
        ));
    }
    out
}

fn sorted(mut items: Vec<String>) -> String {
    items.sort();
    items.join(", ")
}

/// Brings `status`'s owned conditions in line with `findings`; returns whether any changed.
/// A condition's transition time moves only when its status flips.
pub(crate) fn update(status: &mut NamespaceStatus, findings: &Findings, now: Timestamp) -> bool {
    let failing = failing(findings);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for (type_, ok_reason, ok_message) in OWNED {
        let (state, reason, message) = match failing.iter().find(|(t, _, _)| *t == type_) {
            Some((_, reason, message)) => ("True", *reason, message.clone()),
            None => ("False", ok_reason, ok_message.to_owned()),
        };
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: type_.to_owned(),
                    status: state.to_owned(),
                    reason: Some(reason.to_owned()),
                    message: Some(message),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(old) => {
                if old.status != state
                    || old.reason.as_deref() != Some(reason)
                    || old.message.as_deref() != Some(message.as_str())
                {
                    if old.status != state {
                        old.last_transition_time = Some(Time(now));
                    }
                    old.status = state.to_owned();
                    old.reason = Some(reason.to_owned());
                    old.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(status: &NamespaceStatus) -> Vec<String> {
        status
            .conditions
            .iter()
            .flatten()
            .map(|c| {
                format!(
                    "{} {} {}: {}",
                    c.type_,
                    c.status,
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                )
            })
            .collect()
    }

    #[test]
    fn remaining_content_and_finalizers_read_as_upstream() {
        let mut status = NamespaceStatus::default();
        let findings = Findings {
            remaining: [("pods.".to_owned(), 2), ("configmaps.".to_owned(), 1)].into(),
            finalizers: [("example.com/hold".to_owned(), 1)].into(),
            ..Findings::default()
        };
        assert!(update(&mut status, &findings, Timestamp::now()));
        insta::assert_debug_snapshot!(summary(&status), @r#"
        [
            "NamespaceDeletionDiscoveryFailure False ResourcesDiscovered: All resources successfully discovered",
            "NamespaceDeletionGroupVersionParsingFailure False ParsedGroupVersions: All legacy kube types successfully parsed",
            "NamespaceDeletionContentFailure False ContentDeleted: All content successfully deleted, may be waiting on finalization",
            "NamespaceContentRemaining True SomeResourcesRemain: Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances",
            "NamespaceFinalizersRemaining True SomeFinalizerRemain: Some finalizers are remaining: example.com/hold in 1 resource instances",
        ]
        "#);
        // The same findings again change nothing.
        assert!(!update(&mut status, &findings, Timestamp::now()));
    }

    #[test]
    fn errors_become_failure_conditions() {
        let mut status = NamespaceStatus::default();
        let findings = Findings {
            discovery_error: Some("the server is down".into()),
            content_errors: vec!["b failed".into(), "a failed".into()],
            ..Findings::default()
        };
        update(&mut status, &findings, Timestamp::now());
        let lines = summary(&status);
        assert_eq!(
            lines[0],
            "NamespaceDeletionDiscoveryFailure True DiscoveryFailed: the server is down"
        );
        assert_eq!(
            lines[2],
            "NamespaceDeletionContentFailure True ContentDeletionFailed: Failed to delete all resource types, 2 remaining: a failed, b failed"
        );
    }
}
