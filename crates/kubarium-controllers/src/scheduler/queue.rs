//! The scheduling queue, as upstream's: an active queue ordered by priority then arrival
//! (PrioritySort), a backoff queue (1 s doubling to 10 s per failed attempt), and the
//! unschedulable pods, which cluster changes move back (to backoff while theirs lasts) and
//! which are retried anyway after five minutes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

/// Upstream's `podInitialBackoffDuration`.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upstream's `podMaxBackoffDuration`.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's `podMaxInUnschedulablePodsDuration`.
pub(crate) const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    /// Being scheduled or bound.
    InFlight,
}

#[derive(Debug)]
struct Entry {
    pod: Arc<Pod>,
    place: Place,
    seq: u64,
    attempts: u32,
    failed_at: Option<Instant>,
}

/// Pending pods by uid and where each waits.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<(i32, Reverse<u64>, String)>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    /// The uids of the unschedulable pods (so a flush visits only them).
    parked: HashSet<String>,
    seq: u64,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// The backoff after `attempts` failed attempts.
pub(crate) fn backoff(attempts: u32) -> Duration {
    let mut d = INITIAL_BACKOFF;
    for _ in 1..attempts {
        d *= 2;
        if d >= MAX_BACKOFF {
            return MAX_BACKOFF;
        }
    }
    d
}

impl Queue {
    fn push_active(&mut self, uid: &str) {
        self.seq += 1;
        let seq = self.seq;
        self.parked.remove(uid);
        if let Some(e) = self.entries.get_mut(uid) {
            e.place = Place::Active;
            e.seq = seq;
            self.active
                .push((priority(&e.pod), Reverse(seq), uid.to_owned()));
        }
    }

    fn push_backoff(&mut self, uid: &str, until: Instant) {
        self.seq += 1;
        let seq = self.seq;
        self.parked.remove(uid);
        if let Some(e) = self.entries.get_mut(uid) {
            e.place = Place::Backoff(until);
            e.seq = seq;
            self.backoff.push(Reverse((until, seq, uid.to_owned())));
        }
    }

    /// A pending pod was seen: new ones queue as active; an unschedulable one whose spec or
    /// labels changed (`changed`) moves back, as upstream's update handling does.
    pub(crate) fn add_or_update(&mut self, pod: Arc<Pod>, changed: bool, now: Instant) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match self.entries.get_mut(&uid) {
            None => {
                self.entries.insert(
                    uid.clone(),
                    Entry {
                        pod,
                        place: Place::Active,
                        seq: 0,
                        attempts: 0,
                        failed_at: None,
                    },
                );
                self.push_active(&uid);
            }
            Some(e) => {
                e.pod = pod;
                if changed && matches!(e.place, Place::Unschedulable(_)) {
                    self.requeue(&uid, now);
                }
            }
        }
    }

    /// The pod stored for `uid`.
    pub(crate) fn pod(&self, uid: &str) -> Option<&Arc<Pod>> {
        self.entries.get(uid).map(|e| &e.pod)
    }

    /// The next pod to schedule, after moving pods whose backoff ended to the active queue.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<Arc<Pod>> {
        while let Some(Reverse((until, seq, uid))) = self.backoff.peek().cloned() {
            if until > now {
                break;
            }
            self.backoff.pop();
            if self
                .entries
                .get(&uid)
                .is_some_and(|e| e.seq == seq && matches!(e.place, Place::Backoff(_)))
            {
                self.push_active(&uid);
            }
        }
        while let Some((_, Reverse(seq), uid)) = self.active.pop() {
            if let Some(e) = self.entries.get_mut(&uid)
                && e.seq == seq
                && e.place == Place::Active
            {
                e.place = Place::InFlight;
                e.attempts += 1;
                return Some(e.pod.clone());
            }
        }
        None
    }

    /// When the earliest backoff ends.
    pub(crate) fn next_backoff(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((until, _, _))| *until)
    }

    /// The pod fits no node: it waits for a cluster change.
    pub(crate) fn unschedulable(&mut self, uid: &str, now: Instant) {
        if let Some(e) = self.entries.get_mut(uid) {
            e.place = Place::Unschedulable(now);
            e.failed_at = Some(now);
            self.parked.insert(uid.to_owned());
        }
    }

    /// Scheduling or binding failed for another reason: retry after the backoff.
    pub(crate) fn error(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.entries.get_mut(uid) else {
            return;
        };
        e.failed_at = Some(now);
        let until = now + backoff(e.attempts);
        self.push_backoff(uid, until);
    }

    /// Moves an unschedulable pod to the backoff queue while its backoff lasts, else to
    /// the active queue.
    fn requeue(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.entries.get(uid) else {
            return;
        };
        let until = e.failed_at.map(|t| t + backoff(e.attempts));
        match until {
            Some(until) if until > now => self.push_backoff(uid, until),
            _ => self.push_active(uid),
        }
    }

    /// A cluster change that may help: moves the unschedulable pods `may_help` accepts.
    pub(crate) fn flush(&mut self, now: Instant, may_help: impl Fn(&Pod) -> bool) {
        let moved: Vec<String> = self
            .parked
            .iter()
            .filter(|uid| self.entries.get(*uid).is_some_and(|e| may_help(&e.pod)))
            .cloned()
            .collect();
        for uid in moved {
            self.requeue(&uid, now);
        }
    }

    /// Moves pods unschedulable for longer than [`MAX_UNSCHEDULABLE`].
    pub(crate) fn flush_stale(&mut self, now: Instant) {
        let moved: Vec<String> = self
            .parked
            .iter()
            .filter(|uid| {
                self.entries.get(*uid).is_some_and(|e| {
                    matches!(e.place, Place::Unschedulable(since) if now.duration_since(since) >= MAX_UNSCHEDULABLE)
                })
            })
            .cloned()
            .collect();
        for uid in moved {
            self.requeue(&uid, now);
        }
    }

    /// Forgets a pod (bound, deleted, or no longer this scheduler's).
    pub(crate) fn remove(&mut self, uid: &str) {
        self.entries.remove(uid);
        self.parked.remove(uid);
    }

    /// Forgets pods `keep` rejects, except those in flight.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.entries
            .retain(|uid, e| e.place == Place::InFlight || keep(uid));
        let entries = &self.entries;
        self.parked.retain(|uid| entries.contains_key(uid));
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn pod(uid: &str, priority: i32) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                uid: Some(uid.to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                priority: Some(priority),
                ..PodSpec::default()
            }),
            ..Pod::default()
        })
    }

    fn uid(pod: Option<Arc<Pod>>) -> Option<String> {
        pod.and_then(|p| p.metadata.uid.clone())
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        let secs: Vec<u64> = (1..=6).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn priority_then_arrival_and_unschedulable_pods_wait_for_a_change() {
        let now = Instant::now();
        let mut q = Queue::default();
        q.add_or_update(pod("a", 0), false, now);
        q.add_or_update(pod("b", 10), false, now);
        q.add_or_update(pod("c", 0), false, now);
        assert_eq!(uid(q.pop(now)).as_deref(), Some("b"));
        assert_eq!(uid(q.pop(now)).as_deref(), Some("a"));
        q.unschedulable("a", now);
        assert_eq!(uid(q.pop(now)).as_deref(), Some("c"));
        assert_eq!(q.pop(now), None);
        // A change within the backoff moves it to the backoff queue, then it is retried.
        q.flush(now, |_| true);
        assert_eq!(q.pop(now), None);
        assert_eq!(q.next_backoff(), Some(now + Duration::from_secs(1)));
        let later = now + Duration::from_secs(1);
        assert_eq!(uid(q.pop(later)).as_deref(), Some("a"));
        // A second failure backs off for two seconds; stale pods are flushed after 5 min.
        q.unschedulable("a", later);
        q.flush_stale(later + Duration::from_secs(299));
        assert_eq!(q.pop(later + Duration::from_secs(299)), None);
        let stale = later + MAX_UNSCHEDULABLE;
        q.flush_stale(stale);
        assert_eq!(uid(q.pop(stale)).as_deref(), Some("a"));
    }
}
