//! Which nodes a DaemonSet's pods belong on, as upstream's `NodeShouldRunDaemonPod` decides:
//! the template's node name, node selector and required node affinity must match the node,
//! and the node's `NoSchedule`/`NoExecute` taints must be tolerated — counting the
//! tolerations every daemon pod gets. A pod whose node grew an untolerated `NoSchedule`
//! taint keeps running; one with an untolerated `NoExecute` taint does not.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodTemplateSpec, Taint, Toleration,
};

/// The tolerations upstream gives every daemon pod (and, for host-network pods,
/// `network-unavailable` too): they keep running through node trouble.
pub(crate) fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut all = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        all.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    all.into_iter()
        .map(|(key, effect)| Toleration {
            key: Some(key.to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some(effect.to_owned()),
            ..Toleration::default()
        })
        .collect()
}

/// Adds `toleration`, replacing one with the same key, operator, value and effect.
fn add_toleration(tolerations: &mut Vec<Toleration>, toleration: Toleration) {
    let same = |t: &Toleration| {
        t.key == toleration.key
            && t.operator.as_deref().unwrap_or("Equal")
                == toleration.operator.as_deref().unwrap_or("Equal")
            && t.value == toleration.value
            && t.effect == toleration.effect
    };
    match tolerations.iter_mut().find(|t| same(t)) {
        Some(existing) => *existing = toleration,
        None => tolerations.push(toleration),
    }
}

/// The template every pod of `ds` is made from: its labels name the revision (`hash`) and
/// the generation, and its tolerations include the daemon tolerations.
pub(crate) fn daemon_template(ds: &DaemonSet, hash: &str) -> PodTemplateSpec {
    let mut template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.get_or_insert_with(Default::default);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    if let Some(generation) = template_generation(ds) {
        labels.insert(GENERATION_LABEL.to_owned(), generation.to_owned());
    }
    if !hash.is_empty() {
        labels.insert(crate::history::REVISION_LABEL.to_owned(), hash.to_owned());
    }
    let spec = template.spec.get_or_insert_with(Default::default);
    let mut tolerations = spec.tolerations.take().unwrap_or_default();
    for toleration in daemon_tolerations(spec.host_network == Some(true)) {
        add_toleration(&mut tolerations, toleration);
    }
    spec.tolerations = Some(tolerations);
    template
}

/// The (deprecated, still set) label holding the DaemonSet generation a pod was made at.
pub(crate) const GENERATION_LABEL: &str = "pod-template-generation";
/// The DaemonSet annotation kube-apiserver keeps that generation in.
const GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// The template generation the API server recorded on `ds`, if it did.
pub(crate) fn template_generation(ds: &DaemonSet) -> Option<&str> {
    ds.metadata
        .annotations
        .as_ref()?
        .get(GENERATION_ANNOTATION)
        .map(String::as_str)
}

/// `affinity` with its required node terms replaced by one that selects `node` by name,
/// so the scheduler binds the pod there (preferred terms are kept).
pub(crate) fn pin_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".to_owned(),
                operator: "In".to_owned(),
                values: Some(vec![node.to_owned()]),
            }]),
        }],
    });
    affinity
}

/// The node a daemon pod is on or pinned to.
pub(crate) fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(node);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|term| {
        term.match_fields.iter().flatten().find_map(|f| {
            let values = f.values.as_deref()?;
            (f.key == "metadata.name" && f.operator == "In" && values.len() == 1)
                .then(|| values[0].as_str())
        })
    })
}

fn requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(have), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|v| number(v)),
            ) else {
                return false;
            };
            if requirement.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// Whether `node` matches one of `terms` (an empty term matches nothing).
pub(crate) fn matches_terms(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    terms.iter().any(|term| {
        let expressions = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        if expressions.is_empty() && fields.is_empty() {
            return false;
        }
        expressions
            .iter()
            .all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
            && fields.iter().all(|r| {
                let value = (r.key == "metadata.name")
                    .then_some(node.metadata.name.as_deref())
                    .flatten();
                requirement_matches(r, value)
            })
    })
}

/// Whether `toleration` tolerates `taint`.
pub(crate) fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration
        .effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    let exists = toleration.operator.as_deref() == Some("Exists");
    if key.is_empty() {
        return exists;
    }
    if key != taint.key {
        return false;
    }
    exists
        || toleration.value.as_deref().unwrap_or_default()
            == taint.value.as_deref().unwrap_or_default()
}

/// Whether `node` should run a pod of `ds`, and whether a pod of `ds` already there may
/// keep running.
pub(crate) fn should_run(node: &Node, ds: &DaemonSet) -> (bool, bool) {
    let template = daemon_template(ds, "");
    let Some(spec) = template.spec.as_ref() else {
        return (false, false);
    };
    let node_name = node.metadata.name.as_deref().unwrap_or_default();
    if spec
        .node_name
        .as_deref()
        .is_some_and(|n| !n.is_empty() && n != node_name)
    {
        return (false, false);
    }
    let labels = node.metadata.labels.as_ref();
    let selected = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    let affine = required.is_none_or(|r| matches_terms(&r.node_selector_terms, node));
    if !selected || !affine {
        return (false, false);
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let untolerated = |effects: &[&str]| {
        node.spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter(|t| effects.contains(&t.effect.as_str()))
            .any(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
    };
    if untolerated(&["NoSchedule", "NoExecute"]) {
        return (false, !untolerated(&["NoExecute"]));
    }
    (true, true)
}

#[cfg(test)]
#[path = "nodes_tests.rs"]
mod tests;
