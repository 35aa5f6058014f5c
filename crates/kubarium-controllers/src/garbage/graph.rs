//! The garbage collector's dependency graph (upstream's `GraphBuilder` and `uidToNode`): every
//! object the collector watches, by uid, with its owner references and its dependents, plus
//! "virtual" nodes for owners referenced but not (yet) seen. Feeding it watch events
//! ([`Graph::observe`], [`Graph::forget`]) returns the work they call for; the workers do
//! that work against the API.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The finalizer that makes an owner wait for its dependents (`--cascade=foreground`).
pub(crate) const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer that makes an owner release its dependents (`--cascade=orphan`).
pub(crate) const ORPHAN: &str = "orphan";

/// Who an object is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    /// Empty for cluster-scoped objects.
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) uid: String,
}

impl std::fmt::Display for Identity {
    /// As upstream's `objectReference.String()`, which its event messages use.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}/{}, namespace: {}, name: {}, uid: {}]",
            self.api_version, self.kind, self.namespace, self.name, self.uid
        )
    }
}

/// What the graph learns from one watch event about an object.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    pub(crate) identity: Identity,
    pub(crate) owners: Vec<OwnerReference>,
    pub(crate) finalizers: Vec<String>,
    pub(crate) being_deleted: bool,
}

impl Observed {
    fn has(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }
}

/// One object in the graph.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) identity: Identity,
    pub(crate) owners: Vec<OwnerReference>,
    pub(crate) dependents: HashSet<String>,
    pub(crate) being_deleted: bool,
    pub(crate) deleting_dependents: bool,
    /// Last seen being deleted with the `orphan` finalizer.
    pub(crate) orphaning: bool,
    /// Known only from a dependent's owner reference, not yet seen through a watch.
    pub(crate) virtual_: bool,
}

/// Work the graph asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Work {
    /// Check the object (by uid): delete it if its owners are all gone, or go on with a
    /// foreground deletion.
    AttemptToDelete(String),
    /// Remove the owner (by uid) from its dependents, then its `orphan` finalizer.
    AttemptToOrphan(String),
    /// Warn that `dependent` names an owner (uid) that lives in another namespace.
    InvalidNamespace {
        dependent: Identity,
        owner: OwnerReference,
    },
}

/// The graph itself.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    nodes: HashMap<String, Node>,
}

impl Graph {
    /// The node with `uid`, as it stands.
    pub(crate) fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// Observed objects of `api_version`/`kind` whose uid is not in `listed`.
    pub(crate) fn observed_of(
        &self,
        api_version: &str,
        kind: &str,
        listed: &HashSet<String>,
    ) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| {
                !n.virtual_ && n.identity.api_version == api_version && n.identity.kind == kind
            })
            .filter(|n| !listed.contains(&n.identity.uid))
            .map(|n| n.identity.uid.clone())
            .collect()
    }

    /// Dependents of `uid` whose reference to it blocks its deletion.
    pub(crate) fn blocking_dependents(&self, uid: &str) -> Vec<Node> {
        let Some(node) = self.nodes.get(uid) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
            })
            .cloned()
            .collect()
    }

    /// An object was added or changed.
    pub(crate) fn observe(&mut self, object: Observed) -> Vec<Work> {
        let uid = object.identity.uid.clone();
        let mut work = Vec::new();
        let existing = self.nodes.get(&uid).cloned();
        let orphaning = object.being_deleted && object.has(ORPHAN);
        let foreground = object.being_deleted && object.has(FOREGROUND);
        let starts_orphaning = orphaning && !existing.as_ref().is_some_and(|n| n.orphaning);
        let starts_foreground =
            foreground && !existing.as_ref().is_some_and(|n| n.deleting_dependents);
        match existing {
            None => {
                let node = Node {
                    identity: object.identity.clone(),
                    owners: object.owners.clone(),
                    dependents: HashSet::new(),
                    being_deleted: object.being_deleted,
                    deleting_dependents: foreground,
                    orphaning,
                    virtual_: false,
                };
                self.nodes.insert(uid.clone(), node);
                work.extend(self.add_to_owners(&uid, &object.owners));
            }
            Some(old) => {
                if old.virtual_ {
                    // Seen at last: dependents that named it elsewhere are wrong.
                    for dependent in &old.dependents {
                        if let Some(dep) = self.nodes.get(dependent)
                            && !object.identity.namespace.is_empty()
                            && dep.identity.namespace != object.identity.namespace
                        {
                            if let Some(owner) = dep.owners.iter().find(|o| o.uid == uid) {
                                work.push(Work::InvalidNamespace {
                                    dependent: dep.identity.clone(),
                                    owner: owner.clone(),
                                });
                            }
                            work.push(Work::AttemptToDelete(dependent.clone()));
                        }
                    }
                }
                let (added, removed, changed) = diff(&old.owners, &object.owners);
                // Owners waiting on this dependent may proceed once it stops blocking them.
                for reference in removed.iter().chain(changed.iter().map(|(o, _)| o)) {
                    let unblocked = match changed.iter().find(|(o, _)| o.uid == reference.uid) {
                        Some((before, after)) => {
                            before.block_owner_deletion == Some(true)
                                && after.block_owner_deletion != Some(true)
                        }
                        None => reference.block_owner_deletion == Some(true),
                    };
                    if unblocked && self.nodes.contains_key(&reference.uid) {
                        work.push(Work::AttemptToDelete(reference.uid.clone()));
                    }
                }
                if let Some(node) = self.nodes.get_mut(&uid) {
                    node.identity = object.identity.clone();
                    node.virtual_ = false;
                    node.owners = object.owners.clone();
                    node.being_deleted |= object.being_deleted;
                    node.deleting_dependents = foreground;
                    node.orphaning = orphaning;
                }
                work.extend(self.add_to_owners(&uid, &added));
                for reference in &removed {
                    if let Some(owner) = self.nodes.get_mut(&reference.uid) {
                        owner.dependents.remove(&uid);
                    }
                }
            }
        }
        if starts_orphaning {
            work.push(Work::AttemptToOrphan(uid));
        } else if starts_foreground {
            if let Some(node) = self.nodes.get_mut(&uid) {
                node.deleting_dependents = true;
                let mut dependents: Vec<_> = node.dependents.iter().cloned().collect();
                dependents.sort();
                work.extend(dependents.into_iter().map(Work::AttemptToDelete));
            }
            work.push(Work::AttemptToDelete(uid));
        }
        work
    }

    /// Adds `uid` as a dependent of each of `owners`, making virtual nodes for owners not
    /// seen yet (to be checked) and flagging references that cannot be right.
    fn add_to_owners(&mut self, uid: &str, owners: &[OwnerReference]) -> Vec<Work> {
        let mut work = Vec::new();
        let Some(dependent) = self.nodes.get(uid).map(|n| n.identity.clone()) else {
            return work;
        };
        let mut suspicious = false;
        for owner in owners {
            match self.nodes.get_mut(&owner.uid) {
                None => {
                    let mut node = Node {
                        identity: Identity {
                            api_version: owner.api_version.clone(),
                            kind: owner.kind.clone(),
                            namespace: dependent.namespace.clone(),
                            name: owner.name.clone(),
                            uid: owner.uid.clone(),
                        },
                        owners: Vec::new(),
                        dependents: HashSet::new(),
                        being_deleted: false,
                        deleting_dependents: false,
                        orphaning: false,
                        virtual_: true,
                    };
                    node.dependents.insert(uid.to_owned());
                    self.nodes.insert(owner.uid.clone(), node);
                    // Does it exist? The worker asks the API server.
                    work.push(Work::AttemptToDelete(owner.uid.clone()));
                }
                Some(node) => {
                    node.dependents.insert(uid.to_owned());
                    let namespaced = !node.identity.namespace.is_empty();
                    if namespaced && node.identity.namespace != dependent.namespace {
                        if !node.virtual_ {
                            work.push(Work::InvalidNamespace {
                                dependent: dependent.clone(),
                                owner: owner.clone(),
                            });
                        }
                        suspicious = true;
                    } else if node.identity.kind != owner.kind || node.identity.name != owner.name {
                        suspicious = true;
                    }
                }
            }
        }
        if suspicious {
            work.push(Work::AttemptToDelete(uid.to_owned()));
        }
        work
    }

    /// An object was deleted (or, when `verified_absent`, found missing by a worker while
    /// the graph held it as virtual).
    pub(crate) fn forget(&mut self, uid: &str, verified_absent: bool) -> Vec<Work> {
        let mut work = Vec::new();
        let Some(node) = self.nodes.get(uid) else {
            return work;
        };
        if verified_absent && !node.virtual_ {
            // A worker's miss does not remove an object the watch still shows.
            return work;
        }
        let Some(node) = self.nodes.remove(uid) else {
            return work;
        };
        for owner in &node.owners {
            if let Some(owner_node) = self.nodes.get_mut(&owner.uid) {
                owner_node.dependents.remove(uid);
                if owner_node.deleting_dependents {
                    work.push(Work::AttemptToDelete(owner.uid.clone()));
                }
            }
        }
        let mut dependents: Vec<_> = node.dependents.into_iter().collect();
        dependents.sort();
        work.extend(dependents.into_iter().map(Work::AttemptToDelete));
        work
    }
}

/// Owner references added, removed, and changed (before, after), matched by uid.
fn diff(
    old: &[OwnerReference],
    new: &[OwnerReference],
) -> (
    Vec<OwnerReference>,
    Vec<OwnerReference>,
    Vec<(OwnerReference, OwnerReference)>,
) {
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for reference in new {
        match old.iter().find(|o| o.uid == reference.uid) {
            None => added.push(reference.clone()),
            Some(before) if before != reference => {
                changed.push((before.clone(), reference.clone()))
            }
            Some(_) => {}
        }
    }
    let removed = old
        .iter()
        .filter(|o| !new.iter().any(|n| n.uid == o.uid))
        .cloned()
        .collect();
    (added, removed, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(kind: &str, namespace: &str, name: &str) -> Identity {
        Identity {
            api_version: if kind == "ReplicaSet" {
                "apps/v1"
            } else {
                "v1"
            }
            .into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
            uid: format!("{name}-uid"),
        }
    }

    fn owner_ref(owner: &Identity, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: owner.api_version.clone(),
            kind: owner.kind.clone(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn seen(identity: &Identity, owners: Vec<OwnerReference>) -> Observed {
        Observed {
            identity: identity.clone(),
            owners,
            finalizers: Vec::new(),
            being_deleted: false,
        }
    }

    #[test]
    fn an_owner_referenced_before_it_is_seen_is_checked() {
        let mut graph = Graph::default();
        let rs = identity("ReplicaSet", "default", "web");
        let pod = identity("Pod", "default", "web-1");
        let work = graph.observe(seen(&pod, vec![owner_ref(&rs, true)]));
        assert_eq!(work, [Work::AttemptToDelete(rs.uid.clone())]);
        assert!(graph.node(&rs.uid).unwrap().virtual_);
        assert!(graph.observe(seen(&rs, Vec::new())).is_empty());
        assert!(!graph.node(&rs.uid).unwrap().virtual_);
        // The owner goes: its dependents are checked.
        assert_eq!(
            graph.forget(&rs.uid, false),
            [Work::AttemptToDelete(pod.uid.clone())]
        );
    }

    #[test]
    fn foreground_deletion_checks_dependents_then_the_owner() {
        let mut graph = Graph::default();
        let rs = identity("ReplicaSet", "default", "web");
        let a = identity("Pod", "default", "a");
        let b = identity("Pod", "default", "b");
        graph.observe(seen(&rs, Vec::new()));
        graph.observe(seen(&a, vec![owner_ref(&rs, true)]));
        graph.observe(seen(&b, vec![owner_ref(&rs, false)]));
        let mut deleting = seen(&rs, Vec::new());
        deleting.being_deleted = true;
        deleting.finalizers = vec![FOREGROUND.into()];
        let work = graph.observe(deleting.clone());
        assert_eq!(
            work,
            [
                Work::AttemptToDelete(a.uid.clone()),
                Work::AttemptToDelete(b.uid.clone()),
                Work::AttemptToDelete(rs.uid.clone()),
            ]
        );
        assert_eq!(graph.blocking_dependents(&rs.uid).len(), 1);
        // The same state again is no new transition.
        assert!(graph.observe(deleting).is_empty());
        // A dependent going lets the owner be checked again.
        assert_eq!(
            graph.forget(&a.uid, false),
            [Work::AttemptToDelete(rs.uid.clone())]
        );
        assert!(graph.blocking_dependents(&rs.uid).is_empty());
    }

    #[test]
    fn orphan_deletion_starts_once() {
        let mut graph = Graph::default();
        let rs = identity("ReplicaSet", "default", "web");
        graph.observe(seen(&rs, Vec::new()));
        let mut deleting = seen(&rs, Vec::new());
        deleting.being_deleted = true;
        deleting.finalizers = vec![ORPHAN.into()];
        assert_eq!(
            graph.observe(deleting.clone()),
            [Work::AttemptToOrphan(rs.uid.clone())]
        );
        assert!(graph.observe(deleting).is_empty());
    }

    #[test]
    fn an_owner_in_another_namespace_is_reported() {
        let mut graph = Graph::default();
        let owner = identity("ConfigMap", "other", "owner");
        let dependent = identity("ConfigMap", "default", "dependent");
        graph.observe(seen(&owner, Vec::new()));
        let work = graph.observe(seen(&dependent, vec![owner_ref(&owner, false)]));
        assert_eq!(
            work,
            [
                Work::InvalidNamespace {
                    dependent: dependent.clone(),
                    owner: owner_ref(&owner, false),
                },
                Work::AttemptToDelete(dependent.uid.clone()),
            ]
        );
        assert_eq!(
            dependent.to_string(),
            "[v1/ConfigMap, namespace: default, name: dependent, uid: dependent-uid]"
        );
    }

    #[test]
    fn removing_a_blocking_reference_unblocks_the_owner() {
        let mut graph = Graph::default();
        let rs = identity("ReplicaSet", "default", "web");
        let pod = identity("Pod", "default", "a");
        graph.observe(seen(&rs, Vec::new()));
        graph.observe(seen(&pod, vec![owner_ref(&rs, true)]));
        let work = graph.observe(seen(&pod, Vec::new()));
        assert_eq!(work, [Work::AttemptToDelete(rs.uid.clone())]);
        assert!(graph.node(&rs.uid).unwrap().dependents.is_empty());
    }

    #[test]
    fn a_worker_miss_removes_only_virtual_nodes() {
        let mut graph = Graph::default();
        let rs = identity("ReplicaSet", "default", "web");
        let pod = identity("Pod", "default", "a");
        graph.observe(seen(&pod, vec![owner_ref(&rs, true)]));
        assert_eq!(
            graph.forget(&rs.uid, true),
            [Work::AttemptToDelete(pod.uid.clone())]
        );
        assert!(graph.forget(&pod.uid, true).is_empty());
        assert_eq!(graph.nodes.len(), 1);
    }
}
