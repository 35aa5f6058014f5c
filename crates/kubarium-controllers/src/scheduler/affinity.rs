//! InterPodAffinity, as upstream's plugin: required affinity and anti-affinity of the pod,
//! existing pods' required anti-affinity against it (a filter), and preferred terms both
//! ways (a score). Counts are kept per topology pair (`topologyKey`, the node's value).

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{PodAffinityTerm, WeightedPodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::cache::{NodeInfo, PodInfo};
use super::matching::{Labels, selects};

/// Namespace labels by name, for terms with a `namespaceSelector`.
pub(crate) type NamespaceLabels<'a> = &'a dyn Fn(&str) -> Option<Labels>;

/// One affinity term of a pod, ready to match other pods.
#[derive(Debug, Clone)]
pub(crate) struct Term {
    selector: Option<LabelSelector>,
    namespaces: HashSet<String>,
    namespace_selector: Option<LabelSelector>,
    pub(crate) topology_key: String,
    pub(crate) weight: i64,
}

impl Term {
    fn new(term: &PodAffinityTerm, owner: &PodInfo, weight: i64) -> Self {
        // matchLabelKeys / mismatchLabelKeys take their values from the owner's labels.
        let mut selector = term.label_selector.clone();
        if let Some(selector) = selector.as_mut() {
            let labels = owner.labels();
            let mut extra = Vec::new();
            for (keys, operator) in [
                (&term.match_label_keys, "In"),
                (&term.mismatch_label_keys, "NotIn"),
            ] {
                for key in keys.iter().flatten() {
                    if let Some(value) = labels.get(key) {
                        extra.push(LabelSelectorRequirement {
                            key: key.clone(),
                            operator: operator.to_owned(),
                            values: Some(vec![value.clone()]),
                        });
                    }
                }
            }
            if !extra.is_empty() {
                selector
                    .match_expressions
                    .get_or_insert_with(Vec::new)
                    .extend(extra);
            }
        }
        let mut namespaces: HashSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(owner.namespace.clone());
        }
        Self {
            selector,
            namespaces,
            namespace_selector: term.namespace_selector.clone(),
            topology_key: term.topology_key.clone(),
            weight,
        }
    }

    /// Whether the term selects `pod` (its namespace and its labels).
    pub(crate) fn matches(&self, pod: &PodInfo, ns: NamespaceLabels<'_>) -> bool {
        let in_namespace = self.namespaces.contains(&pod.namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                let empty = s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                    && s.match_expressions.as_ref().is_none_or(|m| m.is_empty());
                empty || ns(&pod.namespace).is_some_and(|labels| selects(Some(s), &labels))
            });
        in_namespace && selects(self.selector.as_ref(), pod.labels())
    }
}

/// A pod's affinity terms, by kind.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    pub(crate) required_affinity: Vec<Term>,
    pub(crate) required_anti: Vec<Term>,
    pub(crate) preferred_affinity: Vec<Term>,
    pub(crate) preferred_anti: Vec<Term>,
}

impl Terms {
    pub(crate) fn of(pod: &PodInfo) -> Self {
        let Some(affinity) = pod.spec().and_then(|s| s.affinity.as_ref()) else {
            return Self::default();
        };
        let required = |terms: Option<&Vec<PodAffinityTerm>>| {
            terms
                .into_iter()
                .flatten()
                .map(|t| Term::new(t, pod, 1))
                .collect::<Vec<_>>()
        };
        let preferred = |terms: Option<&Vec<WeightedPodAffinityTerm>>| {
            terms
                .into_iter()
                .flatten()
                .map(|t| Term::new(&t.pod_affinity_term, pod, i64::from(t.weight)))
                .collect::<Vec<_>>()
        };
        let a = affinity.pod_affinity.as_ref();
        let anti = affinity.pod_anti_affinity.as_ref();
        Self {
            required_affinity: required(a.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti: required(anti.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(a.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti: preferred(anti.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
        }
    }
}

type Pair = (String, String);

/// What the filter precomputes once per pod (upstream's PreFilter state).
#[derive(Debug, Default)]
pub(crate) struct FilterState {
    terms: Terms,
    pod_matches_own_affinity: bool,
    existing_anti: HashMap<Pair, i64>,
    affinity: HashMap<Pair, i64>,
    anti: HashMap<Pair, i64>,
}

/// `ErrReasonAffinityRulesNotMatch`
pub(crate) const AFFINITY_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// `ErrReasonAntiAffinityRulesNotMatch`
pub(crate) const ANTI_AFFINITY_NOT_MATCH: &str = "node(s) didn't match pod anti-affinity rules";
/// `ErrReasonExistingAntiAffinityRulesNotMatch`
pub(crate) const EXISTING_ANTI_AFFINITY_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

fn pair(node: &NodeInfo, key: &str) -> Option<Pair> {
    node.labels()
        .get(key)
        .map(|value| (key.to_owned(), value.clone()))
}

impl FilterState {
    /// `None` when the plugin has nothing to check: the pod has no required terms and no
    /// counted pod has affinity terms.
    pub(crate) fn new(
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        any_existing: bool,
        ns: NamespaceLabels<'_>,
    ) -> Option<Self> {
        let terms = Terms::of(pod);
        if terms.required_affinity.is_empty() && terms.required_anti.is_empty() && !any_existing {
            return None;
        }
        let mut state = FilterState {
            pod_matches_own_affinity: terms.required_affinity.iter().all(|t| t.matches(pod, ns)),
            terms,
            ..FilterState::default()
        };
        for node in nodes {
            for existing in &node.pods {
                if existing.uid == pod.uid {
                    continue;
                }
                if any_existing && existing.has_pod_affinity() {
                    for term in Terms::of(existing).required_anti {
                        if term.matches(pod, ns)
                            && let Some(p) = pair(node, &term.topology_key)
                        {
                            *state.existing_anti.entry(p).or_default() += 1;
                        }
                    }
                }
                if !state.terms.required_affinity.is_empty()
                    && state
                        .terms
                        .required_affinity
                        .iter()
                        .all(|t| t.matches(existing, ns))
                {
                    for term in &state.terms.required_affinity {
                        if let Some(p) = pair(node, &term.topology_key) {
                            *state.affinity.entry(p).or_default() += 1;
                        }
                    }
                }
                for term in &state.terms.required_anti {
                    if term.matches(existing, ns)
                        && let Some(p) = pair(node, &term.topology_key)
                    {
                        *state.anti.entry(p).or_default() += 1;
                    }
                }
            }
        }
        Some(state)
    }

    /// The filter: `Err((reason, resolvable))` when the node is rejected.
    pub(crate) fn filter(&self, node: &NodeInfo) -> Result<(), (&'static str, bool)> {
        let labels = node.labels();
        let mut pods_exist = true;
        for term in &self.terms.required_affinity {
            let Some(value) = labels.get(&term.topology_key) else {
                return Err((AFFINITY_NOT_MATCH, false));
            };
            let p = (term.topology_key.clone(), value.clone());
            if self.affinity.get(&p).copied().unwrap_or(0) <= 0 {
                pods_exist = false;
            }
        }
        // The first pod of a group with affinity to itself may go anywhere the topology
        // keys exist, as upstream allows.
        let first_of_group = self.affinity.is_empty() && self.pod_matches_own_affinity;
        if !pods_exist && !first_of_group {
            return Err((AFFINITY_NOT_MATCH, false));
        }
        for term in &self.terms.required_anti {
            if let Some(value) = labels.get(&term.topology_key)
                && self
                    .anti
                    .get(&(term.topology_key.clone(), value.clone()))
                    .is_some_and(|n| *n > 0)
            {
                return Err((ANTI_AFFINITY_NOT_MATCH, true));
            }
        }
        if !self.existing_anti.is_empty() {
            for (key, value) in labels {
                if self
                    .existing_anti
                    .get(&(key.clone(), value.clone()))
                    .is_some_and(|n| *n > 0)
                {
                    return Err((EXISTING_ANTI_AFFINITY_NOT_MATCH, true));
                }
            }
        }
        Ok(())
    }
}

/// The score's precomputed topology weights, `None` when there is nothing to score.
#[derive(Debug, Default)]
pub(crate) struct ScoreState {
    pairs: HashMap<Pair, i64>,
}

impl ScoreState {
    pub(crate) fn new(
        pod: &PodInfo,
        nodes: &[&NodeInfo],
        any_existing: bool,
        ns: NamespaceLabels<'_>,
    ) -> Option<Self> {
        let terms = Terms::of(pod);
        let has_preferred =
            !terms.preferred_affinity.is_empty() || !terms.preferred_anti.is_empty();
        if !has_preferred && !any_existing {
            return None;
        }
        let mut pairs: HashMap<Pair, i64> = HashMap::new();
        let mut add = |node: &NodeInfo, term: &Term, weight: i64| {
            if let Some(p) = pair(node, &term.topology_key) {
                *pairs.entry(p).or_default() += weight;
            }
        };
        for node in nodes {
            for existing in &node.pods {
                for term in &terms.preferred_affinity {
                    if term.matches(existing, ns) {
                        add(node, term, term.weight);
                    }
                }
                for term in &terms.preferred_anti {
                    if term.matches(existing, ns) {
                        add(node, term, -term.weight);
                    }
                }
                if any_existing && existing.has_pod_affinity() {
                    let theirs = Terms::of(existing);
                    // Existing pods' required affinity counts with the hard weight (1).
                    for term in theirs
                        .required_affinity
                        .iter()
                        .chain(&theirs.preferred_affinity)
                    {
                        if term.matches(pod, ns) {
                            add(node, term, term.weight);
                        }
                    }
                    for term in &theirs.preferred_anti {
                        if term.matches(pod, ns) {
                            add(node, term, -term.weight);
                        }
                    }
                }
            }
        }
        Some(Self { pairs })
    }

    pub(crate) fn score(&self, node: &NodeInfo) -> i64 {
        node.labels()
            .iter()
            .filter_map(|(k, v)| self.pairs.get(&(k.clone(), v.clone())))
            .sum()
    }
}
