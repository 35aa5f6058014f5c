//! The two rollout strategies as upstream's `rolling.go` and `recreate.go` run them:
//! RollingUpdate scales the new ReplicaSet up within maxSurge and old ones down within
//! maxUnavailable, unhealthy replicas first; Recreate scales every old ReplicaSet to zero,
//! waits for their pods to be gone, then scales the new one up.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::replicasets::{self as rs, max_unavailable, replicas};
use super::sync::{PodInfo, Working};

/// How many replicas the new ReplicaSet may have now (upstream's `NewRSNewReplicas`).
pub(crate) fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let desired = replicas(d);
    if !rs::is_rolling_update(d) {
        return desired;
    }
    let surge = rs::max_surge(d);
    let current = rs::spec_replicas(all.iter().copied());
    let max_total = desired + surge;
    if current >= max_total {
        return rs::rs_replicas(new);
    }
    let up = (max_total - current).min(desired - rs::rs_replicas(new));
    rs::rs_replicas(new) + up
}

impl Working<'_> {
    /// One step of a RollingUpdate (upstream's `rolloutRolling`).
    pub(crate) fn rolling(&mut self) {
        self.new_and_old(true);
        if self.reconcile_new() || self.reconcile_old() {
            self.rollout_status();
            return;
        }
        if super::progress::complete(self.d, &self.status) {
            self.cleanup();
        }
        self.rollout_status();
    }

    /// Scales the new ReplicaSet toward the Deployment's replicas, within maxSurge.
    fn reconcile_new(&mut self) -> bool {
        let Some(i) = self.new else {
            return false;
        };
        let desired = replicas(self.d);
        let current = rs::rs_replicas(&self.rss[i]);
        if current == desired {
            return false;
        }
        if current > desired {
            return self.scale(i, desired, None);
        }
        let count = new_rs_new_replicas(self.d, &self.all(), &self.rss[i]);
        self.scale(i, count, None)
    }

    /// Scales old ReplicaSets down as far as maxUnavailable allows, unhealthy replicas
    /// first.
    fn reconcile_old(&mut self) -> bool {
        let old = self.active_old();
        let old_count = rs::spec_replicas(old.iter().map(|i| &self.rss[*i]));
        if old_count == 0 {
            return false;
        }
        let all_count = rs::spec_replicas(self.all());
        let min_available = replicas(self.d) - max_unavailable(self.d);
        let new_unavailable = self.new.map_or(0, |i| {
            let new = &self.rss[i];
            rs::rs_replicas(new)
                - new
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0)
        });
        let max_scaled_down = all_count - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let cleaned = self.cleanup_unhealthy(max_scaled_down);
        let scaled = self.scale_down_old_for_rolling();
        cleaned + scaled > 0
    }

    fn old_by_creation(&self) -> Vec<usize> {
        let mut old = self.active_old();
        old.sort_by(|a, b| rs::by_creation(&self.rss[*a], &self.rss[*b]));
        old
    }

    /// Removes old replicas that are not available, oldest ReplicaSet first.
    fn cleanup_unhealthy(&mut self, max: i32) -> i32 {
        let mut total = 0;
        for i in self.old_by_creation() {
            if total >= max {
                break;
            }
            let current = rs::rs_replicas(&self.rss[i]);
            let available = self.rss[i]
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0);
            if current == 0 || current == available {
                continue;
            }
            let down = (max - total).min(current - available);
            self.scale(i, current - down, None);
            total += down;
        }
        total
    }

    /// Scales old ReplicaSets down by what is available beyond the minimum.
    fn scale_down_old_for_rolling(&mut self) -> i32 {
        let min_available = replicas(self.d) - max_unavailable(self.d);
        let available = rs::available_replicas(self.all());
        if available <= min_available {
            return 0;
        }
        let wanted = available - min_available;
        let mut total = 0;
        for i in self.old_by_creation() {
            if total >= wanted {
                break;
            }
            let current = rs::rs_replicas(&self.rss[i]);
            if current == 0 {
                continue;
            }
            let down = current.min(wanted - total);
            self.scale(i, current - down, None);
            total += down;
        }
        total
    }

    /// One step of a Recreate rollout (upstream's `rolloutRecreate`).
    pub(crate) fn recreate(&mut self, pods: &[PodInfo]) {
        self.new_and_old(false);
        let mut scaled_down = false;
        for i in self.active_old() {
            scaled_down |= self.scale(i, 0, None);
        }
        if scaled_down || self.old_pods_running(pods) {
            self.rollout_status();
            return;
        }
        if self.new.is_none() {
            self.new_and_old(true);
        }
        if let Some(i) = self.new {
            self.scale(i, replicas(self.d), None);
        }
        if super::progress::complete(self.d, &self.status) {
            self.cleanup();
        }
        self.rollout_status();
    }

    /// Whether any pod of an old ReplicaSet still exists and has not finished.
    fn old_pods_running(&self, pods: &[PodInfo]) -> bool {
        if rs::actual_replicas(self.old().into_iter().map(|i| &self.rss[i])) > 0 {
            return true;
        }
        let new_uid = self.new.and_then(|i| self.rss[i].metadata.uid.as_deref());
        pods.iter()
            .any(|pod| Some(pod.owner.as_str()) != new_uid && !pod.finished)
    }
}

#[cfg(test)]
mod tests {
    use super::super::replicasets::tests::deployment;
    use super::super::replicasets::{DESIRED_REPLICAS, new_replica_set};
    use super::super::sync::{Plan, Step, plan};
    use super::*;
    use jiff::Timestamp;
    use k8s_openapi::api::apps::v1::ReplicaSetStatus;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn now() -> Timestamp {
        Timestamp::from_second(1_000_000).unwrap()
    }

    fn with_image(mut d: Deployment, image: &str) -> Deployment {
        d.spec.as_mut().unwrap().template = PodTemplateSpec {
            metadata: Some(ObjectMeta::default()),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
        };
        d
    }

    /// A ReplicaSet of `d` at `replicas`, all available, created at `at`.
    fn existing(d: &Deployment, replicas: i32, revision: i64, at: i64) -> ReplicaSet {
        let mut rs = new_replica_set(d, replicas);
        rs::set_new_rs_annotations(d, &mut rs, revision, false);
        rs.metadata.uid = Some(format!("uid-{revision}"));
        rs.metadata.creation_timestamp = Some(Time(Timestamp::from_second(at).unwrap()));
        rs.status = Some(ReplicaSetStatus {
            replicas,
            available_replicas: Some(replicas),
            ready_replicas: Some(replicas),
            ..ReplicaSetStatus::default()
        });
        rs
    }

    fn scalings(plan: &Plan) -> Vec<(String, &'static str, i32, i32)> {
        plan.steps
            .iter()
            .filter_map(|step| match step {
                Step::Update {
                    rs,
                    scaled: Some((op, from, to)),
                } => Some((rs.metadata.name.clone().unwrap(), *op, *from, *to)),
                Step::Create(rs) => Some((
                    rs.metadata.name.clone().unwrap(),
                    "up",
                    0,
                    rs::rs_replicas(rs),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_new_deployment_creates_its_replica_set_at_full_size() {
        let d = with_image(deployment(3, "25%", "25%"), "web:1");
        let plan = plan(&d, Vec::new(), &[], now());
        let [Step::Create(rs)] = plan.steps.as_slice() else {
            panic!("expected one create: {plan:?}");
        };
        assert_eq!(rs::rs_replicas(rs), 3);
        assert_eq!(
            rs.metadata.annotations.as_ref().unwrap()[DESIRED_REPLICAS],
            "3"
        );
        assert_eq!(plan.revision.as_deref(), Some("1"));
        assert_eq!(plan.status.unwrap().replicas, Some(0));
    }

    #[test]
    fn a_rolling_update_surges_then_scales_old_down_within_max_unavailable() {
        let v1 = with_image(deployment(4, "1", "1"), "web:1");
        let old = existing(&v1, 4, 1, 100);
        let v2 = with_image(deployment(4, "1", "1"), "web:2");
        let plan = plan(&v2, vec![old.clone()], &[], now());
        // The new ReplicaSet starts at maxSurge; the old one gives up maxUnavailable.
        let steps = scalings(&plan);
        assert_eq!(steps.len(), 2, "{plan:?}");
        assert_eq!((steps[0].2, steps[0].3), (0, 1));
        assert_eq!((steps[1].1, steps[1].2, steps[1].3), ("down", 4, 3));

        // With the new ReplicaSet created but none of its pods available, the old one
        // may lose one replica (maxUnavailable 1).
        let mut new = existing(&v2, 1, 2, 200);
        new.status = Some(ReplicaSetStatus {
            replicas: 1,
            ..ReplicaSetStatus::default()
        });
        let plan = super::super::sync::plan(&v2, vec![old, new], &[], now());
        let old_name = v1.metadata.name.clone().unwrap();
        let steps = scalings(&plan);
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert!(steps[0].0.starts_with(&old_name));
        assert_eq!((steps[0].1, steps[0].2, steps[0].3), ("down", 4, 3));
    }

    #[test]
    fn recreate_scales_old_down_and_waits_for_their_pods() {
        let mut v1 = with_image(deployment(2, "1", "1"), "web:1");
        v1.spec.as_mut().unwrap().strategy.as_mut().unwrap().type_ = Some("Recreate".into());
        let mut v2 = with_image(v1.clone(), "web:2");
        v2.metadata.generation = Some(2);
        let old = existing(&v1, 2, 1, 100);
        let plan1 = plan(&v2, vec![old.clone()], &[], now());
        assert_eq!(scalings(&plan1)[0].1, "down");
        let mut drained = old;
        rs::set_rs_replicas(&mut drained, 0);
        drained.status = Some(ReplicaSetStatus::default());
        let running = [PodInfo {
            owner: "uid-1".into(),
            finished: false,
        }];
        assert!(
            plan(&v2, vec![drained.clone()], &running, now())
                .steps
                .is_empty()
        );
        let plan3 = plan(&v2, vec![drained], &[], now());
        assert!(matches!(plan3.steps.as_slice(), [Step::Create(rs)] if rs::rs_replicas(rs) == 2));
    }

    #[test]
    fn scaling_mid_rollout_is_proportional() {
        let v1 = with_image(deployment(10, "3", "2"), "web:1");
        let v2 = with_image(deployment(10, "3", "2"), "web:2");
        let old = existing(&v1, 8, 1, 100);
        let new = existing(&v2, 5, 2, 200);
        let mut scaled = v2.clone();
        scaled.spec.as_mut().unwrap().replicas = Some(20);
        let plan = plan(&scaled, vec![old, new], &[], now());
        let sizes: Vec<i32> = scalings(&plan).iter().map(|s| s.3).collect();
        // 23 allowed (20 + surge 3) against 13: +10 shared 8:5 → 14 and 9.
        assert_eq!(sizes.iter().sum::<i32>(), 23, "{plan:?}");
        assert_eq!(sizes, [14, 9]);
    }
}
