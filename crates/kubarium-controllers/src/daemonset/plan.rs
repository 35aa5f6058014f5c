//! What one sync of a DaemonSet does, decided from its nodes and pods alone (no cluster),
//! in the order of upstream's `manage`, `rollingUpdate` and `updateDaemonSetStatus`: a pod
//! on every node that should run one, none elsewhere, one per node (the oldest kept), ended
//! pods replaced; then old pods replaced within `maxUnavailable` (deleting first) or
//! `maxSurge` (creating first); then the status.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::nodes::{GENERATION_LABEL, should_run, target_node, template_generation};
use crate::history::REVISION_LABEL;
use crate::podstate::{available, phase, ready, terminating, until_available};

/// The changes of one sync.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// Nodes to create a pod on.
    pub(crate) create_on: Vec<String>,
    /// Pods to delete.
    pub(crate) delete: Vec<String>,
    /// Failed pods found, as (pod, node), each worth a warning.
    pub(crate) failed: Vec<(String, String)>,
    /// When to look again if only time will change things.
    pub(crate) requeue: Option<Duration>,
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn label<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

/// Whether `pod` is at the DaemonSet's current template (by revision hash or generation).
pub(crate) fn updated(ds: &DaemonSet, pod: &Pod, hash: &str) -> bool {
    let generation = template_generation(ds);
    (generation.is_some() && label(pod, GENERATION_LABEL) == generation)
        || (!hash.is_empty() && label(pod, REVISION_LABEL) == Some(hash))
}

fn min_ready(ds: &DaemonSet) -> i32 {
    ds.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// Oldest first; at the same age, a pod further along (Running before Pending) first.
fn by_age(pods: &mut [&Pod]) {
    let rank = |p: &Pod| match phase(p) {
        "Running" => 0,
        "Pending" => 1,
        _ => 2,
    };
    pods.sort_by(|a, b| {
        let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(a)
            .cmp(&created(b))
            .then(rank(a).cmp(&rank(b)))
            .then(name(a).cmp(&name(b)))
    });
}

/// The daemon pods by the node they are on or pinned to, leaving out ended pods being
/// deleted.
pub(crate) fn pods_by_node<'a>(pods: &[&'a Pod]) -> BTreeMap<String, Vec<&'a Pod>> {
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        let ended = matches!(phase(pod), "Succeeded" | "Failed");
        if ended && terminating(pod) {
            continue;
        }
        if let Some(node) = target_node(pod) {
            by_node.entry(node.to_owned()).or_default().push(pod);
        }
    }
    by_node
}

fn allows_surge(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let rolling = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let scaled = |value: Option<&IntOrString>, default: i32| match value {
        None => default,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            let percent: i32 = s.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = (i64::from(percent) * i64::from(desired) + 99) / 100;
            i32::try_from(scaled).unwrap_or(i32::MAX)
        }
    };
    let surge = scaled(rolling.and_then(|r| r.max_surge.as_ref()), 0);
    let unavailable = scaled(rolling.and_then(|r| r.max_unavailable.as_ref()), 1);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// The steps of one sync of `ds` over `nodes`, its pods being `pods`, its current
/// revision `hash`.
pub(crate) fn plan(
    ds: &DaemonSet,
    nodes: &[&Node],
    pods: &[&Pod],
    hash: &str,
    now: jiff::Timestamp,
) -> Plan {
    let mut plan = Plan::default();
    if ds.metadata.deletion_timestamp.is_some() {
        return plan;
    }
    let by_node = pods_by_node(pods);
    let (max_surge, max_unavailable) = allows_surge(ds, desired(ds, nodes));
    let surge = max_surge > 0;
    for node in nodes {
        let node_name = node.metadata.name.clone().unwrap_or_default();
        let (run, keep) = should_run(node, ds);
        let on_node = by_node.get(&node_name).cloned().unwrap_or_default();
        if run && on_node.is_empty() {
            plan.create_on.push(node_name);
        } else if keep {
            let mut running = Vec::new();
            for pod in on_node.into_iter().filter(|p| !terminating(p)) {
                match phase(pod) {
                    "Failed" => {
                        plan.failed.push((name(pod), node_name.clone()));
                        plan.delete.push(name(pod));
                    }
                    "Succeeded" => plan.delete.push(name(pod)),
                    _ => running.push(pod),
                }
            }
            by_age(&mut running);
            if !surge {
                plan.delete.extend(running.iter().skip(1).map(|p| name(p)));
                continue;
            }
            let (mut newest, mut oldest) = (None, None);
            for pod in running {
                let slot = if updated(ds, pod, hash) {
                    &mut newest
                } else {
                    &mut oldest
                };
                match slot {
                    None => *slot = Some(pod),
                    Some(_) => plan.delete.push(name(pod)),
                }
            }
            if let (Some(new), Some(old)) = (newest, oldest)
                && (!ready(old) || (ready(new) && min_ready(ds) == 0))
            {
                plan.delete.push(name(old));
            }
        } else {
            plan.delete
                .extend(on_node.into_iter().filter(|p| !terminating(p)).map(name));
        }
    }
    // Pods pinned to a node that is gone and never bound: nobody else removes them.
    let known: HashSet<&str> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    for pod in pods {
        let unbound = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_none_or(str::is_empty);
        if unbound && !terminating(pod) && target_node(pod).is_some_and(|n| !known.contains(n)) {
            plan.delete.push(name(pod));
        }
    }
    if !plan.create_on.is_empty() || !plan.delete.is_empty() {
        return plan;
    }
    let strategy = ds
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate");
    if strategy == "RollingUpdate" {
        rolling_update(
            ds,
            &by_node,
            hash,
            (max_surge, max_unavailable),
            now,
            &mut plan,
        );
    }
    plan
}

/// The newest and the old pod on a node, or `None` if it has two of either (the manage
/// pass cleans that up).
fn new_and_old<'a>(
    ds: &DaemonSet,
    pods: &[&'a Pod],
    hash: &str,
) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().filter(|p| !terminating(p)) {
        let slot = if updated(ds, pod, hash) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(*pod);
    }
    Some((new, old))
}

fn rolling_update(
    ds: &DaemonSet,
    by_node: &BTreeMap<String, Vec<&Pod>>,
    hash: &str,
    (max_surge, max_unavailable): (i32, i32),
    now: jiff::Timestamp,
    plan: &mut Plan,
) {
    let min_ready = min_ready(ds);
    let is_available = |pod: &Pod| available(pod, min_ready, now);
    let wait = |pod: &Pod, plan: &mut Plan| {
        if let Some(left) = until_available(pod, min_ready, now) {
            plan.requeue = Some(plan.requeue.map_or(left, |r| r.min(left)));
        }
    };
    if max_surge == 0 {
        let mut unavailable = 0;
        let mut replace = Vec::new();
        let mut candidates = Vec::new();
        for pods in by_node.values() {
            let Some(found) = new_and_old(ds, pods, hash) else {
                unavailable += 1;
                continue;
            };
            match found {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !is_available(new) {
                        wait(new, plan);
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !is_available(old) {
                        replace.push(name(old));
                    } else if unavailable < max_unavailable {
                        candidates.push(name(old));
                    }
                }
            }
        }
        let room = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
        plan.delete.extend(replace);
        plan.delete.extend(candidates.into_iter().take(room));
        return;
    }
    let mut surging = 0;
    for (node, pods) in by_node {
        let Some(found) = new_and_old(ds, pods, hash) else {
            surging += 1;
            continue;
        };
        match found {
            (_, None) => {}
            (None, Some(old)) => {
                if !is_available(old) {
                    plan.create_on.push(node.clone());
                } else if surging < max_surge {
                    surging += 1;
                    plan.create_on.push(node.clone());
                }
            }
            (Some(new), Some(old)) => {
                if is_available(new) {
                    plan.delete.push(name(old));
                } else {
                    wait(new, plan);
                    surging += 1;
                }
            }
        }
    }
}

/// How many nodes should run a pod of `ds`.
pub(crate) fn desired(ds: &DaemonSet, nodes: &[&Node]) -> i32 {
    let count = nodes.iter().filter(|n| should_run(n, ds).0).count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// The status of `ds`, as upstream's `updateDaemonSetStatus` counts it.
pub(crate) fn status(
    ds: &DaemonSet,
    nodes: &[&Node],
    pods: &[&Pod],
    hash: &str,
    collision_count: i32,
    now: jiff::Timestamp,
) -> DaemonSetStatus {
    let by_node = pods_by_node(pods);
    let mut status = DaemonSetStatus {
        observed_generation: ds.metadata.generation,
        collision_count: Some(collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        ..DaemonSetStatus::default()
    };
    let (mut ready_count, mut available_count, mut updated_count) = (0, 0, 0);
    for node in nodes {
        let (run, _) = should_run(node, ds);
        let on_node = node
            .metadata
            .name
            .as_ref()
            .and_then(|n| by_node.get(n))
            .cloned()
            .unwrap_or_default();
        if !run {
            if !on_node.is_empty() {
                status.number_misscheduled += 1;
            }
            continue;
        }
        status.desired_number_scheduled += 1;
        let mut on_node = on_node;
        by_age(&mut on_node);
        let Some(pod) = on_node.first() else {
            continue;
        };
        status.current_number_scheduled += 1;
        if ready(pod) {
            ready_count += 1;
            if available(pod, min_ready(ds), now) {
                available_count += 1;
            }
        }
        if updated(ds, pod, hash) {
            updated_count += 1;
        }
    }
    status.number_ready = ready_count;
    status.number_available = Some(available_count);
    status.updated_number_scheduled = Some(updated_count);
    status.number_unavailable = Some(status.desired_number_scheduled - available_count);
    status
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
