//! Node health as the node lifecycle controller judges it: a node is heard from when its
//! agent renews its Lease in `kube-node-lease` or posts its Ready condition; one not heard
//! from for the grace period has its conditions set to Unknown, and a zone whose nodes are
//! all down stops evictions. Pure functions, no I/O.

use std::collections::HashMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// How long a node that has never reported is given (kube-controller-manager's
/// `--node-startup-grace-period`).
pub(crate) const STARTUP_GRACE: Duration = Duration::from_secs(60);

/// The conditions the controller sets to Unknown when a node stops reporting
/// (NetworkUnavailable is the network plugin's, not the kubelet's).
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Label that keeps a node out of the zone disruption count.
const EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// Zones of up to this many nodes stop evictions when partially disrupted (upstream's
/// `--large-cluster-size-threshold`).
const LARGE_CLUSTER_THRESHOLD: usize = 50;
/// The share of not-ready nodes that makes a zone partially disrupted
/// (`--unhealthy-zone-threshold`).
const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;

/// The node's condition of `kind`, if reported.
pub(crate) fn condition<'a>(node: &'a Node, kind: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
}

/// The status of the node's Ready condition (`None` if it has none).
pub(crate) fn ready_status(node: &Node) -> Option<&str> {
    condition(node, "Ready").map(|c| c.status.as_str())
}

/// What the controller concludes about a node at `now`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Health {
    /// Heard from recently; look again at `expires`, when the grace runs out.
    Fresh { expires: Timestamp },
    /// Not heard from within the grace, and its conditions already say so.
    Lapsed,
    /// Not heard from within the grace: these are its new conditions (to write through the
    /// `status` subresource).
    Lapsing { conditions: Vec<NodeCondition> },
}

/// When the node was last heard from: its Lease's renewal or its Ready condition's
/// heartbeat, whichever is later; `None` if it never reported.
///
/// Upstream notes the local time at which it *observed* each new heartbeat, to be safe from
/// clock skew between kubelets and the controller; here every agent shares the controller's
/// clock, so the recorded times are used as they are (and survive a controller restart).
pub(crate) fn last_heard(node: &Node, lease: Option<&Lease>) -> Option<Timestamp> {
    let renewed = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let heartbeat = condition(node, "Ready")
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    renewed.max(heartbeat)
}

/// Judges a node at `now` given its Lease, with `grace` for nodes that have reported and
/// [`STARTUP_GRACE`] (from creation) for those that never did. Nothing counts from before
/// `started`, when the controller started: as upstream, whose clock for a node starts when
/// it first observes it, a cluster that was stopped for a while gives its agents the grace
/// to report again before any node is judged.
pub(crate) fn assess(
    node: &Node,
    lease: Option<&Lease>,
    now: Timestamp,
    started: Timestamp,
    grace: Duration,
) -> Health {
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let (since, grace) = match (last_heard(node, lease), ready_status(node)) {
        (Some(heard), _) => (heard, grace),
        (None, Some(_)) => (created.unwrap_or(now), grace),
        (None, None) => (created.unwrap_or(now), STARTUP_GRACE),
    };
    let since = since.max(started);
    let expires = since + SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    if now <= expires {
        return Health::Fresh { expires };
    }
    let mut conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    for kind in KUBELET_CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == kind) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".to_owned();
                c.reason = Some("NodeStatusUnknown".to_owned());
                c.message = Some("Kubelet stopped posting node status.".to_owned());
                c.last_transition_time = Some(Time(now));
            }
            None => conditions.push(NodeCondition {
                type_: kind.to_owned(),
                status: "Unknown".to_owned(),
                reason: Some("NodeStatusNeverUpdated".to_owned()),
                message: Some("Kubelet never posted node status.".to_owned()),
                last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                last_transition_time: Some(Time(now)),
            }),
        }
    }
    // Upstream writes only when Ready itself changes.
    let ready_before = condition(node, "Ready");
    let ready_after = conditions.iter().find(|c| c.type_ == "Ready");
    if ready_before == ready_after {
        Health::Lapsed
    } else {
        Health::Lapsing { conditions }
    }
}

/// A zone's health, as upstream's `ComputeZoneState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZoneState {
    /// Some nodes are Ready and few are not.
    Normal,
    /// At least 55% of more than two nodes are not Ready.
    PartialDisruption,
    /// No node is Ready.
    FullDisruption,
}

/// The zone a node is in: region and zone labels, as upstream's `GetZoneKey` (empty when
/// it has neither).
fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let label = |key: &str| {
        labels
            .and_then(|l| l.get(key))
            .map(String::as_str)
            .unwrap_or("")
    };
    let region = label("topology.kubernetes.io/region");
    let zone = label("topology.kubernetes.io/zone");
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\x00:{zone}")
    }
}

/// What the node controller may do about NoExecute taints, from every zone's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evictions {
    /// Taint failed nodes.
    Proceed,
    /// Add no new NoExecute taints (a small zone partially disrupted: upstream's eviction
    /// rate for it is zero).
    Paused,
    /// Every zone is fully disrupted: the control plane is more likely cut off than every
    /// node dead, so upstream removes the NoExecute taints and evicts nothing.
    Halted,
}

/// Every zone's count of Ready and not-Ready nodes, as upstream's monitor pass gathers
/// them to set each zone's state, and what each node counted as.
#[derive(Debug, Default)]
pub(crate) struct Census {
    /// zone -> (ready, not ready)
    zones: HashMap<String, (usize, usize)>,
    /// node -> (zone, ready)
    counted: HashMap<String, (String, bool)>,
}

/// What `node` counts as in a census (its zone and whether it is Ready); `None` if it is
/// labelled to be left out of disruption counts.
fn tally(node: &Node) -> Option<(String, bool)> {
    let excluded = node
        .metadata
        .labels
        .as_ref()
        .is_some_and(|l| l.contains_key(EXCLUDE_DISRUPTION));
    (!excluded).then(|| (zone_key(node), ready_status(node) == Some("True")))
}

impl Census {
    /// Counts `nodes`.
    pub(crate) fn take<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Self {
        let mut census = Self::default();
        for node in nodes {
            if let (Some(name), Some((zone, ready))) = (node.metadata.name.clone(), tally(node)) {
                census.add(&zone, ready, 1);
                census.counted.insert(name, (zone, ready));
            }
        }
        census
    }

    fn add(&mut self, zone: &str, ready: bool, n: isize) {
        let entry = self.zones.entry(zone.to_owned()).or_default();
        let count = if ready { &mut entry.0 } else { &mut entry.1 };
        *count = count.saturating_add_signed(n);
        if *entry == (0, 0) {
            self.zones.remove(zone);
        }
    }

    /// The eviction policy for `node`, counting it as it is now: the census may have been
    /// taken before its last change.
    pub(crate) fn evictions(&self, node: &Node) -> Evictions {
        let name = node.metadata.name.as_deref().unwrap_or("");
        let now = tally(node);
        let then = self.counted.get(name);
        if now.as_ref() == then {
            return self.policy(&zone_key(node));
        }
        let mut adjusted = Self {
            zones: self.zones.clone(),
            counted: HashMap::new(),
        };
        if let Some((zone, ready)) = then {
            adjusted.add(zone, *ready, -1);
        }
        if let Some((zone, ready)) = &now {
            adjusted.add(zone, *ready, 1);
        }
        adjusted.policy(&zone_key(node))
    }

    /// The eviction policy for a node in `zone`.
    fn policy(&self, zone: &str) -> Evictions {
        let state = |(ready, not_ready): (usize, usize)| {
            if ready == 0 && not_ready > 0 {
                ZoneState::FullDisruption
            } else if not_ready > 2
                && not_ready as f64 / (ready + not_ready) as f64 >= UNHEALTHY_ZONE_THRESHOLD
            {
                ZoneState::PartialDisruption
            } else {
                ZoneState::Normal
            }
        };
        if !self.zones.is_empty()
            && self
                .zones
                .values()
                .all(|c| state(*c) == ZoneState::FullDisruption)
        {
            return Evictions::Halted;
        }
        match self.zones.get(zone).copied() {
            Some(c)
                if state(c) == ZoneState::PartialDisruption
                    && c.0 + c.1 <= LARGE_CLUSTER_THRESHOLD =>
            {
                Evictions::Paused
            }
            _ => Evictions::Proceed,
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::api::core::v1::NodeStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use serde_json::json;

    use super::*;

    const GRACE: Duration = Duration::from_secs(20);

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn node(ready: Option<(&str, i64)>) -> Node {
        let mut node: Node = serde_json::from_value(json!({
            "metadata": {"name": "kubarium-worker", "creationTimestamp": Time(at(0))},
        }))
        .unwrap();
        if let Some((status, heartbeat)) = ready {
            node.status = Some(NodeStatus {
                conditions: Some(vec![
                    NodeCondition {
                        type_: "Ready".to_owned(),
                        status: status.to_owned(),
                        reason: Some("KubeletReady".to_owned()),
                        message: Some("kubelet is posting ready status".to_owned()),
                        last_heartbeat_time: Some(Time(at(heartbeat))),
                        last_transition_time: Some(Time(at(1))),
                    },
                    NodeCondition {
                        type_: "MemoryPressure".to_owned(),
                        status: "False".to_owned(),
                        reason: Some("KubeletHasSufficientMemory".to_owned()),
                        last_heartbeat_time: Some(Time(at(heartbeat))),
                        last_transition_time: Some(Time(at(1))),
                        ..NodeCondition::default()
                    },
                ]),
                ..NodeStatus::default()
            });
        }
        node
    }

    fn lease(renewed: i64) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(at(renewed))),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn a_renewed_lease_keeps_a_node_fresh_until_the_grace_runs_out() {
        let node = node(Some(("True", 10)));
        assert_eq!(
            assess(&node, Some(&lease(40)), at(50), at(0), GRACE),
            Health::Fresh { expires: at(60) }
        );
        // Without the lease, the Ready heartbeat counts.
        assert_eq!(
            assess(&node, None, at(25), at(0), GRACE),
            Health::Fresh { expires: at(30) }
        );
    }

    #[test]
    fn a_lapsed_lease_turns_kubelet_conditions_unknown() {
        let node = node(Some(("True", 10)));
        let Health::Lapsing { conditions } = assess(&node, Some(&lease(40)), at(61), at(0), GRACE)
        else {
            panic!("expected the node to lapse");
        };
        insta::assert_json_snapshot!(conditions, @r#"
        [
          {
            "lastHeartbeatTime": "2027-01-15T08:00:10Z",
            "lastTransitionTime": "2027-01-15T08:01:01Z",
            "message": "Kubelet stopped posting node status.",
            "reason": "NodeStatusUnknown",
            "status": "Unknown",
            "type": "Ready"
          },
          {
            "lastHeartbeatTime": "2027-01-15T08:00:10Z",
            "lastTransitionTime": "2027-01-15T08:01:01Z",
            "message": "Kubelet stopped posting node status.",
            "reason": "NodeStatusUnknown",
            "status": "Unknown",
            "type": "MemoryPressure"
          },
          {
            "lastHeartbeatTime": "2027-01-15T08:00:00Z",
            "lastTransitionTime": "2027-01-15T08:01:01Z",
            "message": "Kubelet never posted node status.",
            "reason": "NodeStatusNeverUpdated",
            "status": "Unknown",
            "type": "DiskPressure"
          },
          {
            "lastHeartbeatTime": "2027-01-15T08:00:00Z",
            "lastTransitionTime": "2027-01-15T08:01:01Z",
            "message": "Kubelet never posted node status.",
            "reason": "NodeStatusNeverUpdated",
            "status": "Unknown",
            "type": "PIDPressure"
          }
        ]
        "#);
        // Once written, nothing more to write.
        let mut written = node.clone();
        written.status.as_mut().unwrap().conditions = Some(conditions);
        assert_eq!(
            assess(&written, Some(&lease(40)), at(90), at(0), GRACE),
            Health::Lapsed
        );
    }

    #[test]
    fn the_grace_counts_from_the_controllers_start_at_the_earliest() {
        let node = node(Some(("True", 10)));
        assert_eq!(
            assess(&node, Some(&lease(40)), at(500), at(490), GRACE),
            Health::Fresh { expires: at(510) }
        );
    }

    #[test]
    fn a_node_that_never_reported_gets_the_startup_grace() {
        let silent = node(None);
        assert_eq!(
            assess(&silent, None, at(59), at(0), GRACE),
            Health::Fresh { expires: at(60) }
        );
        let Health::Lapsing { conditions } = assess(&silent, None, at(61), at(0), GRACE) else {
            panic!("expected the node to lapse");
        };
        assert_eq!(conditions.len(), 4);
        assert_eq!(
            conditions[0].reason.as_deref(),
            Some("NodeStatusNeverUpdated")
        );
    }

    fn with_ready(name: &str, status: &str, zone: Option<&str>) -> Node {
        let mut n = node(Some((status, 0)));
        n.metadata.name = Some(name.to_owned());
        if let Some(zone) = zone {
            n.metadata.labels = Some(
                [("topology.kubernetes.io/zone".to_owned(), zone.to_owned())]
                    .into_iter()
                    .collect(),
            );
        }
        n
    }

    /// The policy for each node of `nodes`, from a census of them.
    fn policies(nodes: &[Node]) -> Vec<Evictions> {
        let census = Census::take(nodes);
        nodes.iter().map(|n| census.evictions(n)).collect()
    }

    #[test]
    fn evictions_halt_when_every_node_is_down_and_pause_in_a_small_disrupted_zone() {
        use Evictions::*;
        let one_down = [
            with_ready("a", "True", None),
            with_ready("b", "Unknown", None),
        ];
        assert_eq!(policies(&one_down), [Proceed, Proceed]);
        let all_down = [
            with_ready("a", "Unknown", None),
            with_ready("b", "False", None),
        ];
        assert_eq!(policies(&all_down), [Halted, Halted]);
        let mostly_down = [
            with_ready("a", "True", None),
            with_ready("b", "Unknown", None),
            with_ready("c", "Unknown", None),
            with_ready("d", "Unknown", None),
        ];
        assert_eq!(policies(&mostly_down), [Paused; 4]);
        // A zone fully down while another is up: evictions proceed there.
        let zones = [
            with_ready("a", "Unknown", Some("a")),
            with_ready("b", "True", Some("b")),
        ];
        assert_eq!(policies(&zones), [Proceed, Proceed]);
    }

    #[test]
    fn a_census_taken_before_a_node_changed_counts_the_node_as_it_is_now() {
        let before = [
            with_ready("a", "True", None),
            with_ready("b", "Unknown", None),
        ];
        let census = Census::take(&before);
        // `a` went down since: every node is down.
        assert_eq!(
            census.evictions(&with_ready("a", "Unknown", None)),
            Evictions::Halted
        );
        // `b` came back: nothing is down.
        assert_eq!(
            census.evictions(&with_ready("b", "True", None)),
            Evictions::Proceed
        );
        // A node the census never saw, down, in a zone of its own beside the up one.
        let new = with_ready("c", "Unknown", Some("c"));
        assert_eq!(census.evictions(&new), Evictions::Proceed);
        // Left out of the counts by its label, `a` no longer holds the zone up.
        let mut excluded = with_ready("a", "True", None);
        excluded
            .metadata
            .labels
            .get_or_insert_default()
            .insert(EXCLUDE_DISRUPTION.to_owned(), String::new());
        assert_eq!(census.evictions(&excluded), Evictions::Halted);
    }
}
