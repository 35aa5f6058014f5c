//! One scheduling cycle, as upstream's `schedulePod`: filter nodes (starting where the last
//! cycle stopped, and stopping once enough are feasible on large clusters), score the
//! feasible ones, pick the best (ties broken at random by reservoir sampling) — or explain
//! why none fits, with the message DefaultPreemption's dry run adds.

use std::hash::{BuildHasher, RandomState};

use super::affinity::NamespaceLabels;
use super::cache::{Cache, NodeInfo, PodInfo};
use super::decision::{self, Decision};
use super::filters::{Filters, Rejection};
use super::scores;

/// Upstream's floor on the number of feasible nodes to find (`minFeasibleNodesToFind`).
const MIN_FEASIBLE: usize = 100;
/// Upstream's floor on the adaptive percentage (`minFeasibleNodesPercentageToFind`).
const MIN_PERCENTAGE: usize = 5;

/// The result of a cycle.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Bind the pod to `node`.
    Fit { node: String, decision: Decision },
    /// No node fits; `message` is the PodScheduled condition's message.
    Unschedulable { message: String, decision: Decision },
}

/// State kept across cycles: where the next search starts, and the tie-break randomness.
#[derive(Debug)]
pub(crate) struct Cycles {
    next_start: usize,
    rng: u64,
}

impl Default for Cycles {
    fn default() -> Self {
        Self::seeded(RandomState::new().hash_one(0x5eed_u64) | 1)
    }
}

/// How many feasible nodes to find before scoring (`numFeasibleNodesToFind` with the
/// adaptive percentage: 50% less one point per 125 nodes, at least 5%).
pub(crate) fn feasible_to_find(nodes: usize) -> usize {
    if nodes < MIN_FEASIBLE {
        return nodes;
    }
    let percentage = 50usize.saturating_sub(nodes / 125).max(MIN_PERCENTAGE);
    (nodes * percentage / 100).max(MIN_FEASIBLE)
}

impl Cycles {
    pub(crate) fn seeded(seed: u64) -> Self {
        Self {
            next_start: 0,
            rng: seed | 1,
        }
    }

    fn random_below(&mut self, n: usize) -> usize {
        // xorshift64*: plenty for tie-breaks.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r % n as u64) as usize
    }

    /// Schedules `pod` against the cache.
    pub(crate) fn schedule(
        &mut self,
        pod: &PodInfo,
        cache: &Cache,
        ns: NamespaceLabels<'_>,
    ) -> Outcome {
        let all = cache.node_list();
        if all.is_empty() {
            let decision = Decision {
                message: Some(decision::NO_NODES.to_owned()),
                ..Decision::default()
            };
            return Outcome::Unschedulable {
                message: decision::NO_NODES.to_owned(),
                decision,
            };
        }
        let any_affinity = cache.with_affinity() > 0;
        let filters = Filters::new(pod, &all, any_affinity, ns);
        let want = feasible_to_find(all.len());
        let start = self.next_start % all.len();
        let mut feasible: Vec<&NodeInfo> = Vec::with_capacity(want);
        let mut rejections: Vec<(&str, Rejection)> = Vec::new();
        let mut processed = 0;
        for i in 0..all.len() {
            let node = all[(start + i) % all.len()];
            processed += 1;
            match filters.run(node) {
                Ok(()) => {
                    feasible.push(node);
                    if feasible.len() >= want {
                        break;
                    }
                }
                Err(rejection) => rejections.push((node.name.as_str(), rejection)),
            }
        }
        self.next_start = (start + processed) % all.len();

        if feasible.is_empty() {
            let reasons: Vec<Vec<String>> =
                rejections.iter().map(|(_, r)| r.reasons.clone()).collect();
            let postfilter = preemption(pod, &filters, cache, &all, &rejections);
            let message = decision::fit_error(all.len(), &reasons, postfilter.as_deref());
            let mut decision = Decision::new(all.len(), processed, 0, &rejections, None);
            decision.message = Some(message.clone());
            return Outcome::Unschedulable { message, decision };
        }
        if feasible.len() == 1 {
            let node = feasible[0].name.clone();
            let decision = Decision::new(all.len(), processed, 1, &rejections, Some(&node));
            return Outcome::Fit { node, decision };
        }
        let scored = scores::score(pod, &feasible, &all, any_affinity, ns);
        // Reservoir sampling over the best total, as upstream's selectHost.
        let mut best = 0;
        let mut ties = 1;
        for i in 1..scored.len() {
            if scored[i].total > scored[best].total {
                best = i;
                ties = 1;
            } else if scored[i].total == scored[best].total {
                ties += 1;
                if self.random_below(ties) == 0 {
                    best = i;
                }
            }
        }
        let node = feasible[best].name.clone();
        let named: Vec<(&str, &scores::NodeScore)> = feasible
            .iter()
            .map(|n| n.name.as_str())
            .zip(scored.iter())
            .collect();
        let decision = Decision::new(
            all.len(),
            processed,
            feasible.len(),
            &rejections,
            Some(&node),
        )
        .with_scores(&named, best);
        Outcome::Fit { node, decision }
    }
}

/// DefaultPreemption's PostFilter message when preemption cannot help; `None` when some
/// node would fit once lower-priority pods were evicted (Kubarium does not preempt, and
/// upstream's message then carries no preemption part either).
fn preemption(
    pod: &PodInfo,
    filters: &Filters<'_>,
    cache: &Cache,
    all: &[&NodeInfo],
    rejections: &[(&str, Rejection)],
) -> Option<String> {
    let never = pod
        .spec()
        .and_then(|s| s.preemption_policy.as_deref())
        .is_some_and(|p| p == "Never");
    if never {
        return Some("preemption: not eligible due to preemptionPolicy=Never.".to_owned());
    }
    let mut reasons = Vec::with_capacity(rejections.len());
    for (name, rejection) in rejections {
        if !rejection.resolvable {
            reasons.push(vec!["Preemption is not helpful for scheduling".to_owned()]);
            continue;
        }
        let Some(node) = cache.node(name) else {
            continue;
        };
        let victims = node
            .pods
            .iter()
            .filter(|p| p.priority < pod.priority)
            .count();
        if victims == 0 {
            reasons.push(vec![
                "No preemption victims found for incoming pod".to_owned(),
            ]);
            continue;
        }
        let mut without = NodeInfo::new(name);
        if let Some(n) = &node.node {
            without.set_node(n.clone());
        }
        for p in node.pods.iter().filter(|p| p.priority >= pod.priority) {
            without.add(p.clone());
        }
        match filters.run(&without) {
            Ok(()) => return None,
            Err(r) => reasons.push(r.reasons),
        }
    }
    Some(decision::preemption(all.len(), &reasons))
}
