//! A Deployment's reconcile decision as one pure function, [`plan`]: from the Deployment,
//! its ReplicaSets and its pods to the ReplicaSet writes, revision annotation and status
//! upstream's `syncDeployment` would make, in order. It follows upstream step by step —
//! paused and scaling syncs here, rollouts in `rolling.rs` — working on in-memory copies
//! so that later steps see earlier ones.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};

use super::progress::{self, PROGRESSING};
use super::replicasets::{self as rs, max_surge, replicas};

/// One write to a ReplicaSet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Create the Deployment's new ReplicaSet.
    Create(ReplicaSet),
    /// Replace a ReplicaSet with this copy; `scaled` is `(operation, from, to)` for the
    /// ScalingReplicaSet event when its size changes.
    Update {
        rs: ReplicaSet,
        scaled: Option<(&'static str, i32, i32)>,
    },
    /// Delete an old ReplicaSet beyond the revision history limit.
    Delete(String),
}

/// What one reconcile of a Deployment does.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    /// ReplicaSet writes, in order; a failure stops the rest.
    pub(crate) steps: Vec<Step>,
    /// The revision annotation the Deployment should carry, when it changes.
    pub(crate) revision: Option<String>,
    /// The Deployment's new status, when it changes.
    pub(crate) status: Option<DeploymentStatus>,
    /// When to look again without a change (progress deadline, minReadySeconds).
    pub(crate) recheck: Option<Duration>,
}

/// A pod of one of the Deployment's ReplicaSets, as Recreate needs to know it.
#[derive(Debug, Clone)]
pub(crate) struct PodInfo {
    /// UID of the ReplicaSet controlling it.
    pub(crate) owner: String,
    /// Succeeded or Failed.
    pub(crate) finished: bool,
}

/// The planning state: the Deployment, in-memory copies of its ReplicaSets, its status.
pub(crate) struct Working<'a> {
    pub(crate) d: &'a Deployment,
    pub(crate) rss: Vec<ReplicaSet>,
    pub(crate) status: DeploymentStatus,
    pub(crate) now: Timestamp,
    pub(crate) plan: Plan,
    /// ReplicaSets written in this plan (not cleaned up in the same one).
    touched: HashSet<usize>,
    /// Indices of the active new ReplicaSet, once known.
    pub(crate) new: Option<usize>,
}

/// Plans one reconcile of `d` with the ReplicaSets it claimed and their pods.
pub(crate) fn plan(d: &Deployment, rss: Vec<ReplicaSet>, pods: &[PodInfo], now: Timestamp) -> Plan {
    let mut w = Working {
        d,
        rss,
        status: d.status.clone().unwrap_or_default(),
        now: super::super::replicaset::plan::seconds(now),
        plan: Plan::default(),
        touched: HashSet::new(),
        new: None,
    };
    if d.metadata.deletion_timestamp.is_some() {
        w.new_and_old(false);
        w.deployment_status();
    } else {
        w.check_paused_conditions();
        let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        if paused || w.is_scaling_event() {
            w.sync();
        } else if rs::strategy_type(d) == "Recreate" {
            w.recreate(pods);
        } else {
            w.rolling();
        }
    }
    w.finish()
}

impl Working<'_> {
    /// Indices of the old ReplicaSets (all but the new one).
    pub(crate) fn old(&self) -> Vec<usize> {
        (0..self.rss.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }

    /// Indices of old ReplicaSets with replicas.
    pub(crate) fn active_old(&self) -> Vec<usize> {
        self.old()
            .into_iter()
            .filter(|i| rs::rs_replicas(&self.rss[*i]) > 0)
            .collect()
    }

    /// References to every ReplicaSet, the new one last.
    pub(crate) fn all(&self) -> Vec<&ReplicaSet> {
        let mut all: Vec<&ReplicaSet> = self.old().into_iter().map(|i| &self.rss[i]).collect();
        all.extend(self.new.map(|i| &self.rss[i]));
        all
    }

    fn finish(mut self) -> Plan {
        let current = self.d.status.clone().unwrap_or_default();
        if progress::normalized(&self.status) != progress::normalized(&current) {
            self.plan.status = Some(self.status.clone());
        }
        self.plan.recheck = progress::recheck_after(self.d, &self.status, self.now);
        self.plan
    }

    /// Marks the Progressing condition Unknown while paused and after resuming, so a pause
    /// longer than the deadline does not read as a timeout.
    fn check_paused_conditions(&mut self) {
        if !progress::has_progress_deadline(self.d) {
            return;
        }
        let reason = progress::get(&self.status, PROGRESSING).and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(progress::TIMED_OUT) {
            return;
        }
        let paused_shown = reason.as_deref() == Some(progress::PAUSED);
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let (why, message) = match (paused, paused_shown) {
            (true, false) => (progress::PAUSED, "Deployment is paused"),
            (false, true) => (progress::RESUMED, "Deployment is resumed"),
            _ => return,
        };
        let condition =
            progress::condition(PROGRESSING, "Unknown", why, message.to_owned(), self.now);
        progress::set(&mut self.status, condition);
    }

    /// Finds the new ReplicaSet and brings its annotations and the Deployment's revision
    /// up to date, creating it if `create` (upstream's `getAllReplicaSetsAndSyncRevision`).
    pub(crate) fn new_and_old(&mut self, create: bool) {
        self.new = rs::find_new(self.d, &self.rss);
        let old: Vec<&ReplicaSet> = self.old().into_iter().map(|i| &self.rss[i]).collect();
        let new_revision = rs::max_revision(old) + 1;
        let has_deadline = progress::has_progress_deadline(self.d);
        if let Some(i) = self.new {
            let mut copy = self.rss[i].clone();
            let annotated = rs::set_new_rs_annotations(self.d, &mut copy, new_revision, true);
            let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let spec = copy.spec.get_or_insert_with(Default::default);
            let min_ready_changed = spec.min_ready_seconds.unwrap_or(0) != min_ready.unwrap_or(0);
            if annotated || min_ready_changed {
                spec.min_ready_seconds = min_ready;
                self.update(i, copy, None);
                return;
            }
            let revision = rs::revision(&self.rss[i]).to_string();
            self.set_revision(revision);
            if has_deadline && progress::get(&self.status, PROGRESSING).is_none() {
                let name = self.rss[i].metadata.name.clone().unwrap_or_default();
                let message = format!("Found new replica set {name:?}");
                let condition = progress::condition(
                    PROGRESSING,
                    "True",
                    progress::FOUND_NEW_RS,
                    message,
                    self.now,
                );
                progress::set(&mut self.status, condition);
            }
            return;
        }
        if !create {
            return;
        }
        let mut new_rs = rs::new_replica_set(self.d, 0);
        let count = {
            let mut all = self.all();
            all.push(&new_rs);
            super::rolling::new_rs_new_replicas(self.d, &all, &new_rs)
        };
        rs::set_rs_replicas(&mut new_rs, count);
        rs::set_new_rs_annotations(self.d, &mut new_rs, new_revision, false);
        self.plan.steps.push(Step::Create(new_rs.clone()));
        self.rss.push(new_rs);
        let i = self.rss.len() - 1;
        self.touched.insert(i);
        self.new = Some(i);
        self.set_revision(new_revision.to_string());
        if has_deadline {
            let name = self.rss[i].metadata.name.clone().unwrap_or_default();
            let message = format!("Created new replica set {name:?}");
            let condition = progress::condition(
                PROGRESSING,
                "True",
                progress::NEW_RS_CREATED,
                message,
                self.now,
            );
            progress::set(&mut self.status, condition);
        }
    }

    fn set_revision(&mut self, revision: String) {
        let current = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(rs::REVISION));
        if current != Some(&revision) {
            self.plan.revision = Some(revision);
        }
    }

    /// Records a write of ReplicaSet `i` as `copy`.
    fn update(&mut self, i: usize, copy: ReplicaSet, scaled: Option<(&'static str, i32, i32)>) {
        self.plan.steps.push(Step::Update {
            rs: copy.clone(),
            scaled,
        });
        self.rss[i] = copy;
        self.touched.insert(i);
    }

    /// Scales ReplicaSet `i` to `to` (and refreshes its replicas annotations), naming the
    /// operation `up` or `down` by direction unless `operation` says (upstream's
    /// `scaleReplicaSet`). Whether its size changed.
    pub(crate) fn scale(&mut self, i: usize, to: i32, operation: Option<&'static str>) -> bool {
        let from = rs::rs_replicas(&self.rss[i]);
        let desired = replicas(self.d);
        let max = desired + max_surge(self.d);
        let resize = from != to;
        if !resize && !rs::replicas_annotations_need_update(&self.rss[i], desired, max) {
            return false;
        }
        let mut copy = self.rss[i].clone();
        rs::set_rs_replicas(&mut copy, to);
        rs::set_replicas_annotations(&mut copy, desired, max);
        let op = operation.unwrap_or(if from < to { "up" } else { "down" });
        self.update(i, copy, resize.then_some((op, from, to)));
        resize
    }

    /// Whether the Deployment's replica count changed since its active ReplicaSets were
    /// last sized (their `desired-replicas` annotation).
    fn is_scaling_event(&mut self) -> bool {
        self.new_and_old(false);
        let desired = replicas(self.d);
        self.rss
            .iter()
            .filter(|rs| rs::rs_replicas(rs) > 0)
            .filter_map(rs::desired_replicas_annotation)
            .any(|annotated| annotated != desired)
    }

    /// A paused Deployment or a scaling event: resize, clean up when paused, update the
    /// counts (upstream's `sync`).
    fn sync(&mut self) {
        self.new_and_old(false);
        self.proportional_scale();
        if self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
            self.cleanup();
        }
        self.deployment_status();
    }

    /// Counts and availability only (upstream's `syncDeploymentStatus`).
    pub(crate) fn deployment_status(&mut self) {
        let new = self.new.map(|i| &self.rss[i]);
        self.status = progress::calculate(self.d, &self.status, &self.all(), new, self.now);
    }

    /// Counts, progress and failures (upstream's `syncRolloutStatus`).
    pub(crate) fn rollout_status(&mut self) {
        let new = self.new.map(|i| &self.rss[i]);
        self.status = progress::rollout_status(self.d, &self.status, &self.all(), new, self.now);
    }

    /// Resizes the ReplicaSets to a new replica count: all of it to the only active one,
    /// or spread in proportion to their sizes during a rollout (upstream's `scale`).
    fn proportional_scale(&mut self) {
        let desired = replicas(self.d);
        let active: Vec<usize> = (0..self.rss.len())
            .filter(|i| rs::rs_replicas(&self.rss[*i]) > 0)
            .collect();
        let only = match active.len() {
            1 => Some(active[0]),
            0 => self.new.or_else(|| {
                self.old()
                    .into_iter()
                    .max_by(|a, b| rs::by_creation(&self.rss[*a], &self.rss[*b]))
            }),
            _ => None,
        };
        if let Some(i) = only {
            if rs::rs_replicas(&self.rss[i]) != desired {
                self.scale(i, desired, None);
            }
            return;
        }
        if let Some(i) = self.new
            && saturated(self.d, &self.rss[i])
        {
            for i in self.active_old() {
                self.scale(i, 0, None);
            }
            return;
        }
        if !rs::is_rolling_update(self.d) {
            return;
        }
        let total = rs::spec_replicas(active.iter().map(|i| &self.rss[*i]));
        let allowed = if desired > 0 {
            desired + max_surge(self.d)
        } else {
            0
        };
        let to_add = allowed - total;
        let mut order = active;
        let operation = match to_add.cmp(&0) {
            std::cmp::Ordering::Greater => {
                // Larger first; newer first among equals.
                order.sort_by(|a, b| {
                    let (x, y) = (&self.rss[*a], &self.rss[*b]);
                    rs::rs_replicas(y)
                        .cmp(&rs::rs_replicas(x))
                        .then_with(|| rs::by_creation(y, x))
                });
                Some("up")
            }
            std::cmp::Ordering::Less => {
                // Larger first; older first among equals.
                order.sort_by(|a, b| {
                    let (x, y) = (&self.rss[*a], &self.rss[*b]);
                    rs::rs_replicas(y)
                        .cmp(&rs::rs_replicas(x))
                        .then_with(|| rs::by_creation(x, y))
                });
                Some("down")
            }
            std::cmp::Ordering::Equal => None,
        };
        let mut added = 0;
        let mut sizes = Vec::with_capacity(order.len());
        for i in &order {
            let current = rs::rs_replicas(&self.rss[*i]);
            if to_add == 0 {
                sizes.push(current);
                continue;
            }
            let share = proportion(self.d, &self.rss[*i], to_add, added);
            sizes.push(current + share);
            added += share;
        }
        for (n, i) in order.iter().enumerate() {
            let mut size = sizes[n];
            if n == 0 && to_add != 0 {
                // Leftovers go to the largest.
                size = (size + to_add - added).max(0);
            }
            self.scale(*i, size, operation);
        }
    }

    /// Deletes old ReplicaSets beyond `revisionHistoryLimit`, oldest revision first, that
    /// have no pods and whose latest spec their controller has seen (upstream's
    /// `cleanupDeployment`).
    pub(crate) fn cleanup(&mut self) {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
            return;
        };
        let mut cleanable: Vec<usize> = self
            .old()
            .into_iter()
            .filter(|i| self.rss[*i].metadata.deletion_timestamp.is_none())
            .collect();
        let excess = i32::try_from(cleanable.len()).unwrap_or(i32::MAX) - limit;
        if excess <= 0 {
            return;
        }
        cleanable.sort_by(|a, b| {
            let (x, y) = (&self.rss[*a], &self.rss[*b]);
            rs::revision(x)
                .cmp(&rs::revision(y))
                .then_with(|| rs::by_creation(x, y))
        });
        for i in cleanable
            .into_iter()
            .take(usize::try_from(excess).unwrap_or(0))
        {
            let rs = &self.rss[i];
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            let pods = rs.status.as_ref().map_or(0, |s| s.replicas);
            if self.touched.contains(&i)
                || pods != 0
                || rs::rs_replicas(rs) != 0
                || rs.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            self.plan
                .steps
                .push(Step::Delete(rs.metadata.name.clone().unwrap_or_default()));
        }
    }
}

/// Whether the new ReplicaSet has all the Deployment's replicas, sized for its current
/// count, all available.
fn saturated(d: &Deployment, new: &ReplicaSet) -> bool {
    let desired = replicas(d);
    rs::rs_replicas(new) == desired
        && rs::desired_replicas_annotation(new) == Some(desired)
        && new
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
            == desired
}

/// A ReplicaSet's share of `to_add` (negative to remove), in proportion to its size
/// against the Deployment's size when it was last scaled (upstream's
/// `GetReplicaSetProportion`).
fn proportion(d: &Deployment, set: &ReplicaSet, to_add: i32, added: i32) -> i32 {
    let size = rs::rs_replicas(set);
    if size == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = if replicas(d) == 0 {
        -size
    } else {
        let max = replicas(d) + max_surge(d);
        let before = rs::max_replicas_annotation(set)
            .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0));
        if before == 0 {
            0
        } else {
            let scaled = (f64::from(size) * f64::from(max) / f64::from(before)).round();
            // Bounded by the i32 inputs' ratio; the cast cannot overflow in practice.
            #[allow(clippy::cast_possible_truncation)]
            let scaled = scaled as i32;
            scaled - size
        }
    };
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}
