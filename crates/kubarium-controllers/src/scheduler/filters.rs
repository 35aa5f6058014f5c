//! The default profile's filter plugins, in upstream's order, as pure functions of the pod
//! and one node's info. The first plugin that rejects a node decides its reason (a plugin
//! may give several, as NodeResourcesFit does); the reasons are upstream's texts.

use k8s_openapi::api::core::v1::Taint;

use super::affinity::{self, NamespaceLabels};
use super::cache::{NodeInfo, PodInfo};
use super::matching::{term_matches, tolerates, untolerated};
use super::spread;

/// `ErrReasonUnschedulable`
pub(crate) const UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// NodeName's `ErrReason`
pub(crate) const NODE_NAME: &str = "node(s) didn't match the requested node name";
/// NodeAffinity's `ErrReasonPod`
pub(crate) const NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
/// NodePorts' `ErrReason`
pub(crate) const NODE_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";

/// Why one plugin rejected a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) plugin: &'static str,
    pub(crate) reasons: Vec<String>,
    /// Whether preemption could help (upstream's `Unschedulable`, as opposed to
    /// `UnschedulableAndUnresolvable`).
    pub(crate) resolvable: bool,
}

impl Rejection {
    fn new(plugin: &'static str, reason: impl Into<String>, resolvable: bool) -> Self {
        Self {
            plugin,
            reasons: vec![reason.into()],
            resolvable,
        }
    }
}

/// What the filters precompute once per pod and scheduling cycle.
pub(crate) struct Filters<'a> {
    pub(crate) pod: &'a PodInfo,
    affinity: Option<affinity::FilterState>,
    spread: Option<spread::FilterState>,
}

impl<'a> Filters<'a> {
    pub(crate) fn new(
        pod: &'a PodInfo,
        nodes: &[&NodeInfo],
        any_affinity: bool,
        ns: NamespaceLabels<'_>,
    ) -> Self {
        Self {
            pod,
            affinity: affinity::FilterState::new(pod, nodes, any_affinity, ns),
            spread: spread::FilterState::new(pod, nodes),
        }
    }

    /// Runs every filter on `node`, stopping at the first rejection.
    pub(crate) fn run(&self, node: &NodeInfo) -> Result<(), Rejection> {
        let pod = self.pod;
        node_unschedulable(pod, node)?;
        node_name(pod, node)?;
        taint_toleration(pod, node)?;
        node_affinity(pod, node)?;
        node_ports(pod, node)?;
        node_resources_fit(pod, node)?;
        if let Some(spread) = &self.spread {
            spread
                .filter(pod, node)
                .map_err(|(r, ok)| Rejection::new("PodTopologySpread", r, ok))?;
        }
        if let Some(affinity) = &self.affinity {
            affinity
                .filter(node)
                .map_err(|(r, ok)| Rejection::new("InterPodAffinity", r, ok))?;
        }
        Ok(())
    }
}

/// The pod's tolerations.
pub(crate) fn tolerations(pod: &PodInfo) -> &[k8s_openapi::api::core::v1::Toleration] {
    pod.spec()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

/// NodeUnschedulable: a cordoned node takes only pods tolerating its unschedulable taint.
pub(crate) fn node_unschedulable(pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
    if !node.unschedulable {
        return Ok(());
    }
    let taint = Taint {
        key: "node.kubernetes.io/unschedulable".to_owned(),
        effect: "NoSchedule".to_owned(),
        ..Taint::default()
    };
    if !tolerations(pod).iter().any(|t| tolerates(t, &taint)) {
        return Err(Rejection::new("NodeUnschedulable", UNSCHEDULABLE, false));
    }
    Ok(())
}

/// NodeName: a pod naming a node fits only there.
pub(crate) fn node_name(pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
    if !pod.node.is_empty() && pod.node != node.name {
        return Err(Rejection::new("NodeName", NODE_NAME, false));
    }
    Ok(())
}

/// TaintToleration: every NoSchedule and NoExecute taint must be tolerated.
pub(crate) fn taint_toleration(pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
    match untolerated(&node.taints, tolerations(pod), &["NoSchedule", "NoExecute"]) {
        Some(taint) => Err(Rejection::new(
            "TaintToleration",
            format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or_default()
            ),
            false,
        )),
        None => Ok(()),
    }
}

/// Whether the node satisfies the pod's nodeSelector and required node affinity.
pub(crate) fn node_affinity_matches(pod: &PodInfo, node: &NodeInfo) -> bool {
    let Some(spec) = pod.spec() else {
        return true;
    };
    // The node's labels are read only for a pod that asks something of them.
    if let Some(selector) = spec.node_selector.as_ref().filter(|s| !s.is_empty()) {
        let labels = node.labels();
        if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        Some(selector) => selector
            .node_selector_terms
            .iter()
            .any(|term| term_matches(term, &node.name, node.labels())),
        None => true,
    }
}

/// NodeAffinity: nodeSelector and requiredDuringScheduling terms.
pub(crate) fn node_affinity(pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
    if !node_affinity_matches(pod, node) {
        return Err(Rejection::new("NodeAffinity", NODE_AFFINITY, false));
    }
    Ok(())
}

/// NodePorts: the pod's host ports must be free on the node.
pub(crate) fn node_ports(pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
    let taken = pod
        .ports
        .iter()
        .any(|wanted| node.ports.iter().any(|used| used.conflicts(wanted)));
    if taken {
        return Err(Rejection::new("NodePorts", NODE_PORTS, true));
    }
    Ok(())
}

/// NodeResourcesFit: the pod count and every requested resource against allocatable
/// minus what the node's pods request; every shortage is a reason.
pub(crate) fn node_resources_fit(pod: &PodInfo, node: &NodeInfo) -> Result<(), Rejection> {
    let mut reasons = Vec::new();
    let (want, free, used) = (&pod.requests, &node.allocatable, &node.requested);
    if i64::try_from(node.pods.len()).unwrap_or(i64::MAX) + 1 > free.pods {
        reasons.push("Too many pods".to_owned());
    }
    if !want.is_zero() {
        if want.milli_cpu > 0 && want.milli_cpu > free.milli_cpu - used.milli_cpu {
            reasons.push("Insufficient cpu".to_owned());
        }
        if want.memory > 0 && want.memory > free.memory - used.memory {
            reasons.push("Insufficient memory".to_owned());
        }
        if want.ephemeral_storage > 0
            && want.ephemeral_storage > free.ephemeral_storage - used.ephemeral_storage
        {
            reasons.push("Insufficient ephemeral-storage".to_owned());
        }
        for (name, amount) in &want.scalar {
            let have = free.scalar.get(name).copied().unwrap_or(0)
                - used.scalar.get(name).copied().unwrap_or(0);
            if *amount > 0 && *amount > have {
                reasons.push(format!("Insufficient {name}"));
            }
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Rejection {
            plugin: "NodeResourcesFit",
            reasons,
            resolvable: true,
        })
    }
}
