//! The remote clusters the app is connected to: one per entry of the cluster list, each with
//! a cached client (built from its kubeconfig, which is filled in from the keychain and kept
//! in memory only) and a probe keeping its status current.

use std::sync::{Arc, Mutex};

use kube::config::Kubeconfig;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::connect::{self, Endpoint};
use super::prompt::{self, PluginOutput, PromptDir};
use crate::ipc::ClusterStatus;
use crate::ipc::clusters::{
    AuthKind, ClusterEntry, KeychainInfo, KubeconfigPreview, KubeconfigSource, ManualCluster,
};
use crate::{Error, Result, probe};

/// What the app needs of the list of remote clusters: the registry of imported clusters
/// (`Registry`, with their credentials in the keychain), or a list held in memory in tests.
/// Calls may block (the keychain), so the app makes them on a blocking thread.
pub trait ClusterSource: Send + Sync + 'static {
    /// The remote clusters, in the order they were added.
    fn entries(&self) -> Vec<ClusterEntry>;
    /// The kubeconfig of one, with one context and its secrets filled in (in memory only).
    fn kubeconfig(&self, id: &str) -> Result<Kubeconfig>;
    /// The keychain credentials are kept in.
    fn keychain_info(&self) -> KeychainInfo;
    /// What a kubeconfig holds, before importing.
    fn preview(&self, source: &KubeconfigSource) -> Result<KubeconfigPreview>;
    /// Imports these contexts of a kubeconfig; a name already listed is replaced.
    fn import(&self, source: &KubeconfigSource, contexts: &[String]) -> Result<Vec<ClusterEntry>>;
    /// Adds a cluster entered by hand.
    fn add(&self, cluster: ManualCluster) -> Result<ClusterEntry>;
    /// Removes a cluster and its credentials.
    fn remove(&self, id: &str) -> Result<()>;
}

impl ClusterSource for super::Registry {
    fn entries(&self) -> Vec<ClusterEntry> {
        super::Registry::entries(self)
    }
    fn kubeconfig(&self, id: &str) -> Result<Kubeconfig> {
        super::Registry::kubeconfig(self, id)
    }
    fn keychain_info(&self) -> KeychainInfo {
        super::Registry::keychain_info(self)
    }
    fn preview(&self, source: &KubeconfigSource) -> Result<KubeconfigPreview> {
        super::Registry::preview(self, source)
    }
    fn import(&self, source: &KubeconfigSource, contexts: &[String]) -> Result<Vec<ClusterEntry>> {
        super::Registry::import(self, source, contexts)
    }
    fn add(&self, cluster: ManualCluster) -> Result<ClusterEntry> {
        super::Registry::add(self, cluster)
    }
    fn remove(&self, id: &str) -> Result<()> {
        super::Registry::remove(self, id)
    }
}

/// A fixed list of clusters with their kubeconfigs, held in memory (tests).
#[derive(Default)]
pub struct InMemoryClusters {
    clusters: Mutex<Vec<(ClusterEntry, Kubeconfig)>>,
}

impl InMemoryClusters {
    /// Adds a cluster, or replaces the one with the same id.
    pub fn insert(&self, entry: ClusterEntry, kubeconfig: Kubeconfig) {
        let mut clusters = self.clusters.lock().unwrap_or_else(|e| e.into_inner());
        match clusters.iter_mut().find(|(e, _)| e.id == entry.id) {
            Some(slot) => *slot = (entry, kubeconfig),
            None => clusters.push((entry, kubeconfig)),
        }
    }

    /// Forgets a cluster.
    pub fn remove(&self, id: &str) {
        let mut clusters = self.clusters.lock().unwrap_or_else(|e| e.into_inner());
        clusters.retain(|(e, _)| e.id != id);
    }
}

/// Why an [`InMemoryClusters`] cannot import: it has no keychain.
const NO_IMPORT: &str = "this cluster list is held in memory and has no keychain to keep credentials in, so nothing can be imported into it";

impl ClusterSource for InMemoryClusters {
    fn keychain_info(&self) -> KeychainInfo {
        KeychainInfo {
            store: None,
            problem: Some(format!("{NO_IMPORT}.")),
        }
    }

    fn preview(&self, _source: &KubeconfigSource) -> Result<KubeconfigPreview> {
        Err(Error::Local(NO_IMPORT.to_owned()))
    }

    fn import(
        &self,
        _source: &KubeconfigSource,
        _contexts: &[String],
    ) -> Result<Vec<ClusterEntry>> {
        Err(Error::Local(NO_IMPORT.to_owned()))
    }

    fn add(&self, _cluster: ManualCluster) -> Result<ClusterEntry> {
        Err(Error::Local(NO_IMPORT.to_owned()))
    }

    fn remove(&self, id: &str) -> Result<()> {
        InMemoryClusters::remove(self, id);
        Ok(())
    }

    fn entries(&self) -> Vec<ClusterEntry> {
        let clusters = self.clusters.lock().unwrap_or_else(|e| e.into_inner());
        clusters.iter().map(|(e, _)| e.clone()).collect()
    }

    fn kubeconfig(&self, id: &str) -> Result<Kubeconfig> {
        let clusters = self.clusters.lock().unwrap_or_else(|e| e.into_inner());
        clusters
            .iter()
            .find(|(e, _)| e.id == id)
            .map(|(_, k)| k.clone())
            .ok_or_else(|| Error::UnknownCluster(id.to_owned()))
    }
}

/// The list that could not be read (`clusters.json` unreadable): nothing is listed, and
/// nothing is imported over it; every call says why.
pub(crate) struct Unlisted(pub(crate) String);

impl Unlisted {
    fn refuse<T>(&self) -> Result<T> {
        Err(Error::Local(format!(
            "the list of remote clusters could not be read ({}); fix or move the file, then restart Kubarium",
            self.0
        )))
    }
}

impl ClusterSource for Unlisted {
    fn entries(&self) -> Vec<ClusterEntry> {
        Vec::new()
    }
    fn kubeconfig(&self, _id: &str) -> Result<Kubeconfig> {
        self.refuse()
    }
    fn keychain_info(&self) -> KeychainInfo {
        KeychainInfo {
            store: None,
            problem: self.refuse::<()>().err().map(|e| e.to_string()),
        }
    }
    fn preview(&self, _source: &KubeconfigSource) -> Result<KubeconfigPreview> {
        self.refuse()
    }
    fn import(
        &self,
        _source: &KubeconfigSource,
        _contexts: &[String],
    ) -> Result<Vec<ClusterEntry>> {
        self.refuse()
    }
    fn add(&self, _cluster: ManualCluster) -> Result<ClusterEntry> {
        self.refuse()
    }
    fn remove(&self, _id: &str) -> Result<()> {
        self.refuse()
    }
}

/// A run number no earlier connection had: a cluster imported again (new credentials, maybe
/// a new server) is a new run, so the UI starts its watches again, as after a local restart.
fn next_run() -> u32 {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

/// One remote cluster: its entry, its client once connected, its status.
pub(crate) struct Remote {
    pub(crate) entry: ClusterEntry,
    source: Arc<dyn ClusterSource>,
    /// The client and what explains its failures; `None` until the first connection.
    connection: tokio::sync::Mutex<Option<(kube::Client, Endpoint)>>,
    status: watch::Sender<ClusterStatus>,
    /// Its probe, and the follower of its exec plugin's output.
    tasks: Mutex<Vec<AbortHandle>>,
    /// Where its exec plugin's stderr goes (Unix, with a private directory), to be shown as
    /// `prompt` in its status whenever the plugin runs.
    output: Option<PluginOutput>,
    /// Held by the follower from a read of `output` to its publication (see
    /// [`prompt::follow`]).
    gate: Arc<tokio::sync::Mutex<()>>,
    /// Wakes the probe to try again now (the user asked, or switched to the cluster).
    retry: tokio::sync::Notify,
}

impl Remote {
    /// A remote cluster, probed from now on; its exec plugin's prompts are shown when
    /// `prompts` gives a directory to capture them in. Must run inside a Tokio runtime.
    pub(crate) fn start(
        entry: ClusterEntry,
        source: Arc<dyn ClusterSource>,
        prompts: Option<&PromptDir>,
    ) -> Arc<Self> {
        let run = next_run();
        let (status, _) = watch::channel(ClusterStatus::starting(
            &entry.id,
            &entry.name,
            false,
            Some(entry.server.clone()),
            run,
        ));
        let output = prompts
            .filter(|_| cfg!(unix) && entry.auth == AuthKind::Exec)
            .map(|dir| dir.file(run));
        let remote = Arc::new(Self {
            entry,
            source,
            connection: tokio::sync::Mutex::new(None),
            status,
            tasks: Mutex::new(Vec::new()),
            output,
            gate: Arc::default(),
            retry: tokio::sync::Notify::new(),
        });
        let mut tasks = vec![
            tokio::spawn(probe::run(
                probe::Target::Remote(Arc::clone(&remote)),
                probe::Pods::Remote,
                remote.status.clone(),
            ))
            .abort_handle(),
        ];
        // The plugin's prompts, live, whenever it runs: at connect, and when kube-rs runs it
        // again inside a request to renew an expiring token.
        if let Some(output) = remote.output.clone() {
            let status = remote.status.clone();
            tasks.push(
                tokio::spawn(prompt::follow(
                    output,
                    Arc::clone(&remote.gate),
                    move |prompt| {
                        status.send_if_modified(|s| {
                            let changed = s.prompt != prompt;
                            s.prompt = prompt;
                            changed
                        });
                    },
                ))
                .abort_handle(),
            );
        }
        *remote.tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
        remote
    }

    /// Its client, connecting on first use (reading its kubeconfig, running its exec plugin).
    pub(crate) async fn client(&self) -> Result<kube::Client> {
        let mut connection = self.connection.lock().await;
        if let Some((client, _)) = &*connection {
            return Ok(client.clone());
        }
        let source = Arc::clone(&self.source);
        let id = self.entry.id.clone();
        let kubeconfig = tokio::task::spawn_blocking(move || source.kubeconfig(&id))
            .await
            .map_err(|e| {
                Error::Local(format!("reading the cluster's credentials failed: {e}"))
            })??;
        let endpoint = Endpoint::of(&self.entry.name, &kubeconfig);
        let built = connect::client(&self.entry.name, kubeconfig, self.output.as_ref()).await;
        // The plugin is done: its prompt goes now, before the status can say connected (a
        // failure's message quotes what it said).
        let gate = self.gate.lock().await;
        self.status.send_if_modified(|s| s.prompt.take().is_some());
        drop(gate);
        let client = built?;
        *connection = Some((client.clone(), endpoint));
        Ok(client)
    }

    /// `error` from a request to this cluster, explained (see [`connect::explain`]).
    pub(crate) async fn explain(&self, error: kube::Error) -> Error {
        let endpoint = match &*self.connection.lock().await {
            Some((_, endpoint)) => endpoint.clone(),
            None => Endpoint {
                name: self.entry.name.clone(),
                server: self.entry.server.clone(),
                tls_server_name: None,
                exec: None,
            },
        };
        // A renewal inside a request that failed left what the plugin said in its file.
        let said = match self.output.clone() {
            Some(output) => tokio::task::spawn_blocking(move || output.read())
                .await
                .unwrap_or_default(),
            None => String::new(),
        };
        connect::explain(&endpoint, error, prompt::said(&said)).await
    }

    /// Tries to connect again now, and after a failure starts its waits between tries over.
    pub(crate) fn retry_now(&self) {
        self.retry.notify_one();
    }

    /// Returns when [`Remote::retry_now`] is called (or was, since the last return).
    pub(crate) async fn retry_requested(&self) {
        self.retry.notified().await;
    }

    /// Its status changes.
    pub(crate) fn subscribe(&self) -> watch::Receiver<ClusterStatus> {
        self.status.subscribe()
    }

    /// Stops probing it and following its plugin's output, and removes that output file.
    pub(crate) fn stop(&self) {
        for task in std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner())) {
            task.abort();
        }
        if let Some(output) = &self.output {
            output.remove();
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.stop();
    }
}
