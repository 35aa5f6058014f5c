//! What a ReplicaSet is waiting to see after it created or deleted pods, so a cache that
//! is behind its own writes does not make it create or delete them twice (upstream's
//! `UIDTrackingControllerExpectations`, tracking names of created pods and UIDs of deleted
//! ones instead of counts, since kube-runtime's streams do not say add from update).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long expectations hold before the controller stops waiting for them (upstream's
/// `ExpectationsTimeout`): a watch event may be lost.
const TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Pending {
    /// Pods created whose creation the cache has not shown yet.
    creates: HashSet<String>,
    /// Pods seen by the watch while the expectations were held (their creation may be
    /// observed before its response arrives).
    seen: HashSet<String>,
    /// UIDs of pods deleted whose deletion the cache has not shown yet.
    deletes: HashSet<String>,
    since: Instant,
}

/// Expectations of every ReplicaSet, by `namespace/name`.
#[derive(Debug, Default)]
pub(crate) struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Pending>) -> T) -> T {
        f(&mut self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Starts expecting for `key` (before the writes, so that their events are seen).
    pub(crate) fn begin(&self, key: &str) {
        self.with(|pending| {
            pending.insert(
                key.to_owned(),
                Pending {
                    creates: HashSet::new(),
                    seen: HashSet::new(),
                    deletes: HashSet::new(),
                    since: Instant::now(),
                },
            );
        });
    }

    /// `key` created pod `name`.
    pub(crate) fn created(&self, key: &str, name: String) {
        self.with(|pending| {
            if let Some(p) = pending.get_mut(key)
                && !p.seen.contains(&name)
            {
                p.creates.insert(name);
            }
        });
    }

    /// `key` deleted the pod with `uid`.
    pub(crate) fn deleted(&self, key: &str, uid: String) {
        self.with(|pending| {
            if let Some(p) = pending.get_mut(key) {
                p.deletes.insert(uid);
            }
        });
    }

    /// Deleting the pod with `uid` failed: its deletion will not be seen.
    pub(crate) fn delete_failed(&self, key: &str, uid: &str) {
        self.with(|pending| {
            if let Some(p) = pending.get_mut(key) {
                p.deletes.remove(uid);
            }
        });
    }

    /// The watch showed pod `name` (owned by `key`) created, changed or gone.
    pub(crate) fn observed(&self, key: &str, name: &str, uid: &str, gone: bool) {
        self.with(|pending| {
            if let Some(p) = pending.get_mut(key) {
                p.creates.remove(name);
                p.seen.insert(name.to_owned());
                if gone {
                    p.deletes.remove(uid);
                }
            }
        });
    }

    /// Whether `key` may act: nothing pending, everything pending is visible in the
    /// cache (`in_cache(name)` and `still_there(uid)` answer from it), or the wait timed out.
    pub(crate) fn satisfied(
        &self,
        key: &str,
        in_cache: impl Fn(&str) -> bool,
        still_there: impl Fn(&str) -> bool,
    ) -> bool {
        self.with(|pending| {
            let Some(p) = pending.get_mut(key) else {
                return true;
            };
            p.creates.retain(|name| !in_cache(name));
            p.deletes.retain(|uid| still_there(uid));
            let done =
                (p.creates.is_empty() && p.deletes.is_empty()) || p.since.elapsed() > TIMEOUT;
            if done {
                pending.remove(key);
            }
            done
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_cache_to_show_creations_and_deletions() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/rs", |_| false, |_| true));
        e.begin("ns/rs");
        e.created("ns/rs", "rs-abcde".into());
        e.deleted("ns/rs", "uid-1".into());
        assert!(!e.satisfied("ns/rs", |_| false, |_| true));
        assert!(!e.satisfied("ns/rs", |_| true, |_| true));
        assert!(e.satisfied("ns/rs", |_| true, |_| false));
    }

    #[test]
    fn a_failed_deletion_is_not_waited_for() {
        let e = Expectations::default();
        e.begin("ns/rs");
        e.deleted("ns/rs", "uid-1".into());
        e.delete_failed("ns/rs", "uid-1");
        assert!(e.satisfied("ns/rs", |_| false, |_| true));
    }

    #[test]
    fn a_creation_seen_before_its_response_counts() {
        let e = Expectations::default();
        e.begin("ns/rs");
        e.observed("ns/rs", "rs-abcde", "uid-2", true);
        e.created("ns/rs", "rs-abcde".into());
        assert!(e.satisfied("ns/rs", |_| false, |_| true));
    }
}
