//! [`Index`]: one kind's cache looked up by a key of each object (client-go's indexer, as
//! kube-controller-manager indexes pods by `spec.nodeName`), so a loop that wants one
//! node's pods reads those and not the cluster's.
//!
//! The reflector keeps each index in step with the cache, after it writes the cache and
//! before it hands the change out, so a loop woken by a change finds the change in the
//! index as it would in the cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::runtime::reflector::ObjectRef;

use super::{Watched, lock};

/// What an index files an object under; `None` leaves it out.
pub type KeyFn<K> = fn(&K) -> Option<String>;

/// One kind's cached objects by key. Cheap to clone; every clone reads the same index.
pub struct Index<K: Watched> {
    key: KeyFn<K>,
    entries: Arc<Mutex<Entries<K>>>,
}

impl<K: Watched> Clone for Index<K> {
    fn clone(&self) -> Self {
        Self {
            key: self.key,
            entries: self.entries.clone(),
        }
    }
}

struct Entries<K: Watched> {
    /// key -> the objects filed under it (the cache's own copies).
    by_key: HashMap<String, HashMap<ObjectRef<K>, Arc<K>>>,
    /// Where each object is filed.
    key_of: HashMap<ObjectRef<K>, String>,
}

impl<K: Watched> Default for Entries<K> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
            key_of: HashMap::new(),
        }
    }
}

impl<K: Watched> Entries<K> {
    fn remove(&mut self, reference: &ObjectRef<K>) {
        if let Some(old) = self.key_of.remove(reference)
            && let Some(objects) = self.by_key.get_mut(&old)
        {
            objects.remove(reference);
            if objects.is_empty() {
                self.by_key.remove(&old);
            }
        }
    }

    fn insert(&mut self, reference: ObjectRef<K>, key: String, object: Arc<K>) {
        self.by_key
            .entry(key.clone())
            .or_default()
            .insert(reference.clone(), object);
        self.key_of.insert(reference, key);
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
            .map(|objects| objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Files `object` (added or changed) under its key, moving it if its key changed.
    pub(super) fn apply(&self, object: &Arc<K>) {
        let reference = ObjectRef::from_obj(&**object);
        let mut entries = lock(&self.entries);
        entries.remove(&reference);
        if let Some(key) = (self.key)(object) {
            entries.insert(reference, key, object.clone());
        }
    }

    /// Forgets `object` (deleted).
    pub(super) fn delete(&self, object: &K) {
        lock(&self.entries).remove(&ObjectRef::from_obj(object));
    }

    /// Files exactly `objects` (a new list), forgetting everything filed before.
    pub(super) fn replace(&self, objects: &[Arc<K>]) {
        let mut fresh = Entries::default();
        for object in objects {
            if let Some(key) = (self.key)(object) {
                fresh.insert(ObjectRef::from_obj(&**object), key, object.clone());
            }
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
