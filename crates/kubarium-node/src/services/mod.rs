//! The services controller: kube-proxy, CoreDNS and an ingress controller, the Kubarium way.
//!
//! [`ServiceProxy`] watches Services, EndpointSlices, Ingresses, IngressClasses and
//! `kubernetes.io/tls` Secrets (its own caches; it is a `kube::Client` user like any
//! controller) and keeps the data plane's units ([`DataPlane`]) as they say: one proxy per
//! Service with a cluster IP (`proxy.rs`), one DNS server (`dns.rs`), one ingress controller
//! (`ingress.rs`). Renderers are pure; this module decides when to run them.
//!
//! A change marks the units it affects. A marked unit waits [`DEBOUNCE`] so a burst of
//! changes (a rollout's slices) becomes one apply, then is rendered from the caches as they
//! are then and applied when it differs from what was last applied. Units apply
//! concurrently; one unit never runs twice at once (a mark while it runs queues one more
//! run). A failure is retried with back-off and reported as an event (`status.rs`). At start,
//! once the caches hold their first lists, every unit the plane has is checked, so a unit
//! whose Service went while the controller was down is removed.

mod dns;
mod hollow;
mod ingress;
mod proxy;
mod status;
mod sync;
#[cfg(test)]
mod testing;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kubarium_controllers::events::Recorder;
use kubarium_controllers::informers::Informers;
use kubarium_controllers::objects::Objects;
use kubarium_controllers::watch::Watched;
use kube::Client;
use kube::api::PostParams;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use hollow::{HollowPlane, HollowUnit};
pub use ingress::{CLASS_NAME as INGRESS_CLASS, CONTROLLER as INGRESS_CONTROLLER};

use crate::network::NetworkPlan;
use crate::network::plane::{Applied, DataPlane, UnitKey, UnitSpec};
use crate::{Error, Result};

/// How long a marked unit waits for more changes before it is applied: short enough that a
/// pod turning unready stops getting traffic well within a second.
const DEBOUNCE: Duration = Duration::from_millis(30);
/// The first retry after a failure; doubled up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// The longest wait between retries.
const RETRY_MAX: Duration = Duration::from_secs(30);
/// A failing unit that is marked again waits at least this long after its last try.
const RETRY_MARKED: Duration = Duration::from_secs(1);
/// Units being applied at once: a cluster starting with many Services does not ask the
/// engine for a hundred containers in the same instant.
const CONCURRENCY: usize = 16;
/// Every unit is applied anew this often, so a unit the engine lost (Docker restarted) comes
/// back without a change to its objects.
const RESYNC: Duration = Duration::from_secs(300);

/// What the services controller is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicesConfig {
    /// The cluster network's layout (where the DNS and ingress units live); `None` on hollow
    /// clusters, whose units have no address.
    pub plan: Option<NetworkPlan>,
    /// The cluster's DNS domain, `cluster.local`.
    pub cluster_domain: String,
    /// The host port (on 127.0.0.1) Ingresses are served on over HTTP; 0 lets the engine
    /// choose.
    pub ingress_http_port: u16,
    /// The same for HTTPS.
    pub ingress_https_port: u16,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self {
            plan: None,
            cluster_domain: "cluster.local".to_owned(),
            ingress_http_port: 8080,
            ingress_https_port: 8443,
        }
    }
}

/// The running services controller. Dropping it stops it where it is; units keep running
/// (they go with the cluster's containers).
pub struct ServiceProxy {
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for ServiceProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProxy").finish_non_exhaustive()
    }
}

/// What the controller remembers of one unit. A unit with no entry does not exist: it was
/// never applied since the start, nor listed by the plane at the start.
#[derive(Default)]
struct Memory {
    /// What was last applied, and how it runs.
    applied: Option<(UnitSpec, Applied)>,
    /// The last failure's message while the unit fails.
    failing: Option<String>,
}

/// Everything the controller's tasks share.
struct Inner {
    client: Client,
    plane: Arc<dyn DataPlane>,
    config: ServicesConfig,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    ingresses: Store<Ingress>,
    classes: Store<IngressClass>,
    secrets: Store<Secret>,
    service_events: Recorder,
    ingress_events: Recorder,
    memory: Mutex<HashMap<UnitKey, Memory>>,
    /// Bounds the units applied at once.
    applying: tokio::sync::Semaphore,
    /// Served Ingresses by uid, with the generation last announced by a `Sync` event.
    announced: Mutex<HashMap<String, Option<i64>>>,
    /// Warnings already recorded, `(ingress uid, message)`, so a re-render does not repeat
    /// them.
    warned: Mutex<HashSet<(String, String)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ServiceProxy {
    /// Makes sure the IngressClass `kubarium` exists, then starts watching and applying.
    /// Must be called inside a Tokio runtime.
    pub async fn start(
        client: Client,
        plane: Arc<dyn DataPlane>,
        config: ServicesConfig,
    ) -> Result<Self> {
        ensure_ingress_class(&client).await?;
        let mut tasks = JoinSet::new();
        let informers = Informers::new(client.clone());
        let services = informers.store::<Service>();
        let slices = informers.store::<EndpointSlice>();
        let ingresses = informers.store::<Ingress>();
        let classes = informers.store::<IngressClass>();
        let changes = futures_util::stream::select_all([
            informers
                .subscribe::<Service>()
                .map(Change::Service)
                .boxed(),
            informers
                .deletions::<Service>()
                .map(Change::Service)
                .boxed(),
            informers
                .subscribe::<EndpointSlice>()
                .map(Change::Slice)
                .boxed(),
            informers
                .deletions::<EndpointSlice>()
                .map(Change::Slice)
                .boxed(),
            informers
                .subscribe::<Ingress>()
                .map(|_| Change::Ingress)
                .boxed(),
            informers
                .deletions::<Ingress>()
                .map(|_| Change::Ingress)
                .boxed(),
            informers
                .subscribe::<IngressClass>()
                .map(|_| Change::Ingress)
                .boxed(),
            informers
                .deletions::<IngressClass>()
                .map(|_| Change::Ingress)
                .boxed(),
        ]);
        let synced = futures_util::future::join4(
            informers.synced::<Service>(),
            informers.synced::<EndpointSlice>(),
            informers.synced::<Ingress>(),
            informers.synced::<IngressClass>(),
        );
        let (marks, marked) = mpsc::unbounded_channel();
        let (secrets, secrets_writer) = reflector::store::<Secret>();
        let (secrets_listed, mut secrets_synced) = watch::channel(false);
        tasks.spawn(watch_tls_secrets(
            client.clone(),
            secrets_writer,
            marks.clone(),
            secrets_listed,
        ));
        informers.start(&mut tasks);
        let inner = Arc::new(Inner {
            service_events: Recorder::new(client.clone(), "service-controller"),
            ingress_events: Recorder::new(client.clone(), "kubarium-ingress-controller"),
            client,
            plane,
            config,
            services,
            slices,
            ingresses,
            classes,
            secrets,
            memory: Mutex::new(HashMap::new()),
            applying: tokio::sync::Semaphore::new(CONCURRENCY),
            announced: Mutex::new(HashMap::new()),
            warned: Mutex::new(HashSet::new()),
        });
        tasks.spawn(follow(inner.clone(), changes, marks.clone()));
        let all_synced = async move {
            synced.await;
            let _ = secrets_synced.wait_for(|done| *done).await;
        };
        tasks.spawn(schedule(inner.clone(), marked, all_synced));
        tasks.spawn(resync(inner, marks));
        Ok(Self { tasks })
    }

    /// Stops watching and applying; the units stay as they are.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }
}

/// Creates the IngressClass `kubarium`, the default, unless it exists.
async fn ensure_ingress_class(client: &Client) -> Result<()> {
    let api = Objects::<IngressClass>::all(client.clone());
    match api
        .create(&PostParams::default(), &ingress::default_class())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(error) => Err(Error::api(
            "create",
            format!("ingressclasses/{}", ingress::CLASS_NAME),
        )(error)),
    }
}

/// The TLS Secrets, and only those (`type=kubernetes.io/tls`): the others are none of the
/// controller's business and may be many. Each change marks the ingress unit.
async fn watch_tls_secrets(
    client: Client,
    writer: reflector::store::Writer<Secret>,
    marks: mpsc::UnboundedSender<UnitKey>,
    listed: watch::Sender<bool>,
) {
    let config = watcher::Config::default().fields("type=kubernetes.io/tls");
    let stream = Secret::watch(client, config).reflect(writer);
    futures_util::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                listed.send_replace(true);
                let _ = marks.send(UnitKey::Ingress);
            }
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                let _ = marks.send(UnitKey::Ingress);
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "watch of TLS Secrets failed; retrying"),
        }
    }
}

/// A change the controller hears of.
enum Change {
    Service(Arc<Service>),
    Slice(Arc<EndpointSlice>),
    Ingress,
}

/// Marks the units each change affects.
async fn follow(
    inner: Arc<Inner>,
    mut changes: impl futures_util::Stream<Item = Change> + Unpin,
    marks: mpsc::UnboundedSender<UnitKey>,
) {
    while let Some(change) = changes.next().await {
        let mut keys = Vec::with_capacity(3);
        match change {
            Change::Service(service) => {
                keys.push(proxy::unit_key(&service));
                keys.push(UnitKey::Dns);
                keys.push(UnitKey::Ingress);
            }
            Change::Slice(slice) => {
                if let Some((namespace, name)) = dns::slice_service(&slice) {
                    let reference = ObjectRef::new(name).within(namespace);
                    if let Some(service) = inner.services.get(&reference) {
                        keys.push(proxy::unit_key(&service));
                    }
                }
                keys.push(UnitKey::Dns);
                keys.push(UnitKey::Ingress);
            }
            Change::Ingress => keys.push(UnitKey::Ingress),
        }
        for key in keys {
            if marks.send(key).is_err() {
                return;
            }
        }
    }
}

/// Every [`RESYNC`], and whenever the plane's engine comes back (Docker restarted: the units
/// stopped with it), forgets what was applied and marks every unit, so each is applied anew.
async fn resync(inner: Arc<Inner>, marks: mpsc::UnboundedSender<UnitKey>) {
    let mut timer = tokio::time::interval_at(Instant::now() + RESYNC, RESYNC);
    let mut ready = inner.plane.watch_ready();
    loop {
        match ready.as_mut() {
            Some(ready) => tokio::select! {
                _ = timer.tick() => {}
                changed = ready.changed() => {
                    if changed.is_err() || !*ready.borrow_and_update() {
                        continue;
                    }
                    tracing::info!("the data plane's engine is back: applying every unit again");
                }
            },
            None => {
                timer.tick().await;
            }
        }
        let keys: Vec<UnitKey> = {
            let mut memory = lock(&inner.memory);
            for unit in memory.values_mut() {
                unit.applied = None;
            }
            memory.keys().cloned().collect()
        };
        for key in keys {
            if marks.send(key).is_err() {
                return;
            }
        }
    }
}

/// The work queue: debounces marks per unit, runs units concurrently but each alone, and
/// retries failures with back-off. Runs nothing before `synced`, so "not in the cache"
/// means gone; then checks every unit the plane has.
async fn schedule(
    inner: Arc<Inner>,
    mut marked: mpsc::UnboundedReceiver<UnitKey>,
    synced: impl Future<Output = ()>,
) {
    synced.await;
    let mut due: HashMap<UnitKey, Instant> = HashMap::new();
    let now = Instant::now();
    due.insert(UnitKey::Dns, now);
    due.insert(UnitKey::Ingress, now);
    match inner.plane.units().await {
        Ok(units) => {
            let mut memory = lock(&inner.memory);
            for key in units {
                memory.entry(key.clone()).or_default();
                due.insert(key, now);
            }
        }
        Err(error) => {
            tracing::warn!(%error, "could not list the data plane's units; units of Services deleted meanwhile stay until the next restart")
        }
    }
    let mut running: HashSet<UnitKey> = HashSet::new();
    let mut again: HashSet<UnitKey> = HashSet::new();
    let mut failures: HashMap<UnitKey, (u32, Instant)> = HashMap::new();
    let mut workers: JoinSet<(UnitKey, bool)> = JoinSet::new();
    loop {
        let next = due.values().min().copied();
        tokio::select! {
            mark = marked.recv() => {
                let Some(key) = mark else { return };
                if running.contains(&key) {
                    again.insert(key);
                    continue;
                }
                let mut at = Instant::now() + DEBOUNCE;
                if let Some((_, last)) = failures.get(&key) {
                    at = at.max(*last + RETRY_MARKED);
                }
                let entry = due.entry(key).or_insert(at);
                *entry = (*entry).min(at);
            }
            () = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                let now = Instant::now();
                let ready: Vec<UnitKey> = due
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .map(|(key, _)| key.clone())
                    .collect();
                for key in ready {
                    due.remove(&key);
                    running.insert(key.clone());
                    let inner = inner.clone();
                    workers.spawn(async move {
                        let ok = sync::sync(&inner, &key).await;
                        (key, ok)
                    });
                }
            }
            Some(done) = workers.join_next() => {
                let Ok((key, ok)) = done else { continue };
                running.remove(&key);
                let now = Instant::now();
                if ok {
                    failures.remove(&key);
                } else {
                    let (count, last) = failures.entry(key.clone()).or_insert((0, now));
                    *count += 1;
                    *last = now;
                    let wait = RETRY_FIRST
                        .saturating_mul(1 << (*count - 1).min(16))
                        .min(RETRY_MAX);
                    due.insert(key.clone(), now + wait);
                }
                if again.remove(&key) {
                    let mut at = now + DEBOUNCE;
                    if !ok {
                        at = at.max(now + RETRY_MARKED);
                    }
                    let entry = due.entry(key).or_insert(at);
                    *entry = (*entry).min(at);
                }
            }
        }
    }
}
