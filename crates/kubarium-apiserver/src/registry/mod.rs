//! The resources the API server serves: their names, scope, verbs and subresources as
//! discovery advertises them, and the rules ([`Rules`]) that default, validate and print
//! each kind.
//!
//! **Architecture Invariant:** this table is the one source for discovery, routing and the
//! storage layout; a resource is served exactly when it is listed here.

mod kind;
mod path;
pub(crate) mod table;
mod unmanaged;

pub(crate) use kind::{Kind, Rejection, Rules, Stage, Typed};
pub use table::Column;
pub(crate) use table::{age, or_none as table_or_none};

use k8s_openapi::api::{
    apps, authentication, authorization, batch, coordination, core, discovery, events, networking,
    policy, scheduling, storage,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// A served resource.
pub struct Resource {
    /// API group, `""` for core.
    pub group: &'static str,
    /// API version, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// URL plural, e.g. `deployments`.
    pub plural: &'static str,
    /// Singular name, e.g. `deployment`.
    pub singular: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// kubectl short names, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Verbs on the collection and its objects.
    pub verbs: &'static [&'static str],
    /// Subresources.
    pub subresources: &'static [Subresource],
    /// Whether objects are stored; reviews are answered and forgotten.
    pub stored: bool,
    pub(crate) rules: &'static dyn Rules,
}

/// A subresource, e.g. `pods/status`.
pub struct Subresource {
    /// Its name, e.g. `status`.
    pub name: &'static str,
    /// The kind it takes and returns (`Scale`, `Eviction`, the parent's kind for status).
    pub kind: &'static str,
    /// The group of that kind, when it differs from the parent's (`policy` for eviction).
    pub group: Option<&'static str>,
    /// Its version, when it differs from the parent's.
    pub version: Option<&'static str>,
    /// Verbs it supports.
    pub verbs: &'static [&'static str],
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.qualified())
    }
}

impl Resource {
    /// `pods`, or `deployments.apps` for a named group: how upstream names a resource in
    /// messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The subresource called `name`, if served.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// The columns of `kubectl get` for this resource, as its Table lists them (the name
    /// column included; the age column is named `Age`).
    pub fn columns(&self) -> &'static [Column] {
        self.rules.columns()
    }

    /// One `kubectl get` row, a cell per [`Resource::columns`] entry, of an object a client
    /// parsed into its metadata and the rest of its JSON. Relative times (ages) are
    /// measured from `now`.
    pub fn table_row(&self, metadata: &ObjectMeta, rest: &Value, now: Timestamp) -> Vec<Value> {
        self.rules.row_parts(metadata, rest, now)
    }

    /// Whether writes to the object keep its status (it has a `status` subresource).
    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }

    /// The storage key prefix of all objects of this resource, or of those in `namespace`.
    pub(crate) fn prefix(&self, namespace: Option<&str>) -> String {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        match namespace {
            Some(ns) if self.namespaced => format!("/{group}/{}/{ns}/", self.plural),
            _ => format!("/{group}/{}/", self.plural),
        }
    }

    /// The storage key of one object.
    pub(crate) fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{name}", self.prefix(namespace))
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const CREATE_ONLY: &[&str] = &["create"];
const STATUS: Subresource = sub("status", "", &["get", "patch", "update"]);
const SCALE: Subresource = Subresource {
    name: "scale",
    kind: "Scale",
    group: Some("autoscaling"),
    version: Some("v1"),
    verbs: &["get", "patch", "update"],
};

const fn sub(
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        kind,
        group: None,
        version: None,
        verbs,
    }
}

macro_rules! resource {
    ($group:literal / $version:literal, $kind:literal, $ty:ty, $plural:literal, $singular:literal,
     namespaced: $namespaced:literal, short: [$($short:literal),*], categories: [$($cat:literal),*],
     verbs: $verbs:expr, subresources: [$($sub:expr),*]) => {
        Resource {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $namespaced,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
            verbs: $verbs,
            subresources: &[$($sub),*],
            stored: true,
            rules: &Typed::<$ty>::NEW,
        }
    };
}

/// A create-only review: answered from the request and the caller's identity, not stored.
macro_rules! review {
    ($group:literal / $version:literal, $kind:literal, $ty:ty, $plural:literal, $singular:literal) => {
        Resource {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: false,
            short_names: &[],
            categories: &[],
            verbs: CREATE_ONLY,
            subresources: &[],
            stored: false,
            rules: &Typed::<$ty>::NEW,
        }
    };
}

/// Every served resource, grouped by API group in the order discovery lists them.
pub static RESOURCES: &[Resource] = &[
    resource!("" / "v1", "ConfigMap", core::v1::ConfigMap, "configmaps", "configmap",
        namespaced: true, short: ["cm"], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("" / "v1", "Endpoints", core::v1::Endpoints, "endpoints", "endpoints",
        namespaced: true, short: ["ep"], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("" / "v1", "Event", core::v1::Event, "events", "event",
        namespaced: true, short: ["ev"], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("" / "v1", "Namespace", core::v1::Namespace, "namespaces", "namespace",
        namespaced: false, short: ["ns"], categories: [],
        verbs: &["create", "delete", "get", "list", "patch", "update", "watch"],
        subresources: [sub("finalize", "Namespace", &["update"]), STATUS]),
    resource!("" / "v1", "Node", core::v1::Node, "nodes", "node",
        namespaced: false, short: ["no"], categories: [], verbs: ALL_VERBS, subresources: [STATUS]),
    resource!("" / "v1", "PersistentVolumeClaim", core::v1::PersistentVolumeClaim, "persistentvolumeclaims",
        "persistentvolumeclaim", namespaced: true, short: ["pvc"], categories: [], verbs: ALL_VERBS,
        subresources: [STATUS]),
    resource!("" / "v1", "PersistentVolume", core::v1::PersistentVolume, "persistentvolumes", "persistentvolume",
        namespaced: false, short: ["pv"], categories: [], verbs: ALL_VERBS, subresources: [STATUS]),
    resource!("" / "v1", "Pod", core::v1::Pod, "pods", "pod",
    namespaced: true, short: ["po"], categories: ["all"], verbs: ALL_VERBS,
    subresources: [
        sub("attach", "PodAttachOptions", &["create", "get"]),
        sub("binding", "Binding", CREATE_ONLY),
        Subresource { name: "eviction", kind: "Eviction", group: Some("policy"), version: Some("v1"), verbs: CREATE_ONLY },
        sub("exec", "PodExecOptions", &["create", "get"]),
        sub("log", "Pod", &["get"]),
        sub("portforward", "PodPortForwardOptions", &["create", "get"]),
        STATUS
    ]),
    resource!("" / "v1", "Secret", core::v1::Secret, "secrets", "secret",
        namespaced: true, short: [], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("" / "v1", "ServiceAccount", core::v1::ServiceAccount, "serviceaccounts", "serviceaccount",
        namespaced: true, short: ["sa"], categories: [], verbs: ALL_VERBS,
        subresources: [Subresource { name: "token", kind: "TokenRequest", group: Some("authentication.k8s.io"), version: Some("v1"), verbs: CREATE_ONLY }]),
    resource!("" / "v1", "Service", core::v1::Service, "services", "service",
        namespaced: true, short: ["svc"], categories: ["all"],
        verbs: &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        subresources: [STATUS]),
    resource!("apps" / "v1", "ControllerRevision", apps::v1::ControllerRevision, "controllerrevisions",
        "controllerrevision", namespaced: true, short: [], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("apps" / "v1", "DaemonSet", apps::v1::DaemonSet, "daemonsets", "daemonset",
        namespaced: true, short: ["ds"], categories: ["all"], verbs: ALL_VERBS, subresources: [STATUS]),
    resource!("apps" / "v1", "Deployment", apps::v1::Deployment, "deployments", "deployment",
        namespaced: true, short: ["deploy"], categories: ["all"], verbs: ALL_VERBS, subresources: [SCALE, STATUS]),
    resource!("apps" / "v1", "ReplicaSet", apps::v1::ReplicaSet, "replicasets", "replicaset",
        namespaced: true, short: ["rs"], categories: ["all"], verbs: ALL_VERBS, subresources: [SCALE, STATUS]),
    resource!("apps" / "v1", "StatefulSet", apps::v1::StatefulSet, "statefulsets", "statefulset",
        namespaced: true, short: ["sts"], categories: ["all"], verbs: ALL_VERBS, subresources: [SCALE, STATUS]),
    resource!("batch" / "v1", "CronJob", batch::v1::CronJob, "cronjobs", "cronjob",
        namespaced: true, short: ["cj"], categories: ["all"], verbs: ALL_VERBS, subresources: [STATUS]),
    resource!("batch" / "v1", "Job", batch::v1::Job, "jobs", "job",
        namespaced: true, short: [], categories: ["all"], verbs: ALL_VERBS, subresources: [STATUS]),
    resource!("networking.k8s.io" / "v1", "IngressClass", networking::v1::IngressClass, "ingressclasses",
        "ingressclass", namespaced: false, short: [], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("networking.k8s.io" / "v1", "Ingress", networking::v1::Ingress, "ingresses", "ingress",
        namespaced: true, short: ["ing"], categories: [], verbs: ALL_VERBS, subresources: [STATUS]),
    resource!("policy" / "v1", "PodDisruptionBudget", policy::v1::PodDisruptionBudget, "poddisruptionbudgets",
        "poddisruptionbudget", namespaced: true, short: ["pdb"], categories: [], verbs: ALL_VERBS,
        subresources: [STATUS]),
    resource!("discovery.k8s.io" / "v1", "EndpointSlice", discovery::v1::EndpointSlice, "endpointslices",
        "endpointslice", namespaced: true, short: [], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("events.k8s.io" / "v1", "Event", events::v1::Event, "events", "event",
        namespaced: true, short: ["ev"], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("storage.k8s.io" / "v1", "StorageClass", storage::v1::StorageClass, "storageclasses",
        "storageclass", namespaced: false, short: ["sc"], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("scheduling.k8s.io" / "v1", "PriorityClass", scheduling::v1::PriorityClass, "priorityclasses",
        "priorityclass", namespaced: false, short: ["pc"], categories: [], verbs: ALL_VERBS, subresources: []),
    resource!("coordination.k8s.io" / "v1", "Lease", coordination::v1::Lease, "leases", "lease",
        namespaced: true, short: [], categories: [], verbs: ALL_VERBS, subresources: []),
    review!(
        "authentication.k8s.io" / "v1",
        "SelfSubjectReview",
        authentication::v1::SelfSubjectReview,
        "selfsubjectreviews",
        "selfsubjectreview"
    ),
    review!(
        "authorization.k8s.io" / "v1",
        "SelfSubjectAccessReview",
        authorization::v1::SelfSubjectAccessReview,
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview"
    ),
    review!(
        "authorization.k8s.io" / "v1",
        "SelfSubjectRulesReview",
        authorization::v1::SelfSubjectRulesReview,
        "selfsubjectrulesreviews",
        "selfsubjectrulesreview"
    ),
];

/// The resource served at `group`/`version` as `plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    // Every request looks its resource up, writes more than once. The plural first: it
    // differs between most entries in length alone, so few compares read any bytes.
    RESOURCES
        .iter()
        .find(|r| r.plural == plural && r.group == group && r.version == version)
}

/// [`find`] for what the server itself reads and writes (a namespace, a Service's
/// neighbours, a PriorityClass): not served means a broken build, an internal error.
pub(crate) fn served(
    group: &str,
    version: &str,
    plural: &str,
) -> Result<&'static Resource, crate::StatusError> {
    find(group, version, plural).ok_or_else(|| {
        let dot = if group.is_empty() { "" } else { "." };
        crate::StatusError::internal(format!("{plural}{dot}{group} is not served"))
    })
}

/// The group/versions served, in discovery order: (group, version).
pub(crate) fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_keys_nest() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert!(
                    !(a.group == b.group && a.plural == b.plural),
                    "{} served twice",
                    a.qualified()
                );
            }
        }
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(pods.key(Some("default"), "web"), "/core/pods/default/web");
        assert!(
            pods.key(Some("default"), "web")
                .starts_with(&pods.prefix(None))
        );
        let deploy = find("apps", "v1", "deployments").unwrap();
        assert_eq!(deploy.qualified(), "deployments.apps");
        assert_eq!(
            find("", "v1", "namespaces").unwrap().key(None, "default"),
            "/core/namespaces/default"
        );
    }
}
