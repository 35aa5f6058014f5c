//! PodTopologySpread, as upstream's plugin: `DoNotSchedule` constraints filter (skew against
//! the global minimum, `minDomains`, node inclusion policies), `ScheduleAnyway` constraints —
//! or the system default ones — score.
//!
//! Deviation: the system default constraints select the pods of the same controller
//! (ReplicaSet, StatefulSet, …) rather than the union of the selectors of the Services and
//! controllers that select the pod; for pods made by a controller these are the same pods.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::cache::{NodeInfo, PodInfo};
use super::filters::{node_affinity_matches, tolerations};
use super::matching::{selects, untolerated};

/// `ErrReasonConstraintsNotMatch`
pub(crate) const CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// `ErrReasonNodeLabelNotMatch`
pub(crate) const NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

#[derive(Debug, Clone)]
enum Selector {
    Labels(Option<LabelSelector>),
    /// Pods of the same controller (the system default constraints).
    Owner(String),
}

#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    min_domains: Option<i64>,
    key: String,
    selector: Selector,
    honor_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    fn of(c: &TopologySpreadConstraint, pod: &PodInfo) -> Self {
        let mut selector = c.label_selector.clone();
        if let Some(selector) = selector.as_mut() {
            for key in c.match_label_keys.iter().flatten() {
                if let Some(value) = pod.labels().get(key) {
                    selector
                        .match_expressions
                        .get_or_insert_with(Vec::new)
                        .push(LabelSelectorRequirement {
                            key: key.clone(),
                            operator: "In".to_owned(),
                            values: Some(vec![value.clone()]),
                        });
                }
            }
        }
        Self {
            max_skew: i64::from(c.max_skew),
            min_domains: c.min_domains.map(i64::from),
            key: c.topology_key.clone(),
            selector: Selector::Labels(selector),
            honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    fn selects(&self, pod: &PodInfo) -> bool {
        match &self.selector {
            Selector::Labels(s) => selects(s.as_ref(), pod.labels()),
            Selector::Owner(uid) => pod.owner.as_deref() == Some(uid),
        }
    }

    /// Matching, non-terminating pods of `namespace` on `node`.
    fn count(&self, node: &NodeInfo, namespace: &str) -> i64 {
        let n = node
            .pods
            .iter()
            .filter(|p| !p.terminating && p.namespace == namespace && self.selects(p))
            .count();
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// Whether `node` takes part in spreading under the inclusion policies.
    fn includes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        if self.honor_affinity && !node_affinity_matches(pod, node) {
            return false;
        }
        if self.honor_taints
            && node.node.is_some()
            && untolerated(&node.taints, tolerations(pod), &["NoSchedule", "NoExecute"]).is_some()
        {
            return false;
        }
        true
    }
}

fn constraints(pod: &PodInfo, when: &str) -> Vec<Constraint> {
    pod.spec()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == when)
        .map(|c| Constraint::of(c, pod))
        .collect()
}

fn has_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.labels().contains_key(&c.key))
}

/// The filter's counts per constraint: matching pods per topology value.
#[derive(Debug)]
pub(crate) struct FilterState {
    constraints: Vec<Constraint>,
    counts: Vec<HashMap<String, i64>>,
}

impl FilterState {
    /// `None` when the pod has no `DoNotSchedule` constraints.
    pub(crate) fn new(pod: &PodInfo, nodes: &[&NodeInfo]) -> Option<Self> {
        let constraints = constraints(pod, "DoNotSchedule");
        if constraints.is_empty() {
            return None;
        }
        let mut counts = vec![HashMap::new(); constraints.len()];
        for node in nodes {
            if !has_keys(node, &constraints) {
                continue;
            }
            for (c, counts) in constraints.iter().zip(counts.iter_mut()) {
                if !c.includes(pod, node) {
                    continue;
                }
                let value = node.labels().get(&c.key).cloned().unwrap_or_default();
                *counts.entry(value).or_insert(0) += c.count(node, &pod.namespace);
            }
        }
        Some(Self {
            constraints,
            counts,
        })
    }

    pub(crate) fn filter(
        &self,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Result<(), (&'static str, bool)> {
        for (c, counts) in self.constraints.iter().zip(&self.counts) {
            let Some(value) = node.labels().get(&c.key) else {
                return Err((NODE_LABEL_NOT_MATCH, false));
            };
            let domains = i64::try_from(counts.len()).unwrap_or(i64::MAX);
            let min = if c.min_domains.is_some_and(|m| domains < m) {
                0
            } else {
                counts.values().copied().min().unwrap_or(0)
            };
            let own = i64::from(c.selects(pod));
            let matching = counts.get(value).copied().unwrap_or(0);
            if matching + own - min > c.max_skew {
                return Err((CONSTRAINTS_NOT_MATCH, true));
            }
        }
        Ok(())
    }
}

/// The score's precomputed state.
#[derive(Debug)]
pub(crate) struct ScoreState {
    constraints: Vec<Constraint>,
    /// Counts per (constraint, topology value), for keys other than the hostname.
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
    require_all: bool,
}

impl ScoreState {
    /// `None` when there is nothing to spread: no `ScheduleAnyway` constraints and, for a
    /// pod without constraints, no controller to spread by.
    pub(crate) fn new(pod: &PodInfo, all: &[&NodeInfo], feasible: &[&NodeInfo]) -> Option<Self> {
        let declared = pod
            .spec()
            .and_then(|s| s.topology_spread_constraints.as_ref())
            .is_some_and(|c| !c.is_empty());
        let constraints = if declared {
            constraints(pod, "ScheduleAnyway")
        } else {
            let owner = pod.owner.clone()?;
            [(HOSTNAME, 3), (ZONE, 5)]
                .into_iter()
                .map(|(key, max_skew)| Constraint {
                    max_skew,
                    min_domains: None,
                    key: key.to_owned(),
                    selector: Selector::Owner(owner.clone()),
                    honor_affinity: true,
                    honor_taints: false,
                })
                .collect()
        };
        if constraints.is_empty() {
            return None;
        }
        let require_all = declared;
        let mut counts = vec![HashMap::new(); constraints.len()];
        let mut sizes = vec![0usize; constraints.len()];
        let mut scored = 0usize;
        for node in feasible {
            if require_all && !has_keys(node, &constraints) {
                continue;
            }
            scored += 1;
            for (i, c) in constraints.iter().enumerate() {
                if c.key == HOSTNAME {
                    continue;
                }
                if let Some(value) = node.labels().get(&c.key)
                    && !counts[i].contains_key(value)
                {
                    counts[i].insert(value.clone(), 0i64);
                    sizes[i] += 1;
                }
            }
        }
        for node in all {
            if require_all && !has_keys(node, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.key == HOSTNAME || !c.includes(pod, node) {
                    continue;
                }
                if let Some(value) = node.labels().get(&c.key)
                    && let Some(count) = counts[i].get_mut(value)
                {
                    *count += c.count(node, &pod.namespace);
                }
            }
        }
        let weights = constraints
            .iter()
            .zip(&sizes)
            .map(|(c, size)| {
                let size = if c.key == HOSTNAME { scored } else { *size };
                (size as f64 + 2.0).ln()
            })
            .collect();
        Some(Self {
            constraints,
            counts,
            weights,
            require_all,
        })
    }

    /// The raw score (lower is better before normalising), `None` for an ignored node.
    pub(crate) fn score(&self, pod: &PodInfo, node: &NodeInfo) -> Option<i64> {
        if self.require_all && !has_keys(node, &self.constraints) {
            return None;
        }
        let mut score = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = node.labels().get(&c.key) else {
                continue;
            };
            let count = if c.key == HOSTNAME {
                c.count(node, &pod.namespace)
            } else {
                self.counts[i].get(value).copied().unwrap_or(0)
            };
            score += count as f64 * self.weights[i] + (c.max_skew - 1) as f64;
        }
        Some(score.round() as i64)
    }
}

/// Upstream's NormalizeScore: fewer matching pods score higher; ignored nodes score 0.
pub(crate) fn normalize(scores: &mut [Option<i64>]) -> Vec<i64> {
    let valid = || scores.iter().flatten();
    let min = valid().copied().min().unwrap_or(0);
    let max = valid().copied().max().unwrap_or(0).max(0);
    scores
        .iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => 100,
            Some(s) => 100 * (max + min - s) / max,
        })
        .collect()
}
