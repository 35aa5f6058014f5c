//! The default profile's score plugins with upstream's weights and normalisation, as pure
//! functions of the pod and the feasible nodes' infos. Each plugin's score is 0–100 after
//! normalising; a node's total is the weighted sum. ImageLocality is not scored: hollow
//! and local nodes report no images.

use super::affinity::{self, NamespaceLabels};
use super::cache::{NodeInfo, PodInfo};
use super::matching::{term_matches, tolerates};
use super::spread;

/// The score plugins and their weights in upstream's default profile, in this order.
pub(crate) const PLUGINS: [(&str, i64); 6] = [
    ("NodeResourcesFit", 1),
    ("NodeResourcesBalancedAllocation", 1),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("InterPodAffinity", 2),
    ("PodTopologySpread", 2),
];

const MAX: i64 = 100;

/// One node's normalised score per plugin (in [`PLUGINS`] order) and weighted total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeScore {
    pub(crate) plugins: [i64; 6],
    pub(crate) total: i64,
}

/// Scores every feasible node for `pod`.
pub(crate) fn score(
    pod: &PodInfo,
    feasible: &[&NodeInfo],
    all: &[&NodeInfo],
    any_affinity: bool,
    ns: NamespaceLabels<'_>,
) -> Vec<NodeScore> {
    let fit: Vec<i64> = feasible.iter().map(|n| least_allocated(pod, n)).collect();
    let balanced: Vec<i64> = feasible
        .iter()
        .map(|n| balanced_allocation(pod, n))
        .collect();
    let taints: Vec<i64> = feasible
        .iter()
        .map(|n| prefer_no_schedule(pod, n))
        .collect();
    let taints = default_normalize(taints, true);
    let node_affinity: Vec<i64> = feasible
        .iter()
        .map(|n| preferred_node_affinity(pod, n))
        .collect();
    let node_affinity = default_normalize(node_affinity, false);
    let pod_affinity = match affinity::ScoreState::new(pod, all, any_affinity, ns) {
        Some(state) => min_max_normalize(feasible.iter().map(|n| state.score(n)).collect()),
        None => vec![0; feasible.len()],
    };
    let spreading = match spread::ScoreState::new(pod, all, feasible) {
        Some(state) => {
            let mut raw: Vec<Option<i64>> = feasible.iter().map(|n| state.score(pod, n)).collect();
            spread::normalize(&mut raw)
        }
        None => vec![0; feasible.len()],
    };
    (0..feasible.len())
        .map(|i| {
            let plugins = [
                fit[i],
                balanced[i],
                taints[i],
                node_affinity[i],
                pod_affinity[i],
                spreading[i],
            ];
            let total = plugins
                .iter()
                .zip(PLUGINS)
                .map(|(score, (_, weight))| score * weight)
                .sum();
            NodeScore { plugins, total }
        })
        .collect()
}

/// NodeResourcesFit's LeastAllocated strategy over CPU and memory (weight 1 each), with
/// the non-zero requests of the node's pods and of this pod.
pub(crate) fn least_allocated(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let pairs = [
        (
            node.non_zero_requested.milli_cpu + pod.non_zero.milli_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            node.non_zero_requested.memory + pod.non_zero.memory,
            node.allocatable.memory,
        ),
    ];
    let (mut sum, mut weights) = (0, 0);
    for (requested, capacity) in pairs {
        if capacity == 0 {
            continue;
        }
        sum += if requested > capacity {
            0
        } else {
            (capacity - requested) * MAX / capacity
        };
        weights += 1;
    }
    if weights == 0 { 0 } else { sum / weights }
}

/// NodeResourcesBalancedAllocation: how evenly CPU and memory would be used (1 − the
/// standard deviation of the fractions); skipped (0) for a pod requesting neither.
pub(crate) fn balanced_allocation(pod: &PodInfo, node: &NodeInfo) -> i64 {
    if pod.requests.milli_cpu == 0 && pod.requests.memory == 0 {
        return 0;
    }
    let pairs = [
        (
            node.requested.milli_cpu + pod.requests.milli_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            node.requested.memory + pod.requests.memory,
            node.allocatable.memory,
        ),
    ];
    let fractions: Vec<f64> = pairs
        .iter()
        .filter(|(_, capacity)| *capacity != 0)
        .map(|(requested, capacity)| (*requested as f64 / *capacity as f64).min(1.0))
        .collect();
    let std = match fractions.as_slice() {
        [a, b] => ((a - b) / 2.0).abs(),
        _ => 0.0,
    };
    ((1.0 - std) * MAX as f64) as i64
}

/// TaintToleration's raw score: PreferNoSchedule taints the pod does not tolerate.
pub(crate) fn prefer_no_schedule(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let taints = &node.taints;
    if taints.is_empty() {
        return 0;
    }
    let tolerations: Vec<_> = super::filters::tolerations(pod)
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .collect();
    let n = taints
        .iter()
        .filter(|taint| taint.effect == "PreferNoSchedule")
        .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
        .count();
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// NodeAffinity's raw score: the weights of the preferred terms the node matches.
pub(crate) fn preferred_node_affinity(pod: &PodInfo, node: &NodeInfo) -> i64 {
    pod.spec()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|p| term_matches(&p.preference, &node.name, node.labels()))
        .map(|p| i64::from(p.weight))
        .sum()
}

/// Upstream's `DefaultNormalizeScore`: scaled to the highest; `reverse` makes fewer better.
pub(crate) fn default_normalize(scores: Vec<i64>, reverse: bool) -> Vec<i64> {
    let max = scores.iter().copied().max().unwrap_or(0).max(0);
    if max == 0 {
        return scores
            .into_iter()
            .map(|s| if reverse { MAX } else { s })
            .collect();
    }
    scores
        .into_iter()
        .map(|s| {
            let s = MAX * s / max;
            if reverse { MAX - s } else { s }
        })
        .collect()
}

/// InterPodAffinity's normalisation: min–max scaled to 0–100.
pub(crate) fn min_max_normalize(scores: Vec<i64>) -> Vec<i64> {
    let min = scores.iter().copied().min().unwrap_or(0);
    let max = scores.iter().copied().max().unwrap_or(0);
    let diff = max - min;
    scores
        .into_iter()
        .map(|s| {
            if diff > 0 {
                (MAX as f64 * ((s - min) as f64 / diff as f64)) as i64
            } else {
                0
            }
        })
        .collect()
}
