//! The garbage collector, as kube-controller-manager's: it watches every resource the API's
//! discovery reports as listable, watchable and deletable (metadata only, one watch per
//! resource, events aside as upstream ignores them), keeps the ownership [`graph`], and
//! works on what that graph flags:
//!
//! - **background**: an object whose owners are all gone (checked by uid, each verified with
//!   a live GET as upstream's `attemptToDeleteItem` does) is deleted;
//! - **foreground**: an owner being deleted with the `foregroundDeletion` finalizer has its
//!   dependents deleted, and loses the finalizer once none with `blockOwnerDeletion` is left;
//! - **orphan**: an owner being deleted with the `orphan` finalizer is removed from its
//!   dependents' owner references, then loses the finalizer.
//!
//! References that cannot be right (a namespaced owner in another namespace) are reported with
//! upstream's `OwnerRefInvalidNamespace` warning and treated as dangling.

mod graph;
mod owned;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, DynamicObject, Patch, Preconditions, PropagationPolicy};
use kube::core::PartialObjectMeta;
use kube::discovery::{ApiResource, Discovery, Scope, verbs};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::Context;
use crate::events::{EventType, Recorder};
use graph::{Graph, Identity, Observed, Work};
use owned::Owned;

/// How often discovery runs again to pick up new resources (upstream: 30 s).
const REDISCOVERY: Duration = Duration::from_secs(30);
/// Workers deleting objects, and workers orphaning dependents.
const DELETE_WORKERS: usize = 8;
const ORPHAN_WORKERS: usize = 2;
/// Owners known to be absent remembered before the cache starts over (upstream's LRU: 500).
const ABSENT_OWNERS: usize = 500;
/// Resources upstream's collector ignores by default.
const IGNORED: [(&str, &str); 2] = [("", "events"), ("events.k8s.io", "events")];

pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let collector = Arc::new(Collector {
        client: ctx.client.clone(),
        recorder: ctx.recorder("garbage-collector-controller"),
        graph: Mutex::default(),
        resources: RwLock::default(),
        absent: Mutex::default(),
        to_delete: Queue::default(),
        to_orphan: Queue::default(),
    });
    tasks.spawn(run(collector));
}

/// What the collector's tasks share.
struct Collector {
    client: Client,
    recorder: Recorder,
    graph: Mutex<Graph>,
    /// Every served resource by (apiVersion, kind), with whether it is namespaced.
    resources: RwLock<HashMap<(String, String), (ApiResource, bool)>>,
    /// Owners found missing: (apiVersion, kind, namespace, name, uid).
    absent: Mutex<HashSet<AbsentKey>>,
    to_delete: Queue,
    to_orphan: Queue,
}

/// A work queue of uids, each queued at most once at a time.
#[derive(Default)]
struct Queue {
    items: Mutex<(VecDeque<String>, HashSet<String>)>,
    ready: Notify,
}

impl Queue {
    fn push(&self, uid: String) {
        let mut items = lock(&self.items);
        if items.1.insert(uid.clone()) {
            items.0.push_back(uid);
            drop(items);
            self.ready.notify_one();
        }
    }

    async fn pop(&self) -> String {
        loop {
            {
                let mut items = lock(&self.items);
                if let Some(uid) = items.0.pop_front() {
                    items.1.remove(&uid);
                    return uid;
                }
            }
            self.ready.notified().await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a worker is not done with an item.
enum Outcome {
    Done,
    Retry(Duration),
}

async fn run(collector: Arc<Collector>) {
    let mut tasks = JoinSet::new();
    let mut monitored: HashSet<(String, String)> = HashSet::new();
    let mut workers_started = false;
    loop {
        match discover(&collector.client).await {
            Ok((all, watchable)) => {
                *collector
                    .resources
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = all;
                for resource in watchable {
                    let key = (resource.group.clone(), resource.plural.clone());
                    if monitored.insert(key) {
                        tasks.spawn(monitor(collector.clone(), resource));
                    }
                }
                if !workers_started {
                    workers_started = true;
                    for _ in 0..DELETE_WORKERS {
                        tasks.spawn(delete_worker(collector.clone()));
                    }
                    for _ in 0..ORPHAN_WORKERS {
                        tasks.spawn(orphan_worker(collector.clone()));
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "garbage collector discovery failed"),
        }
        let wait = if workers_started {
            REDISCOVERY
        } else {
            Duration::from_secs(1)
        };
        tokio::time::sleep(wait).await;
    }
}

type Discovered = (
    HashMap<(String, String), (ApiResource, bool)>,
    Vec<ApiResource>,
);

/// Every served resource by (apiVersion, kind), and the preferred-version ones to watch.
async fn discover(client: &Client) -> Result<Discovered, kube::Error> {
    let discovery = match Discovery::new(client.clone()).run_aggregated().await {
        Ok(found) => found,
        Err(_) => Discovery::new(client.clone()).run().await?,
    };
    let mut all = HashMap::new();
    let mut watchable = Vec::new();
    for group in discovery.groups() {
        for version in group.versions() {
            for (resource, capabilities) in group.versioned_resources(version) {
                let namespaced = capabilities.scope == Scope::Namespaced;
                all.entry((resource.api_version.clone(), resource.kind.clone()))
                    .or_insert((resource, namespaced));
            }
        }
        for (resource, capabilities) in group.recommended_resources() {
            let wanted = [verbs::LIST, verbs::WATCH, verbs::DELETE]
                .iter()
                .all(|verb| capabilities.supports_operation(verb));
            let ignored = IGNORED.contains(&(resource.group.as_str(), resource.plural.as_str()));
            if wanted && !ignored {
                watchable.push(resource);
            }
        }
    }
    Ok((all, watchable))
}

/// Feeds one resource's objects (metadata only) into the graph.
async fn monitor(collector: Arc<Collector>, resource: ApiResource) {
    let api = Api::<Owned>::all_with(collector.client.clone(), &resource);
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures_util::pin_mut!(stream);
    let mut listed: Option<HashSet<String>> = None;
    while let Some(event) = stream.next().await {
        let work = match event {
            Ok(watcher::Event::Apply(object)) => observe(&collector, &resource, &object),
            Ok(watcher::Event::InitApply(object)) => {
                if let (Some(listed), Some(uid)) = (listed.as_mut(), object.metadata.uid.clone()) {
                    listed.insert(uid);
                }
                observe(&collector, &resource, &object)
            }
            Ok(watcher::Event::Delete(object)) => {
                let uid = object.metadata.uid.clone().unwrap_or_default();
                lock(&collector.graph).forget(&uid, false)
            }
            Ok(watcher::Event::Init) => {
                listed = Some(HashSet::new());
                Vec::new()
            }
            Ok(watcher::Event::InitDone) => {
                // Objects deleted while the watch was down: gone from a fresh list.
                let listed = listed.take().unwrap_or_default();
                let mut graph = lock(&collector.graph);
                let gone = graph.observed_of(&resource.api_version, &resource.kind, &listed);
                gone.iter()
                    .flat_map(|uid| graph.forget(uid, false))
                    .collect()
            }
            Err(error) => {
                tracing::debug!(resource = %resource.plural, %error, "garbage collector watch failed");
                Vec::new()
            }
        };
        dispatch(&collector, work);
    }
}

fn observe(collector: &Collector, resource: &ApiResource, object: &Owned) -> Vec<Work> {
    let meta = &object.metadata;
    let Some(uid) = meta.uid.clone() else {
        return Vec::new();
    };
    let observed = Observed {
        identity: Identity {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid,
        },
        owners: meta.owner_references.clone().unwrap_or_default(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
        being_deleted: meta.deletion_timestamp.is_some(),
    };
    lock(&collector.graph).observe(observed)
}

fn dispatch(collector: &Collector, work: Vec<Work>) {
    for item in work {
        match item {
            Work::AttemptToDelete(uid) => collector.to_delete.push(uid),
            Work::AttemptToOrphan(uid) => collector.to_orphan.push(uid),
            Work::InvalidNamespace { dependent, owner } => {
                let invalid = Identity {
                    api_version: owner.api_version.clone(),
                    kind: owner.kind.clone(),
                    namespace: dependent.namespace.clone(),
                    name: owner.name.clone(),
                    uid: owner.uid.clone(),
                };
                collector.recorder.record(
                    object_reference(&dependent),
                    EventType::Warning,
                    "OwnerRefInvalidNamespace",
                    format!(
                        "ownerRef {invalid} does not exist in namespace {:?}",
                        dependent.namespace
                    ),
                );
            }
        }
    }
}

fn object_reference(identity: &Identity) -> ObjectReference {
    ObjectReference {
        api_version: Some(identity.api_version.clone()),
        kind: Some(identity.kind.clone()),
        namespace: Some(identity.namespace.clone()).filter(|n| !n.is_empty()),
        name: Some(identity.name.clone()),
        uid: Some(identity.uid.clone()),
        ..ObjectReference::default()
    }
}

fn retry_later(collector: &Arc<Collector>, uid: String, wait: Duration, orphan: bool) {
    let collector = collector.clone();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        if orphan {
            collector.to_orphan.push(uid);
        } else {
            collector.to_delete.push(uid);
        }
    });
}

async fn delete_worker(collector: Arc<Collector>) {
    loop {
        let uid = collector.to_delete.pop().await;
        match attempt_to_delete(&collector, &uid).await {
            Outcome::Done => {}
            Outcome::Retry(wait) => retry_later(&collector, uid, wait, false),
        }
    }
}

async fn orphan_worker(collector: Arc<Collector>) {
    loop {
        let uid = collector.to_orphan.pop().await;
        match attempt_to_orphan(&collector, &uid).await {
            Outcome::Done => {}
            Outcome::Retry(wait) => retry_later(&collector, uid, wait, true),
        }
    }
}

mod work;
use work::{attempt_to_delete, attempt_to_orphan};

impl Collector {
    /// The resource behind `api_version`/`kind`, with whether it is namespaced.
    fn resource(&self, api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
        self.resources
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(api_version.to_owned(), kind.to_owned()))
            .cloned()
    }

    fn metadata_api(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> Api<PartialObjectMeta<DynamicObject>> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    fn remember_absent(&self, owner: &OwnerReference, namespace: &str) {
        let mut absent = lock(&self.absent);
        if absent.len() >= ABSENT_OWNERS {
            absent.clear();
        }
        absent.insert(absent_key(owner, namespace));
    }

    fn known_absent(&self, owner: &OwnerReference, namespace: &str) -> bool {
        let absent = lock(&self.absent);
        absent.contains(&absent_key(owner, "")) || absent.contains(&absent_key(owner, namespace))
    }
}

/// An absent owner: (apiVersion, kind, namespace, name, uid).
type AbsentKey = (String, String, String, String, String);

fn absent_key(owner: &OwnerReference, namespace: &str) -> AbsentKey {
    (
        owner.api_version.clone(),
        owner.kind.clone(),
        namespace.to_owned(),
        owner.name.clone(),
        owner.uid.clone(),
    )
}

/// Delete options with a uid precondition and `policy`.
fn delete_params(uid: &str, policy: PropagationPolicy) -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_owned()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    }
}

/// A merge patch setting `metadata.ownerReferences`, guarded by the object's uid.
fn owner_references_patch(uid: &str, references: &[OwnerReference]) -> Patch<serde_json::Value> {
    Patch::Merge(json!({"metadata": {"ownerReferences": references, "uid": uid}}))
}
