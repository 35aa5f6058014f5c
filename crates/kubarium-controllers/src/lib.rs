//! Kubarium's control plane loops: the scheduler and kube-controller-manager's controllers.
//!
//! Every loop is a `kube::Client` user, never a store user: it watches through shared
//! informers ([`informers`]), reconciles toward the desired state with ordinary API requests,
//! and records what it did as events ([`events`]), with upstream's conditions, reasons and
//! messages so `kubectl describe` and `kubectl rollout status` read as on any cluster.
//!
//! [`ControlPlane::start`] sets every loop up, then starts the informers they asked for.

mod error;
pub mod events;
pub mod informers;

mod claim;
mod cronjob;
mod daemonset;
mod deployment;
mod disruption;
mod endpoints;
mod garbage;
mod history;
mod job;
mod namespace;
mod nodelifecycle;
pub mod objects;
mod podstate;
pub mod quantity;
mod replicaset;
pub mod scheduler;
mod statefulset;
mod volumes;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::task::JoinSet;

pub use error::{Error, Result};
use events::Recorder;
use informers::Informers;

/// How the control plane behaves where upstream has flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a node's Lease may go unrenewed before the node is marked NotReady
    /// (kube-controller-manager's `--node-monitor-grace-period`; 20 s here).
    pub node_monitor_grace: Duration,
    /// How long pods tolerate a not-ready or unreachable node before they are evicted: the
    /// `tolerationSeconds` given to pods that set none (upstream's 300 s is too long to
    /// watch; 30 s here).
    pub default_toleration_seconds: i64,
    /// Where the local volume provisioner makes the directories behind PersistentVolumes.
    pub volumes_dir: PathBuf,
    /// The cluster CA certificate (PEM) published in every namespace as the `ca.crt` key of
    /// the `kube-root-ca.crt` ConfigMap; none, none published.
    pub ca_pem: Option<String>,
}

impl Config {
    /// The defaults, with volumes under `volumes_dir`.
    pub fn new(volumes_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_monitor_grace: Duration::from_secs(20),
            default_toleration_seconds: 30,
            volumes_dir: volumes_dir.into(),
            ca_pem: None,
        }
    }
}

/// What every loop is set up with.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) client: Client,
    pub(crate) informers: Arc<Informers>,
    pub(crate) config: Arc<Config>,
}

impl Context {
    /// A recorder for events from `component`.
    pub(crate) fn recorder(&self, component: &str) -> Recorder {
        Recorder::new(self.client.clone(), component)
    }
}

/// The running loops. Dropping it stops them.
pub struct ControlPlane {
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl ControlPlane {
    /// Sets up the scheduler and every controller on `informers`, then starts them. The
    /// controllers write through the informers' client, the scheduler through `scheduler`:
    /// each is its own field manager, as kube-controller-manager and kube-scheduler are.
    /// Whoever shares the informers (the node pool follows the pods through them) subscribes
    /// first. Must be called inside a Tokio runtime.
    pub fn start(informers: Arc<Informers>, scheduler: Client, config: Config) -> Self {
        let ctx = Context {
            client: informers.client().clone(),
            informers,
            config: Arc::new(config),
        };
        let mut tasks = JoinSet::new();
        let scheduling = Context {
            client: scheduler,
            ..ctx.clone()
        };
        scheduler::start(&scheduling, &mut tasks);
        replicaset::start(&ctx, &mut tasks);
        deployment::start(&ctx, &mut tasks);
        statefulset::start(&ctx, &mut tasks);
        daemonset::start(&ctx, &mut tasks);
        disruption::start(&ctx, &mut tasks);
        job::start(&ctx, &mut tasks);
        cronjob::start(&ctx, &mut tasks);
        endpoints::start(&ctx, &mut tasks);
        namespace::start(&ctx, &mut tasks);
        garbage::start(&ctx, &mut tasks);
        volumes::start(&ctx, &mut tasks);
        nodelifecycle::start(&ctx, &mut tasks);
        ctx.informers.start(&mut tasks);
        Self { tasks }
    }

    /// Stops every loop. Requests in flight are abandoned; each loop's next start picks up
    /// from the cluster's state, as after any restart.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }
}
