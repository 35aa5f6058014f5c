//! A Deployment's ReplicaSets as upstream's `deployment/util` sees them: the pod template
//! hash that names and selects them, which one is new, their revisions, the annotations
//! copied onto them, and `maxSurge`/`maxUnavailable` resolved against the replica count.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::claim;

/// The label that tells a Deployment's ReplicaSets (and their pods) apart.
pub(crate) const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// A ReplicaSet's (and its Deployment's) revision.
pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
/// Earlier revisions a ReplicaSet had before a rollback made it new again.
pub(crate) const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub(crate) const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus maxSurge when the ReplicaSet was last scaled.
pub(crate) const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Longest `revision-history` kept, in characters.
const MAX_REVISION_HISTORY: usize = 2000;

/// Annotations of a Deployment never copied onto its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// The Deployment's `spec.replicas` (default 1).
pub(crate) fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// A ReplicaSet's `spec.replicas`.
pub(crate) fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// Sets a ReplicaSet's `spec.replicas`.
pub(crate) fn set_rs_replicas(rs: &mut ReplicaSet, replicas: i32) {
    rs.spec.get_or_insert_with(ReplicaSetSpec::default).replicas = Some(replicas);
}

/// Sum of `spec.replicas`.
pub(crate) fn spec_replicas<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    rss.into_iter().map(rs_replicas).sum()
}

/// Sum of a status count.
pub(crate) fn status_count<'a>(
    rss: impl IntoIterator<Item = &'a ReplicaSet>,
    count: impl Fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> Option<i32>,
) -> i32 {
    rss.into_iter()
        .filter_map(|rs| rs.status.as_ref())
        .map(|s| count(s).unwrap_or(0))
        .sum()
}

/// Sum of `status.replicas` (pods that exist).
pub(crate) fn actual_replicas<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    status_count(rss, |s| Some(s.replicas))
}

/// Sum of `status.availableReplicas`.
pub(crate) fn available_replicas<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    status_count(rss, |s| s.available_replicas)
}

/// Whether the Deployment rolls with `RollingUpdate` (the default).
pub(crate) fn is_rolling_update(d: &Deployment) -> bool {
    strategy_type(d) == "RollingUpdate"
}

/// `spec.strategy.type`, defaulted.
pub(crate) fn strategy_type(d: &Deployment) -> &str {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
}

/// An int-or-percent against `total`, rounding up or down (upstream's
/// `GetScaledValueFromIntOrPercent`); an unparsable percentage counts as 0.
pub(crate) fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> i32 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let Some(percent) = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) else {
                return 0;
            };
            let product = percent * i64::from(total);
            let scaled = if round_up {
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            i32::try_from(scaled).unwrap_or(0)
        }
    }
}

/// `(maxSurge, maxUnavailable)` resolved against `desired`; if both come to zero,
/// maxUnavailable becomes 1 (upstream's `ResolveFenceposts`).
pub(crate) fn fenceposts(d: &Deployment) -> (i32, i32) {
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let quarter = IntOrString::String("25%".to_owned());
    let surge = rolling.map_or(Some(&quarter), |r| r.max_surge.as_ref());
    let unavailable = rolling.map_or(Some(&quarter), |r| r.max_unavailable.as_ref());
    let desired = replicas(d);
    let surge = surge.map_or(0, |v| scaled_value(v, desired, true));
    let unavailable = unavailable.map_or(0, |v| scaled_value(v, desired, false));
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// maxSurge as a count (0 for Recreate).
pub(crate) fn max_surge(d: &Deployment) -> i32 {
    if is_rolling_update(d) {
        fenceposts(d).0
    } else {
        0
    }
}

/// maxUnavailable as a count, at most the replica count (0 for Recreate or no replicas).
pub(crate) fn max_unavailable(d: &Deployment) -> i32 {
    let desired = replicas(d);
    if !is_rolling_update(d) || desired == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired)
}

/// The hash of a pod template (and the collision count, when there is one) as a short
/// label-safe string, in the alphabet upstream's `rand.SafeEncodeString` uses.
pub(crate) fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u32::from(*byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(&serde_json::to_vec(template).unwrap_or_default());
    if let Some(count) = collision_count {
        feed(&count.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .collect()
}

/// `value` without nulls, empty maps and empty lists, so that absent and empty compare
/// equal as upstream's semantic equality has them.
fn pruned(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let map: serde_json::Map<_, _> = map
                .into_iter()
                .filter_map(|(k, v)| Some((k, pruned(v)?)))
                .collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        Value::Array(items) => (!items.is_empty()).then(|| {
            Value::Array(
                items
                    .into_iter()
                    .map(|v| pruned(v).unwrap_or(Value::Null))
                    .collect(),
            )
        }),
        other => Some(other),
    }
}

/// Whether two pod templates are the same but for the pod-template-hash label.
pub(crate) fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.remove(POD_TEMPLATE_HASH);
        }
        pruned(serde_json::to_value(t).unwrap_or_default())
    };
    strip(a) == strip(b)
}

/// Oldest first, names breaking ties (upstream's `ReplicaSetsByCreationTimestamp`).
pub(crate) fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let at = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    at(a)
        .cmp(&at(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The index of the ReplicaSet whose template is the Deployment's (the oldest, if several).
pub(crate) fn find_new(d: &Deployment, rss: &[ReplicaSet]) -> Option<usize> {
    let template = &d.spec.as_ref()?.template;
    let mut order: Vec<usize> = (0..rss.len()).collect();
    order.sort_by(|a, b| by_creation(&rss[*a], &rss[*b]));
    order.into_iter().find(|i| {
        rss[*i]
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| equal_ignore_hash(t, template))
    })
}

/// A ReplicaSet's revision (0 when it has none or it does not parse).
pub(crate) fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The highest revision among `rss`.
pub(crate) fn max_revision<'a>(rss: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    rss.into_iter().map(revision).max().unwrap_or(0)
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The `desired-replicas` annotation.
pub(crate) fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, DESIRED_REPLICAS)?.parse().ok()
}

/// The `max-replicas` annotation.
pub(crate) fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, MAX_REPLICAS)?.parse().ok()
}

/// Whether `desired-replicas`/`max-replicas` differ from these.
pub(crate) fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS) != Some(max.to_string().as_str())
}

/// Sets `desired-replicas`/`max-replicas`; whether anything changed.
pub(crate) fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(DESIRED_REPLICAS.to_owned(), desired.to_string());
    annotations.insert(MAX_REPLICAS.to_owned(), max.to_string());
    true
}

/// Copies the Deployment's annotations (but the ones never copied) onto the ReplicaSet,
/// sets its revision to `new_revision` if that is higher (keeping the old one in
/// `revision-history`), and for a ReplicaSet about to be created its replicas
/// annotations. Whether anything changed.
pub(crate) fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    for (key, value) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&key.as_str()) || annotations.get(key) == Some(value) {
            continue;
        }
        annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    let old = annotations.get(REVISION).cloned();
    let old_revision = match old.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(r)) => r,
        // Upstream leaves a ReplicaSet with a garbled revision alone.
        Some(Err(_)) => return changed,
    };
    if old_revision < new_revision {
        annotations.insert(REVISION.to_owned(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.to_owned(), old);
            } else {
                let mut revisions: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                while total > MAX_REVISION_HISTORY && !revisions.is_empty() {
                    total -= revisions.remove(0).len() + 1;
                }
                if total <= MAX_REVISION_HISTORY {
                    revisions.push(&old);
                    annotations.insert(REVISION_HISTORY.to_owned(), revisions.join(","));
                }
            }
        }
    }
    let desired = replicas(d);
    if !exists && set_replicas_annotations(rs, desired, desired + max_surge(d)) {
        changed = true;
    }
    changed
}

/// The ReplicaSet a Deployment creates for its current template: named and selected by
/// the template's hash, controlled by the Deployment.
pub(crate) fn new_replica_set(d: &Deployment, replicas: i32) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let collisions = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = template_hash(&spec.template, collisions);
    let mut template = spec.template;
    let labels = template
        .metadata
        .get_or_insert_with(ObjectMeta::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    labels.insert(POD_TEMPLATE_HASH.to_owned(), hash.clone());
    let labels = labels.clone();
    let mut selector = spec.selector;
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.to_owned(), hash.clone());
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}-{hash}",
                d.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: d.metadata.namespace.clone(),
            owner_references: Some(vec![claim::controller_ref(d)]),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};

    pub(crate) fn deployment(replicas: i32, surge: &str, unavailable: &str) -> Deployment {
        let value = |v: &str| match v.parse::<i32>() {
            Ok(n) => IntOrString::Int(n),
            Err(_) => IntOrString::String(v.to_owned()),
        };
        Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("d-uid".into()),
                generation: Some(1),
                ..ObjectMeta::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(value(surge)),
                        max_unavailable: Some(value(unavailable)),
                    }),
                }),
                ..DeploymentSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn percentages_round_as_upstream() {
        assert_eq!(fenceposts(&deployment(10, "25%", "25%")), (3, 2));
        assert_eq!(fenceposts(&deployment(1, "25%", "25%")), (1, 0));
        assert_eq!(fenceposts(&deployment(3, "0", "10%")), (0, 1));
        assert_eq!(max_unavailable(&deployment(2, "0", "5")), 2);
        assert_eq!(max_surge(&deployment(4, "50%", "0")), 2);
    }

    #[test]
    fn hash_is_stable_and_changes_with_collisions() {
        let template = PodTemplateSpec::default();
        let hash = template_hash(&template, None);
        assert_eq!(hash, template_hash(&template, None));
        assert_ne!(hash, template_hash(&template, Some(1)));
        assert!(
            hash.chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
    }

    #[test]
    fn a_rollback_keeps_the_old_revision_in_history() {
        let d = deployment(3, "1", "1");
        let mut rs = new_replica_set(&d, 3);
        assert!(set_new_rs_annotations(&d, &mut rs, 1, false));
        assert_eq!(revision(&rs), 1);
        assert!(set_new_rs_annotations(&d, &mut rs, 3, true));
        assert!(!set_new_rs_annotations(&d, &mut rs, 3, true));
        let annotations = rs.metadata.annotations.unwrap();
        assert_eq!(annotations[REVISION], "3");
        assert_eq!(annotations[REVISION_HISTORY], "1");
        assert_eq!(annotations[DESIRED_REPLICAS], "3");
        assert_eq!(annotations[MAX_REPLICAS], "4");
    }

    #[test]
    fn the_new_replica_set_matches_the_template_but_the_hash() {
        let d = deployment(3, "1", "1");
        let rs = new_replica_set(&d, 3);
        assert!(rs.metadata.name.as_deref().unwrap().starts_with("web-"));
        assert_eq!(find_new(&d, std::slice::from_ref(&rs)), Some(0));
    }
}
