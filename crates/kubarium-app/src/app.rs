//! The app's state behind every command: the clusters it knows and what runs for the UI
//! (watches, log streams, exec sessions, port-forwards), each stoppable by its id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::AbortHandle;

use crate::ipc::resources::StreamId;
use crate::streams::Streams;
use crate::{Error, LocalCluster, Result};

/// The id of the cluster embedded in the app.
pub const LOCAL: &str = "local";

/// Everything a command can reach.
pub struct App {
    local: Arc<LocalCluster>,
    tasks: Tasks,
    streams: Streams,
}

impl App {
    pub fn new(local: Arc<LocalCluster>) -> Self {
        Self {
            local,
            tasks: Tasks::default(),
            streams: Streams::default(),
        }
    }

    /// The embedded cluster.
    pub fn local(&self) -> &Arc<LocalCluster> {
        &self.local
    }

    /// A client for the cluster with this id ([`LOCAL`] for the embedded one).
    pub async fn client(&self, cluster: &str) -> Result<kube::Client> {
        match cluster {
            LOCAL => self.local.client().await,
            other => Err(Error::UnknownCluster(other.to_owned())),
        }
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
