//! Where a container's configuration comes from besides its pod: ConfigMaps, Secrets and
//! Services, read from pool-wide caches (one watch per kind for every agent of the process,
//! as the kubelet's watch-based managers keep one per object its pods use), and
//! PersistentVolumeClaims, PersistentVolumes and service account tokens, asked for through
//! the API when a pod's volumes are set up. Changes to a ConfigMap or Secret are handed to
//! the pool, which wakes the pods that use it and re-syncs their volumes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubarium_controllers::informers::Informers;
use kube::Client;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::NodeCapacity;

/// Looks up the objects a container's environment and volumes read. The agent's caches
/// implement it; unit tests use maps.
pub(crate) trait Lookup: Send + Sync {
    /// ConfigMap `namespace/name`, if it exists.
    fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>>;
    /// Secret `namespace/name`, if it exists.
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>>;
    /// The Services of `namespace`.
    fn services(&self, namespace: &str) -> Vec<Arc<Service>>;
}

/// A ConfigMap or Secret that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changed {
    /// `true` for a Secret, `false` for a ConfigMap.
    pub(crate) secret: bool,
    /// Its namespace.
    pub(crate) namespace: String,
    /// Its name.
    pub(crate) name: String,
}

/// What pod workers read besides their pod, and the node settings that shape containers.
pub(crate) struct Sources {
    pub(crate) client: Client,
    config_maps: Store<ConfigMap>,
    secrets: Store<Secret>,
    services: Store<Service>,
    synced: watch::Receiver<bool>,
    /// The cluster's data dir; pods' volumes live under `<data_dir>/pods/<uid>/volumes`.
    pub(crate) data_dir: PathBuf,
    /// Whether containers may run privileged.
    pub(crate) allow_privileged: bool,
    /// What each node offers (limits default to it in the downward API).
    pub(crate) allocatable: NodeCapacity,
    /// Held while volume contents are written, so a re-sync and a pod's set-up never
    /// interleave in one directory.
    pub(crate) writing: Mutex<()>,
}

impl Sources {
    /// Starts the caches on `tasks`; the receiver hears of every ConfigMap and Secret
    /// listed, added, changed or deleted.
    pub(crate) fn start(
        client: Client,
        data_dir: PathBuf,
        allow_privileged: bool,
        allocatable: NodeCapacity,
        tasks: &mut JoinSet<()>,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<Changed>) {
        let (changed, receiver) = mpsc::unbounded_channel();
        let informers = Informers::new(client.clone());
        let config_maps = informers.store::<ConfigMap>();
        let secrets = informers.store::<Secret>();
        let services = informers.store::<Service>();
        let map_changes = informers.subscribe::<ConfigMap>();
        let map_deletions = informers.deletions::<ConfigMap>();
        let secret_changes = informers.subscribe::<Secret>();
        let secret_deletions = informers.deletions::<Secret>();
        let all_synced = futures_util::future::join3(
            informers.synced::<ConfigMap>(),
            informers.synced::<Secret>(),
            informers.synced::<Service>(),
        );
        let (set_synced, synced) = watch::channel(false);
        informers.start(tasks);
        tasks.spawn(async move {
            all_synced.await;
            set_synced.send_replace(true);
            // Keep the sender alive so waiters see `true` rather than a closed channel.
            std::future::pending::<()>().await;
        });
        fn key(secret: bool, meta: &ObjectMeta) -> Changed {
            Changed {
                secret,
                namespace: meta.namespace.clone().unwrap_or_default(),
                name: meta.name.clone().unwrap_or_default(),
            }
        }
        let maps = map_changes.map(|o| key(false, &o.metadata));
        let maps_gone = map_deletions.map(|o| key(false, &o.metadata));
        let secrets_seen = secret_changes.map(|o| key(true, &o.metadata));
        let secrets_gone = secret_deletions.map(|o| key(true, &o.metadata));
        let mut all = futures_util::stream::select_all([
            maps.boxed(),
            maps_gone.boxed(),
            secrets_seen.boxed(),
            secrets_gone.boxed(),
        ]);
        tasks.spawn(async move {
            while let Some(change) = all.next().await {
                if changed.send(change).is_err() {
                    return;
                }
            }
        });
        let sources = Arc::new(Self {
            client,
            config_maps,
            secrets,
            services,
            synced,
            data_dir,
            allow_privileged,
            allocatable,
            writing: Mutex::new(()),
        });
        (sources, receiver)
    }

    /// Waits until every cache holds its first list, so "not found" means not found.
    pub(crate) async fn synced(&self) {
        let mut synced = self.synced.clone();
        let _ = synced.wait_for(|done| *done).await;
    }

    /// `<data_dir>/pods/<uid>`: everything the agent keeps for one pod.
    pub(crate) fn pod_dir(&self, uid: &str) -> PathBuf {
        self.data_dir.join("pods").join(uid)
    }
}

impl Lookup for Sources {
    fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>> {
        self.config_maps
            .get(&ObjectRef::new(name).within(namespace))
    }

    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.secrets.get(&ObjectRef::new(name).within(namespace))
    }

    fn services(&self, namespace: &str) -> Vec<Arc<Service>> {
        self.services
            .state()
            .into_iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
            .collect()
    }
}
