//! The app's state behind every command: the clusters it knows (the local one, then the
//! remote ones) and what runs for the UI (watches, log streams, exec sessions,
//! port-forwards), each stoppable by its id.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt as _;
use futures_util::future::select_all;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::clusters::{
    ClusterSource, InMemoryClusters, Keychain, PromptDir, Registry, Remote, Unlisted, export,
};
use crate::ipc::ClusterStatus;
use crate::ipc::clusters::{
    AccessCheck, AuthKind, ClusterEntry, KeychainInfo, KubeconfigPreview, KubeconfigSource,
    ManualCluster, MergeOutcome,
};
use crate::ipc::resources::StreamId;
use crate::streams::Streams;
use crate::{Error, LocalCluster, Result};

/// The id of the cluster embedded in the app.
pub const LOCAL: &str = "local";

/// Everything a command can reach.
pub struct App {
    local: Arc<LocalCluster>,
    source: Arc<dyn ClusterSource>,
    /// The remote clusters connected to, in the list's order.
    remotes: Arc<Mutex<Vec<Arc<Remote>>>>,
    /// Bumped whenever the list of remote clusters changes.
    listed: watch::Sender<u64>,
    tasks: Tasks,
    streams: Streams,
    /// Where remote clusters' exec plugins write their stderr, to be shown while they run;
    /// `None` shows no prompts (tests, or a directory that could not be made).
    prompts: Option<PromptDir>,
}

impl App {
    /// The app with the local cluster and the remote clusters listed in `config_dir`, their
    /// credentials in the session's keychain. A list that cannot be read is logged and
    /// left alone (the app starts with the local cluster only and never overwrites it).
    /// Must run inside a Tokio runtime.
    pub fn new(local: Arc<LocalCluster>, config_dir: &Path) -> Self {
        // The registry logs which keychain it has, or why none.
        let keychain = Keychain::open().map_err(|e| e.to_string());
        let source: Arc<dyn ClusterSource> = match Registry::open(config_dir, keychain) {
            Ok(registry) => Arc::new(registry),
            Err(error) => {
                tracing::error!(%error, "the list of remote clusters could not be read");
                Arc::new(Unlisted(error.to_string()))
            }
        };
        let dir = config_dir.join("plugin-output");
        let prompts = PromptDir::open(dir.clone())
            .inspect_err(|error| {
                tracing::warn!(dir = %dir.display(), %error, "no private directory for exec plugins' output; their prompts are not shown");
            })
            .ok();
        Self::build(local, source, prompts)
    }

    /// The app with the local cluster only (tests).
    pub fn local_only(local: Arc<LocalCluster>) -> Self {
        Self::with_clusters(local, Arc::new(InMemoryClusters::default()))
    }

    /// The app with the local cluster and the remote ones `source` lists, each probed from
    /// now on. Must run inside a Tokio runtime.
    pub fn with_clusters(local: Arc<LocalCluster>, source: Arc<dyn ClusterSource>) -> Self {
        Self::build(local, source, None)
    }

    fn build(
        local: Arc<LocalCluster>,
        source: Arc<dyn ClusterSource>,
        prompts: Option<PromptDir>,
    ) -> Self {
        let app = Self {
            local,
            source,
            prompts,
            remotes: Arc::default(),
            listed: watch::Sender::new(0),
            tasks: Tasks::default(),
            streams: Streams::default(),
        };
        app.refresh_clusters(&[]);
        app
    }

    /// Brings the connected remote clusters in line with the source's list: connects new
    /// ones, drops removed ones, and reconnects those in `replaced` (imported again with new
    /// credentials). Call after every change to the list.
    fn refresh_clusters(&self, replaced: &[String]) {
        let entries = self.source.entries();
        let mut remotes = self.remotes.lock().unwrap_or_else(|e| e.into_inner());
        let mut old: Vec<Arc<Remote>> = std::mem::take(&mut *remotes);
        for entry in entries {
            let kept = old
                .iter()
                .position(|r| r.entry == entry && !replaced.contains(&entry.id))
                .map(|i| old.swap_remove(i));
            remotes.push(kept.unwrap_or_else(|| {
                Remote::start(entry, Arc::clone(&self.source), self.prompts.as_ref())
            }));
        }
        for gone in old {
            gone.stop();
        }
        drop(remotes);
        self.listed.send_modify(|n| *n += 1);
    }

    /// Runs `call` on the cluster list on a blocking thread (it may wait for the keychain).
    async fn on_source<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn ClusterSource) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let source = Arc::clone(&self.source);
        tokio::task::spawn_blocking(move || call(source.as_ref()))
            .await
            .map_err(|e| Error::Local(format!("the cluster list could not be read: {e}")))?
    }

    /// The keychain remote clusters' credentials are kept in, or why there is none.
    pub async fn keychain_info(&self) -> KeychainInfo {
        self.on_source(|source| Ok(source.keychain_info()))
            .await
            .unwrap_or_else(|error| KeychainInfo {
                store: None,
                problem: Some(format!("The keychain could not be asked: {error}.")),
            })
    }

    /// What a kubeconfig holds, before anything is imported.
    pub async fn preview_kubeconfig(&self, source: KubeconfigSource) -> Result<KubeconfigPreview> {
        self.on_source(move |s| s.preview(&source)).await
    }

    /// Imports these contexts of a kubeconfig (credentials to the keychain) and connects to
    /// them; one imported again replaces the old one, and is reconnected.
    pub async fn import_kubeconfig(
        &self,
        source: KubeconfigSource,
        contexts: Vec<String>,
    ) -> Result<Vec<ClusterEntry>> {
        let imported = self
            .on_source(move |s| s.import(&source, &contexts))
            .await?;
        let ids: Vec<String> = imported.iter().map(|e| e.id.clone()).collect();
        self.refresh_clusters(&ids);
        Ok(imported)
    }

    /// Adds a cluster entered by hand (credentials to the keychain) and connects to it.
    pub async fn add_cluster(&self, cluster: ManualCluster) -> Result<ClusterEntry> {
        let added = self.on_source(move |s| s.add(cluster)).await?;
        self.refresh_clusters(std::slice::from_ref(&added.id));
        Ok(added)
    }

    /// Removes a remote cluster: its credentials leave the keychain, its connection ends.
    pub async fn remove_cluster(&self, id: &str) -> Result<()> {
        if id == LOCAL {
            return Err(Error::Local(
                "the local cluster cannot be removed; stop or reset it instead".to_owned(),
            ));
        }
        self.remote(id)?;
        let owned = id.to_owned();
        self.on_source(move |s| s.remove(&owned)).await?;
        self.refresh_clusters(&[]);
        Ok(())
    }

    /// Every cluster: the local one first, then the remote ones in the order added.
    pub fn entries(&self) -> Vec<ClusterEntry> {
        let local = self.local.status();
        let mut entries = vec![ClusterEntry {
            id: LOCAL.to_owned(),
            name: local.name,
            local: true,
            server: local.server_url.unwrap_or_default(),
            auth: AuthKind::Token,
            namespace: Some("default".to_owned()),
        }];
        entries.extend(self.remote_list().iter().map(|r| r.entry.clone()));
        entries
    }

    fn remote_list(&self) -> Vec<Arc<Remote>> {
        self.remotes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn remote(&self, id: &str) -> Result<Arc<Remote>> {
        self.remote_list()
            .into_iter()
            .find(|r| r.entry.id == id)
            .ok_or_else(|| Error::UnknownCluster(id.to_owned()))
    }

    /// Every cluster's status now: the local one first.
    pub fn statuses(&self) -> Vec<ClusterStatus> {
        let mut statuses = vec![self.local.status()];
        statuses.extend(
            self.remote_list()
                .iter()
                .map(|r| r.subscribe().borrow().clone()),
        );
        statuses
    }

    /// Sends every cluster's status (local first), then again on every change of any of
    /// them or of the list, to `sink` until it returns `false` (the UI went away). Spawn the
    /// returned future.
    pub fn watch_statuses(
        &self,
        mut sink: impl FnMut(Vec<ClusterStatus>) -> bool + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let local = Arc::clone(&self.local);
        let remotes = Arc::clone(&self.remotes);
        let mut listed = self.listed.subscribe();
        async move {
            loop {
                listed.borrow_and_update();
                let current = remotes.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let mut receivers: Vec<_> = std::iter::once(local.subscribe())
                    .chain(current.iter().map(|r| r.subscribe()))
                    .collect();
                let statuses: Vec<ClusterStatus> = receivers
                    .iter_mut()
                    .map(|rx| rx.borrow_and_update().clone())
                    .collect();
                if !sink(statuses) {
                    break;
                }
                let changes = receivers
                    .iter_mut()
                    .map(|rx| rx.changed().boxed())
                    .chain(std::iter::once(listed.changed().boxed()));
                // Every sender is gone only when the app is: nothing more to send.
                let (result, _, _) = select_all(changes).await;
                if result.is_err() {
                    break;
                }
            }
        }
    }

    /// Tries a remote cluster again now instead of after its back-off (the user asked, or
    /// switched to it); nothing to do for the local cluster, probed every 2 s.
    pub fn retry_cluster(&self, cluster: &str) -> Result<()> {
        match cluster {
            LOCAL => Ok(()),
            other => {
                self.remote(other)?.retry_now();
                Ok(())
            }
        }
    }

    /// The embedded cluster.
    pub fn local(&self) -> &Arc<LocalCluster> {
        &self.local
    }

    /// A client for the cluster with this id ([`LOCAL`] for the embedded one). For a remote
    /// cluster the first call connects (reading its credentials, running its exec plugin).
    pub async fn client(&self, cluster: &str) -> Result<kube::Client> {
        match cluster {
            LOCAL => self.local.client().await,
            other => self.remote(other)?.client().await,
        }
    }

    /// `error` from a request to `cluster`, explained: for a remote cluster, unreachable,
    /// TLS (with the certificate's fingerprint), 401 or its exec plugin's failure.
    pub async fn explain(&self, cluster: &str, error: kube::Error) -> Error {
        match self.remote(cluster) {
            Ok(remote) => remote.explain(error).await,
            Err(_) => Error::Kube(error),
        }
    }

    /// Whether the user may do each of `checks` on `cluster` (SelfSubjectAccessReview).
    pub async fn can_i(&self, cluster: &str, checks: Vec<AccessCheck>) -> Result<Vec<bool>> {
        let client = self.client(cluster).await?;
        Ok(crate::clusters::can_i(client, checks).await)
    }

    /// The local cluster's kubeconfig as text, to copy (it holds the admin token).
    pub async fn local_kubeconfig(&self) -> Result<String> {
        export::yaml(&self.local.kubeconfig().await?)
    }

    /// Writes the local cluster's kubeconfig to a new file at `path` (a leading `~/` is the
    /// home folder); returns the path written. Never overwrites.
    pub async fn export_local_kubeconfig(&self, path: &str) -> Result<String> {
        export::export(&self.local.kubeconfig().await?, path)
    }

    /// The kubeconfig a merge writes: the one kubectl reads first (the first `KUBECONFIG`
    /// path, else `~/.kube/config`), for the confirmation to name it.
    pub fn kubeconfig_merge_target(&self) -> Result<String> {
        Ok(export::user_kubeconfig_path()?.display().to_string())
    }

    /// Adds the local cluster as context `kubarium` to `path`, after backing it up. `path` is
    /// what [`App::kubeconfig_merge_target`] named when the user confirmed; a different
    /// target now (`KUBECONFIG` changed since) is refused rather than written.
    pub async fn merge_local_kubeconfig(&self, path: &str) -> Result<MergeOutcome> {
        let target = export::user_kubeconfig_path()?;
        if target.as_os_str() != path {
            return Err(Error::Local(format!(
                "the kubeconfig to merge into is now {} rather than {path}; nothing was written, merge again to confirm the new file",
                target.display()
            )));
        }
        let kubeconfig = self.local.kubeconfig().await?;
        export::merge(&kubeconfig, &target)
    }

    /// A client for requests that upgrade the connection (exec, port-forward): for the
    /// embedded cluster one over its socket ([`LocalCluster::network_client`]).
    pub async fn upgrading_client(&self, cluster: &str) -> Result<kube::Client> {
        match cluster {
            LOCAL => self.local.network_client().await,
            other => self.client(other).await,
        }
    }

    /// What runs for the UI.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// The running exec sessions and port-forwards (their tasks are in [`App::tasks`]).
    pub fn streams(&self) -> &Streams {
        &self.streams
    }
}

/// Background tasks the UI started (watches, streams), by id, so it can stop them.
#[derive(Default)]
pub struct Tasks {
    next: AtomicU64,
    running: Mutex<HashMap<StreamId, AbortHandle>>,
}

impl Tasks {
    /// Runs `task` until it ends or [`Tasks::stop`] is called with the returned id.
    /// Must run inside a Tokio runtime.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> StreamId {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = tokio::spawn(task).abort_handle();
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|_, task| !task.is_finished());
        running.insert(id, handle);
        id
    }

    /// Stops a task; stopping one that already ended is not an error.
    pub fn stop(&self, id: StreamId) {
        let task = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        if let Some(task) = task {
            task.abort();
        }
    }

    /// Stops every task (the app is quitting, or the cluster went away).
    pub fn stop_all(&self) {
        let tasks: Vec<_> = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for (_, task) in tasks {
            task.abort();
        }
    }
}
