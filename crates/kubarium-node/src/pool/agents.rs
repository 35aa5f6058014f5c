//! The agents' side of the pool: the node watch that makes, pauses and ends agents, node
//! registration and status, node events, and the one timer that renews every Lease.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kubarium_controllers::events::EventType;
use kubarium_controllers::objects::Objects;
use kubarium_controllers::watch::Watched;
use kube::Resource;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::watch;

use super::{Agent, CONCURRENCY, SLOTS, Shared, is_stopped, label, lock};
use crate::node::{
    self, CONTROL_PLANE, LEASE_NAMESPACE, LEASE_RENEW, MANAGED_LABEL, NodeIdentity, RUNTIME_LABEL,
    STATUS_REPORT,
};
use crate::post::{Posted, post};

impl Shared {
    /// Makes or updates the agent of `node`, and has it post its status if it should.
    pub(super) fn on_node(self: &Arc<Self>, node: Node) {
        let Some(name) = node.metadata.name.clone() else {
            return;
        };
        let mut state = lock(&self.state);
        let managed = label(&node, MANAGED_LABEL) == Some("true");
        if !managed && !state.agents.contains_key(&name) {
            return;
        }
        let stopped = is_stopped(&node);
        if !state.agents.contains_key(&name) {
            let taken: HashSet<u32> = state.agents.values().map(|a| a.identity.index).collect();
            let index = node
                .spec
                .as_ref()
                .and_then(|spec| spec.pod_cidr.as_deref())
                .and_then(node::index_of_cidr)
                .unwrap_or_else(|| (0..).find(|i| !taken.contains(i)).unwrap_or(0));
            let (running, _) = watch::channel(!stopped);
            state.agents.insert(
                name.clone(),
                Agent {
                    identity: Arc::new(NodeIdentity::new(&name, index, self.plan.as_ref())),
                    uid: None,
                    running,
                    conditions: Vec::new(),
                    syncing: false,
                    needs_sync: false,
                    last_status: None,
                    posted_runtime: None,
                },
            );
            tracing::info!(node = %name, stopped, "node agent started");
            let waiting: Vec<String> = state
                .pods
                .iter()
                .filter(|(_, entry)| entry.node == name && entry.worker.is_none())
                .map(|(uid, _)| uid.clone())
                .collect();
            for uid in waiting {
                self.spawn_worker(&mut state, &uid);
            }
        }
        let Some(agent) = state.agents.get_mut(&name) else {
            return;
        };
        agent.uid = node.metadata.uid.clone();
        agent.conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let was_running = *agent.running.borrow();
        if was_running == stopped {
            tracing::info!(node = %name, "node agent {}", if stopped { "stopped" } else { "started again" });
            agent.running.send_replace(!stopped);
        }
        if !stopped && (!was_running || agent.last_status.is_none()) && !agent.syncing {
            self.node_event(&name, "Starting", "Starting kubelet.".to_owned());
        }
        if stopped || agent.syncing {
            return;
        }
        let desired = node::ready_status(&self.runtime.ready());
        let ready = agent
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status.as_str());
        let registered = label(&node, RUNTIME_LABEL) == Some(self.runtime.name())
            && node.spec.as_ref().is_some_and(|s| s.pod_cidr.is_some());
        if ready != Some(desired) || !registered || !was_running {
            agent.syncing = true;
            let shared = self.clone();
            tokio::spawn(async move { shared.sync_node(&name, Some(node)).await });
        }
    }

    /// Ends the agent of a deleted node; its pods' workers clean up their containers.
    fn on_node_deleted(&self, name: &str) {
        let mut state = lock(&self.state);
        if state.agents.remove(name).is_some() {
            tracing::info!(node = %name, "node deleted; its agent ends");
        }
        for entry in state.pods.values_mut() {
            if entry.node == name {
                entry.worker = None;
            }
        }
    }

    /// Registers `node`'s labels and pod CIDR if they are missing, then posts its status.
    async fn sync_node(self: Arc<Self>, name: &str, node: Option<Node>) {
        let identity = lock(&self.state)
            .agents
            .get(name)
            .map(|a| a.identity.clone());
        let Some(identity) = identity else { return };
        let _permit = self.requests.acquire().await;
        let api = Objects::<Node>::all(self.client.clone());
        let mut ok = true;
        let mut posted = None;
        if let Some(node) = node {
            let registered = label(&node, RUNTIME_LABEL) == Some(self.runtime.name())
                && node.spec.as_ref().is_some_and(|s| s.pod_cidr.is_some());
            if !registered {
                let mut patch = json!({
                    "metadata": {
                        "labels": node::labels(name, self.runtime.name(), name == CONTROL_PLANE),
                        "annotations": node::annotations(),
                    }
                });
                if node
                    .spec
                    .as_ref()
                    .and_then(|s| s.pod_cidr.as_ref())
                    .is_none()
                {
                    patch["spec"] = json!({
                        "podCIDR": identity.pod_cidr(),
                        "podCIDRs": [identity.pod_cidr()],
                    });
                }
                if let Err(error) = api
                    .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    tracing::debug!(node = name, %error, "could not register the node");
                    ok = false;
                }
            }
        }
        let previous = lock(&self.state)
            .agents
            .get(name)
            .map(|a| a.conditions.clone())
            .unwrap_or_default();
        if ok {
            let images = self.runtime.list_images().await.unwrap_or_else(|error| {
                tracing::debug!(node = name, %error, "could not list the runtime's images");
                Vec::new()
            });
            let report = node::Report {
                identity: &identity,
                capacity: &self.capacity,
                allocatable: &self.allocatable,
                os_image: self.os_image.as_deref(),
                images,
                kubelet_version: &self.kubelet_version,
                runtime_version: self.runtime.version(),
                runtime_ready: self.runtime.ready(),
                boot_id: &self.boot_id,
            };
            let status = node::status(&report, &previous, Timestamp::now());
            posted = Some((report.runtime_version.clone(), report.runtime_ready.is_ok()));
            let patch = Patch::Merge(json!({ "status": status }));
            match api
                .patch_status(name, &PatchParams::default(), &patch)
                .await
            {
                Ok(_) => {
                    for condition in status.conditions.iter().flatten() {
                        let before = previous.iter().find(|c| c.type_ == condition.type_);
                        if before.map(|c| &c.status) != Some(&condition.status) {
                            let reason = node::status_event_reason(condition);
                            let message = format!("Node {name} status is now: {reason}");
                            self.node_event(name, reason, message);
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(node = name, %error, "could not post the node's status");
                    ok = false;
                }
            }
        }
        let mut state = lock(&self.state);
        if let Some(agent) = state.agents.get_mut(name) {
            agent.syncing = false;
            agent.needs_sync = !ok;
            if ok {
                agent.last_status = Some(Instant::now());
                agent.posted_runtime = posted;
            }
        }
    }

    /// Records an event about node `name`, as the kubelet does (its reference's uid is the
    /// node's name).
    fn node_event(&self, name: &str, reason: &str, message: String) {
        let reference = ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(name.to_owned()),
            uid: Some(name.to_owned()),
            ..ObjectReference::default()
        };
        self.recorder
            .on_host(name)
            .record(reference, EventType::Normal, reason, message);
    }

    /// Renews the Lease of node `name`, creating it if it is missing. Takes no permit of
    /// `requests`: the timer bounds its renewals, and they must not wait behind statuses.
    async fn renew(&self, name: &str, node_uid: Option<String>) {
        /// A merge patch of the spec alone, encoded straight from the typed spec.
        #[derive(serde::Serialize)]
        struct SpecOnly<'a> {
            spec: &'a Option<LeaseSpec>,
        }
        let lease = node::lease(name, node_uid.as_deref(), Timestamp::now());
        let patch = Patch::Merge(SpecOnly { spec: &lease.spec });
        let request = kube::core::Request::new(Lease::url_path(&(), Some(LEASE_NAMESPACE))).patch(
            name,
            &PatchParams::default(),
            &patch,
        );
        match post(&self.client, request).await {
            Posted::Stored => {}
            Posted::Gone => {
                let api = Objects::<Lease>::namespaced(self.client.clone(), LEASE_NAMESPACE);
                if let Err(error) = api.create(&PostParams::default(), &lease).await {
                    tracing::debug!(node = name, %error, "could not create the node's lease");
                }
            }
            Posted::Failed(error) => {
                tracing::debug!(node = name, %error, "could not renew the node's lease");
            }
        }
    }

    /// Renews a tenth of the Leases per tick; starts the status re-posts that are due.
    ///
    /// A re-post runs as its own task, as `on_node`'s syncs do: waiting for a status permit, it
    /// must not hold one of the tick's renewal places. The timer waits for a tick's renewals
    /// before the next tick, so with a slow API server renewals slow down rather than pile up;
    /// a round over every node that takes longer than [`ROUND_LATE`] is logged, since the node
    /// controller then sees Leases go stale.
    pub(super) async fn lease_timer(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(LEASE_RENEW / SLOTS as u32);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round = Round::default();
        for tick in 0u64.. {
            ticks.tick().await;
            if tick % SLOTS == 0 {
                round.begin(Instant::now());
            }
            let runtime = Some((self.runtime.version(), self.runtime.ready().is_ok()));
            let due: Vec<(String, Option<String>, bool)> = {
                let mut state = lock(&self.state);
                state
                    .agents
                    .iter_mut()
                    .filter(|(_, a)| {
                        *a.running.borrow() && u64::from(a.identity.index) % SLOTS == tick % SLOTS
                    })
                    .map(|(name, agent)| {
                        let report = !agent.syncing
                            && (agent.needs_sync
                                || agent.posted_runtime != runtime
                                || agent
                                    .last_status
                                    .is_none_or(|at| at.elapsed() >= STATUS_REPORT));
                        if report {
                            agent.syncing = true;
                        }
                        (name.clone(), agent.uid.clone(), report)
                    })
                    .collect()
            };
            for (name, _, report) in &due {
                if *report {
                    let (shared, name) = (self.clone(), name.clone());
                    tokio::spawn(async move { shared.sync_node(&name, None).await });
                }
            }
            futures_util::stream::iter(due)
                .for_each_concurrent(CONCURRENCY, |(name, uid, _)| {
                    let shared = self.clone();
                    async move { shared.renew(&name, uid).await }
                })
                .await;
        }
    }

    /// Follows the managed Nodes until aborted.
    pub(super) async fn watch_nodes(self: Arc<Self>) {
        let stream = Node::watch(self.client.clone(), watcher::Config::default());
        futures_util::pin_mut!(stream);
        let mut listed: Option<HashSet<String>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(node)) => self.on_node(node),
                Ok(watcher::Event::Delete(node)) => {
                    if let Some(name) = node.metadata.name.as_deref() {
                        self.on_node_deleted(name);
                    }
                }
                Ok(watcher::Event::Init) => listed = Some(HashSet::new()),
                Ok(watcher::Event::InitApply(node)) => {
                    if let (Some(listed), Some(name)) =
                        (listed.as_mut(), node.metadata.name.clone())
                    {
                        listed.insert(name);
                    }
                    self.on_node(node);
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(listed) = listed.take() {
                        let gone: Vec<String> = lock(&self.state)
                            .agents
                            .keys()
                            .filter(|name| !listed.contains(*name))
                            .cloned()
                            .collect();
                        for name in gone {
                            self.on_node_deleted(&name);
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "node watch failed; retrying"),
            }
        }
    }
}

/// A round after which renewals count as late: half the node controller's default grace
/// (20 s), so a Lease renewed that late is close to making its node NotReady.
const ROUND_LATE: Duration = LEASE_RENEW.saturating_mul(2);

/// The timing of the Lease timer's rounds (one renewal of every Lease), to say when they fall
/// behind and when they catch up, once each.
#[derive(Debug, Default)]
struct Round {
    started: Option<Instant>,
    late: bool,
}

impl Round {
    /// A round begins at `now`: the one before it ended.
    fn begin(&mut self, now: Instant) {
        let Some(elapsed) = self.started.replace(now).map(|start| now - start) else {
            return;
        };
        match (elapsed > ROUND_LATE, self.late) {
            (true, false) => tracing::warn!(
                round = ?elapsed,
                period = ?LEASE_RENEW,
                "node Lease renewals are falling behind: a round over every node took longer \
                 than twice the renewal period, so nodes may go NotReady (the API server is \
                 overloaded, or there are more nodes than this machine can run)"
            ),
            (false, true) => tracing::info!(round = ?elapsed, "node Lease renewals caught up"),
            _ => {}
        }
        self.late = elapsed > ROUND_LATE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_is_late_when_it_outlasts_twice_the_renewal_period_and_catches_up_after() {
        let start = Instant::now();
        let mut round = Round::default();
        round.begin(start);
        assert!(!round.late, "the first round has nothing before it");
        round.begin(start + LEASE_RENEW);
        assert!(!round.late);
        let late = start + LEASE_RENEW + ROUND_LATE + Duration::from_millis(1);
        round.begin(late);
        assert!(round.late);
        round.begin(late + LEASE_RENEW);
        assert!(!round.late);
    }
}
