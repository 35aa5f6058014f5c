//! [`Index`]: one kind's cache looked up by a key of each object (client-go's indexer, as
//! kube-controller-manager indexes pods by `spec.nodeName`), so a loop that wants one
//! node's pods reads those and not the cluster's.
//!
//! The reflector keeps each index in step with the cache, after it writes the cache and
//! before it hands the change out, so a loop woken by a change finds the change in the
//! index as it would in the cache.
//!
//! The filing itself ([`Entries`]) is not generic: the reflector is built once per watched
//! kind, two dozen of them, and each would otherwise carry its own copy of the maps' code,
//! though only pods are indexed (92 KB of the desktop binary, docs/benchmarks.md).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Watched, lock};

/// What an index files an object under; `None` leaves it out.
pub type KeyFn<K> = fn(&K) -> Option<String>;

/// A cached object of any kind, as [`Entries`] holds it.
type Filed = Arc<dyn Any + Send + Sync>;

/// One kind's cached objects by key. Cheap to clone; every clone reads the same index.
pub struct Index<K: Watched> {
    key: KeyFn<K>,
    entries: Arc<Mutex<Entries>>,
}

impl<K: Watched> Clone for Index<K> {
    fn clone(&self) -> Self {
        Self {
            key: self.key,
            entries: self.entries.clone(),
        }
    }
}

/// The objects of one index, each under its namespace and name (`namespace/name`, or the
/// name of a cluster-scoped object).
#[derive(Default)]
struct Entries {
    /// key -> the objects filed under it (the cache's own copies).
    by_key: HashMap<String, HashMap<String, Filed>>,
    /// Where each object is filed.
    key_of: HashMap<String, String>,
}

impl Entries {
    fn remove(&mut self, reference: &str) {
        if let Some(old) = self.key_of.remove(reference)
            && let Some(objects) = self.by_key.get_mut(&old)
        {
            objects.remove(reference);
            if objects.is_empty() {
                self.by_key.remove(&old);
            }
        }
    }

    /// Files the object `reference` under `key`, or nowhere, wherever it was before.
    fn file(&mut self, reference: String, key: Option<String>, object: Filed) {
        self.remove(&reference);
        if let Some(key) = key {
            self.by_key
                .entry(key.clone())
                .or_default()
                .insert(reference.clone(), object);
            self.key_of.insert(reference, key);
        }
    }
}

/// How an index names `object`: unique within its kind.
fn reference<K: Watched>(object: &K) -> String {
    let meta = object.meta();
    let name = meta.name.as_deref().unwrap_or_default();
    match meta.namespace.as_deref() {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    }
}

impl<K: Watched> Index<K> {
    /// An empty index filing objects under `key`.
    pub(super) fn new(key: KeyFn<K>) -> Self {
        Self {
            key,
            entries: Arc::default(),
        }
    }

    /// The objects filed under `key`, in no particular order.
    pub fn get(&self, key: &str) -> Vec<Arc<K>> {
        lock(&self.entries)
            .by_key
            .get(key)
            .map(|objects| {
                objects
                    .values()
                    .filter_map(|object| object.clone().downcast::<K>().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Files `object` (added or changed) under its key, moving it if its key changed.
    pub(super) fn apply(&self, object: &Arc<K>) {
        let key = (self.key)(object);
        lock(&self.entries).file(reference(&**object), key, object.clone());
    }

    /// Forgets `object` (deleted).
    pub(super) fn delete(&self, object: &K) {
        lock(&self.entries).remove(&reference(object));
    }

    /// Files exactly `objects` (a new list), forgetting everything filed before.
    pub(super) fn replace(&self, objects: &[Arc<K>]) {
        let mut fresh = Entries::default();
        for object in objects {
            fresh.file(reference(&**object), (self.key)(object), object.clone());
        }
        *lock(&self.entries) = fresh;
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Pod, PodSpec};
    use kube::api::ObjectMeta;

    use super::*;

    fn pod(name: &str, node: Option<&str>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("default".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(str::to_owned),
                ..PodSpec::default()
            }),
            ..Pod::default()
        })
    }

    fn node_of(pod: &Pod) -> Option<String> {
        pod.spec.as_ref()?.node_name.clone()
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = pods
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn objects_are_filed_moved_forgotten_and_replaced() {
        let index = Index::<Pod>::new(node_of);
        index.apply(&pod("a", None));
        index.apply(&pod("b", Some("one")));
        assert!(index.get("one").len() == 1 && index.get("two").is_empty());
        // Bound: filed under its node.
        index.apply(&pod("a", Some("one")));
        assert_eq!(names(index.get("one")), ["a", "b"]);
        // A key that changes moves the object; the newest copy is the one kept.
        let moved = pod("b", Some("two"));
        index.apply(&moved);
        assert_eq!(names(index.get("one")), ["a"]);
        assert!(Arc::ptr_eq(&index.get("two")[0], &moved));
        index.delete(&pod("a", Some("one")));
        assert!(index.get("one").is_empty());
        // A new list drops whatever it does not hold.
        index.replace(&[pod("c", Some("three"))]);
        assert!(index.get("two").is_empty());
        assert_eq!(names(index.get("three")), ["c"]);
    }
}
