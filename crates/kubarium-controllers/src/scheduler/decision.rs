//! Why a pod went where it did, or why it is pending: upstream's FitError message, and the
//! decision record the scheduler leaves on each pod as the annotation
//! `scheduler.kubarium.dev/decision` ([`ANNOTATION`]).
//!
//! The record is compact JSON, bounded whatever the cluster's size:
//!
//! ```json
//! {"node":"kubarium-worker","nodes":3,"evaluated":3,"feasible":2,
//!  "rejected":[{"plugin":"TaintToleration","reason":"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }","count":1,"nodes":["kubarium-control-plane"]}],
//!  "scores":[{"node":"kubarium-worker","total":387,"plugins":{"NodeResourcesFit":97,…}},…]}
//! ```
//!
//! - `node`: the node chosen (absent while the pod is unschedulable); `message`: the
//!   PodScheduled condition's message when it is unschedulable.
//! - `nodes`: nodes in the cluster; `evaluated`: nodes the filters ran on (on large clusters
//!   the search stops once enough feasible nodes are found, as upstream's
//!   percentageOfNodesToScore); `feasible`: nodes that passed every filter.
//! - `rejected`: one entry per (plugin, reason) with the number of nodes and at most
//!   [`NODES_PER_REASON`] of their names, most common first.
//! - `scores`: the [`SCORED_NODES`] best feasible nodes, best first (the chosen one first
//!   among equal totals, the others in the order the filters reached them), each plugin's
//!   score (1–100, before weighting; a plugin that gave 0 is left out) and the weighted
//!   `total`; `weights` gives every plugin's weight. With a single feasible node nothing is
//!   scored, as upstream.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::filters::Rejection;
use super::scores::{NodeScore, PLUGINS};

/// The pod annotation holding the decision.
pub const ANNOTATION: &str = "scheduler.kubarium.dev/decision";
/// Node names kept per rejection reason.
pub const NODES_PER_REASON: usize = 10;
/// Feasible nodes kept with their scores.
pub const SCORED_NODES: usize = 5;
/// Upstream truncates event notes to this length.
const EVENT_NOTE_LIMIT: usize = 1024;

/// A scheduling decision, as recorded on the pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The node the pod was bound to; absent when no node fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Nodes in the cluster.
    pub nodes: u32,
    /// Nodes the filters ran on.
    pub evaluated: u32,
    /// Nodes that passed every filter.
    pub feasible: u32,
    /// Rejected nodes, grouped by plugin and reason, most common first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    /// The best feasible nodes with their scores, best first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Scored>,
    /// Each score plugin's weight (present with `scores`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, i64>,
    /// Why the pod is unschedulable (its PodScheduled condition's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Nodes one filter plugin rejected for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejected {
    /// The filter plugin, e.g. `TaintToleration`.
    pub plugin: String,
    /// Upstream's reason, e.g. `Insufficient cpu`.
    pub reason: String,
    /// How many nodes.
    pub count: u32,
    /// Some of their names (at most [`NODES_PER_REASON`]).
    pub nodes: Vec<String>,
}

/// A feasible node's scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scored {
    /// The node.
    pub node: String,
    /// The weighted sum of the plugins' scores.
    pub total: i64,
    /// Each score plugin's normalised score, 1–100; a plugin absent scored 0.
    pub plugins: BTreeMap<String, i64>,
}

impl Decision {
    /// A decision from a cycle's outcome, before scores: `rejections` per rejected node,
    /// `chosen` the node picked (`None` when none fits).
    pub(crate) fn new(
        nodes: usize,
        evaluated: usize,
        feasible: usize,
        rejections: &[(&str, Rejection)],
        chosen: Option<&str>,
    ) -> Self {
        let mut groups: HashMap<(&str, &str), Rejected> = HashMap::new();
        for (node, rejection) in rejections {
            for reason in &rejection.reasons {
                let group = groups
                    .entry((rejection.plugin, reason))
                    .or_insert_with(|| Rejected {
                        plugin: rejection.plugin.to_owned(),
                        reason: reason.clone(),
                        count: 0,
                        nodes: Vec::new(),
                    });
                group.count += 1;
                if group.nodes.len() < NODES_PER_REASON {
                    group.nodes.push((*node).to_owned());
                }
            }
        }
        let mut rejected: Vec<Rejected> = groups.into_values().collect();
        rejected.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
        for group in &mut rejected {
            group.nodes.sort();
        }
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            node: chosen.map(str::to_owned),
            nodes: count(nodes),
            evaluated: count(evaluated),
            feasible: count(feasible),
            rejected,
            scores: Vec::new(),
            weights: BTreeMap::new(),
            message: None,
        }
    }

    /// The decision with the scores of `scored`, the feasible nodes in the order the
    /// filters reached them; `chosen` is the position of the node picked among them.
    pub(crate) fn with_scores(mut self, scored: &[(&str, &NodeScore)], chosen: usize) -> Self {
        // The best few, highest first, in one pass: a node is compared with the last of the
        // best so far. The chosen node has the best total and leads the nodes it tied with
        // (the scheduler picked it at random); other ties keep the filters' order, so no
        // node's name is read but those kept.
        let key = |at: usize| (std::cmp::Reverse(scored[at].1.total), at != chosen, at);
        let mut best: Vec<usize> = Vec::with_capacity(SCORED_NODES + 1);
        for at in 0..scored.len() {
            if best.len() == SCORED_NODES && best.last().is_some_and(|&last| key(at) >= key(last)) {
                continue;
            }
            let place = best.partition_point(|&b| key(b) < key(at));
            best.insert(place, at);
            best.truncate(SCORED_NODES);
        }
        self.scores = best
            .into_iter()
            .map(|at| {
                let (node, score) = scored[at];
                Scored {
                    node: node.to_owned(),
                    total: score.total,
                    plugins: PLUGINS
                        .iter()
                        .zip(score.plugins)
                        .filter(|(_, s)| *s != 0)
                        .map(|((name, _), s)| ((*name).to_owned(), s))
                        .collect(),
                }
            })
            .collect();
        if !self.scores.is_empty() {
            self.weights = PLUGINS.iter().map(|(n, w)| ((*n).to_owned(), *w)).collect();
        }
        self
    }

    /// The annotation's value.
    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses an annotation's value.
    pub fn from_annotation(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }
}

/// Upstream's histogram of reasons: "N reason" per distinct reason, sorted as strings.
fn histogram<'r>(reasons: impl Iterator<Item = &'r str>) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for reason in reasons {
        *counts.entry(reason).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// `FitError.Error()`: "0/N nodes are available: <reasons>." then, when preemption could
/// not help, " <postfilter message>." — hence upstream's closing "..".
pub(crate) fn fit_error(nodes: usize, reasons: &[Vec<String>], postfilter: Option<&str>) -> String {
    let mut message = format!("0/{nodes} nodes are available:");
    let filter = histogram(reasons.iter().flatten().map(String::as_str));
    if !filter.is_empty() {
        message.push_str(&format!(" {filter}."));
    }
    if let Some(post) = postfilter.filter(|p| !p.is_empty()) {
        message.push_str(&format!(" {post}."));
    }
    message
}

/// DefaultPreemption's PostFilter message when no node has preemption candidates.
pub(crate) fn preemption(nodes: usize, reasons: &[Vec<String>]) -> String {
    format!("preemption: {}", fit_error(nodes, reasons, None))
}

/// The message when the cluster has no nodes at all (`ErrNoNodesAvailable`).
pub(crate) const NO_NODES: &str = "no nodes available to schedule pods";

/// An event note as upstream truncates it.
pub(crate) fn event_note(message: &str) -> String {
    if message.len() <= EVENT_NOTE_LIMIT {
        return message.to_owned();
    }
    let suffix = " ...";
    let mut end = EVENT_NOTE_LIMIT - suffix.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &message[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_scored_nodes_are_kept_highest_first_ties_in_the_order_given() {
        let names: Vec<String> = (0..40).map(|i| format!("node-{i:02}")).collect();
        let scores: Vec<NodeScore> = (0..40)
            .map(|i| NodeScore {
                plugins: [0; 6],
                total: (i * 7) % 13,
            })
            .collect();
        let scored: Vec<(&str, &NodeScore)> = names
            .iter()
            .map(String::as_str)
            .zip(scores.iter())
            .collect();
        let best = |scored: &[(&str, &NodeScore)], chosen: usize| -> Vec<(String, i64)> {
            Decision::new(40, 40, 40, &[], Some(scored[chosen].0))
                .with_scores(scored, chosen)
                .scores
                .iter()
                .map(|s| (s.node.clone(), s.total))
                .collect()
        };
        let owned = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
            pairs.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect()
        };
        // Totals 12 (i = 11, 24, 37), then 11 (i = 9, 22, 35); node-11 was picked.
        let expected = owned(&[
            ("node-11", 12),
            ("node-24", 12),
            ("node-37", 12),
            ("node-09", 11),
            ("node-22", 11),
        ]);
        assert_eq!(best(&scored, 11), expected);
        // The node the scheduler picked among the tied ones comes first, even last given.
        let picked = best(&scored, 37);
        let expected = owned(&[
            ("node-37", 12),
            ("node-11", 12),
            ("node-24", 12),
            ("node-09", 11),
            ("node-22", 11),
        ]);
        assert_eq!(picked, expected);
        // Ties keep the order given, whatever it is.
        let reversed: Vec<_> = scored.iter().rev().copied().collect();
        let expected = owned(&[
            ("node-37", 12),
            ("node-24", 12),
            ("node-11", 12),
            ("node-35", 11),
            ("node-22", 11),
        ]);
        assert_eq!(best(&reversed, 2), expected);
    }

    #[test]
    fn a_plugin_that_gave_nothing_is_left_out() {
        let score = NodeScore {
            plugins: [0, 0, 0, 97, 0, 100],
            total: 397,
        };
        let decision =
            Decision::new(2, 2, 2, &[], Some("b")).with_scores(&[("a", &score), ("b", &score)], 1);
        assert_eq!(decision.node.as_deref(), Some("b"));
        let plugins: Vec<(&str, i64)> = decision.scores[0]
            .plugins
            .iter()
            .map(|(name, score)| (name.as_str(), *score))
            .collect();
        assert_eq!(plugins, [(PLUGINS[3].0, 97), (PLUGINS[5].0, 100)]);
        assert_eq!(decision.weights.len(), PLUGINS.len());
    }
}
