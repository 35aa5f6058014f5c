//! Live rows for the UI: a kube-runtime `watcher` over one kind, turned into coalesced
//! [`ResourceBatch`]es — `State{syncing}`, one `Reset` after every (re-)list, then
//! `Changes` flushed at most every [`FLUSH_EVERY`] (and at once when the watch goes quiet),
//! so ten thousand pods arrive as a handful of messages.
//!
//! The loops here take a sink (`FnMut(message) -> bool`, false = the UI went away) rather
//! than a Tauri channel, so they run in plain tests; the desktop's commands spawn them as
//! tasks of [`crate::Tasks`].

mod listing;
mod object;

use std::collections::HashMap;
use std::pin::pin;
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt, TryStreamExt};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::DynamicResourceScope;
use kube::runtime::watcher::{self, Event};
use tokio::time::Instant;

pub use object::{get_object, watch_object};

use crate::catalogue::{self, Kind};
use crate::ipc::resources::{ObjectUpdate, ResourceBatch, Row, StreamId, WatchState};
use crate::ipc::{AppError, ErrorCode};
use crate::{Error, Result, rows};
use kubarium_controllers::watch::Lean;
use listing::Listing;

/// The longest a change waits before it is sent, while changes keep coming.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Events taken without waiting before a flush, so a burst already received goes in one
/// batch rather than one row first and the rest 50 ms later.
const DRAIN_AT_MOST: usize = 10_000;

/// An `Api` for `kind` in `namespace`, or across all namespaces (`None`, or any namespace
/// for a cluster-scoped kind).
pub(crate) fn api<K>(client: kube::Client, kind: &Kind, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<DynamicType = ApiResource, Scope = DynamicResourceScope>,
{
    match namespace {
        Some(namespace) if kind.info.namespaced => {
            Api::namespaced_with(client, namespace, &kind.api)
        }
        _ => Api::all_with(client, &kind.api),
    }
}

/// A watcher error as the UI shows it, saying the watch keeps retrying.
pub(crate) fn watch_error(resource: &str, error: watcher::Error) -> AppError {
    let cause = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => AppError::from(Error::Kube(e)),
        other => AppError::new(ErrorCode::Server, other.to_string()),
    };
    AppError {
        message: format!(
            "The watch of {resource} broke ({}); Kubarium keeps retrying, and the rows shown may be stale until it is back.",
            cause.message.trim_end_matches('.')
        ),
        ..cause
    }
}

/// Watches `resource` (in `namespace`, or everywhere) and hands its batches to `sink` until
/// `sink` returns false. Runs until then, through errors (the watcher retries with backoff).
pub async fn watch_resources(
    client: kube::Client,
    resource: &str,
    namespace: Option<String>,
    sink: impl FnMut(ResourceBatch) -> bool,
) -> Result<()> {
    let kind = catalogue::find(resource)?;
    // Rows never read managed fields: the objects are decoded without them (`Lean`).
    let events = kubarium_controllers::watch::lean(
        api::<Lean>(client, kind, namespace.as_deref()),
        watcher::Config::default(),
    )
    .map_ok(|event| match event {
        Event::Init => Event::Init,
        Event::InitApply(object) => Event::InitApply(object.0),
        Event::InitDone => Event::InitDone,
        Event::Apply(object) => Event::Apply(object.0),
        Event::Delete(object) => Event::Delete(object.0),
    });
    batches(kind, events, sink).await;
    Ok(())
}

/// Changes waiting to be flushed.
#[derive(Default)]
struct Pending {
    upserts: HashMap<String, Row>,
    deletes: Vec<String>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }

    fn upsert(&mut self, row: Row) {
        self.upserts.insert(row.uid.clone(), row);
    }

    fn delete(&mut self, uid: String) {
        self.upserts.remove(&uid);
        self.deletes.push(uid);
    }

    fn take(&mut self) -> ResourceBatch {
        let Pending { upserts, deletes } = std::mem::take(self);
        ResourceBatch::Changes {
            upserts: upserts.into_values().collect(),
            deletes,
        }
    }
}

/// Where the watch stands.
struct Batcher {
    kind: &'static Kind,
    /// A (re-)list in progress.
    listing: Option<Listing>,
    pending: Pending,
    state: WatchState,
}

/// What an event asks to send.
enum Out {
    Batch(ResourceBatch),
    /// A list's `Reset`, once its rows are built.
    Listed(Listing),
}

impl Batcher {
    /// Folds one watcher event in; returns the messages to send at once, if any.
    fn apply(&mut self, event: watcher::Result<Event<DynamicObject>>) -> Vec<Out> {
        let mut out = Vec::new();
        match event {
            Ok(event) => {
                // Back without a re-list (a re-list reports itself with its Reset).
                if self.state == WatchState::Reconnecting
                    && matches!(event, Event::Apply(_) | Event::Delete(_))
                {
                    self.state = WatchState::Live;
                    out.push(Out::Batch(ResourceBatch::State {
                        state: WatchState::Live,
                        error: None,
                    }));
                }
                match event {
                    Event::Init => self.listing = Some(Listing::new(self.kind)),
                    Event::InitApply(object) => self
                        .listing
                        .get_or_insert_with(|| Listing::new(self.kind))
                        .push(object),
                    Event::InitDone => {
                        // The list replaces everything, changes waiting included.
                        self.pending = Pending::default();
                        self.state = WatchState::Live;
                        let listing = self.listing.take();
                        out.push(Out::Listed(
                            listing.unwrap_or_else(|| Listing::new(self.kind)),
                        ));
                    }
                    Event::Apply(object) => {
                        self.pending
                            .upsert(rows::row(self.kind, &object, Timestamp::now()));
                    }
                    Event::Delete(object) => {
                        if let Some(uid) = object.metadata.uid {
                            self.pending.delete(uid);
                        }
                    }
                }
            }
            Err(error) => {
                tracing::debug!(%error, resource = %self.kind.info.resource, "watch error");
                if self.state != WatchState::Reconnecting {
                    self.state = WatchState::Reconnecting;
                    out.push(Out::Batch(ResourceBatch::State {
                        state: WatchState::Reconnecting,
                        error: Some(watch_error(&self.kind.info.resource, error)),
                    }));
                }
            }
        }
        out
    }
}

/// Sends `out` to `sink` in order, a list's `Reset` once its rows are built; false when
/// `sink` refuses one. Resets restart `last_flush`.
async fn deliver(
    out: Vec<Out>,
    sink: &mut impl FnMut(ResourceBatch) -> bool,
    last_flush: &mut Instant,
) -> bool {
    for out in out {
        let batch = match out {
            Out::Batch(batch) => batch,
            Out::Listed(listing) => ResourceBatch::Reset {
                rows: listing.rows().await,
            },
        };
        let reset = matches!(batch, ResourceBatch::Reset { .. });
        if !sink(batch) {
            return false;
        }
        if reset {
            *last_flush = Instant::now();
        }
    }
    true
}

/// Turns watcher events into batches for `sink`, until `sink` refuses one or the events end.
pub(crate) async fn batches(
    kind: &'static Kind,
    events: impl Stream<Item = watcher::Result<Event<DynamicObject>>>,
    mut sink: impl FnMut(ResourceBatch) -> bool,
) {
    let mut events = pin!(events);
    let mut batcher = Batcher {
        kind,
        listing: None,
        pending: Pending::default(),
        state: WatchState::Syncing,
    };
    if !sink(ResourceBatch::State {
        state: WatchState::Syncing,
        error: None,
    }) {
        return;
    }
    let mut last_flush = Instant::now() - FLUSH_EVERY;
    loop {
        let event = if batcher.pending.is_empty() {
            events.next().await
        } else {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(last_flush + FLUSH_EVERY) => {
                    // Take what has already arrived, then flush it all in one batch.
                    for _ in 0..DRAIN_AT_MOST {
                        match events.next().now_or_never() {
                            Some(Some(event)) => {
                                let out = batcher.apply(event);
                                if !deliver(out, &mut sink, &mut last_flush).await {
                                    return;
                                }
                            }
                            _ => break,
                        }
                    }
                    if !batcher.pending.is_empty() && !sink(batcher.pending.take()) {
                        return;
                    }
                    last_flush = Instant::now();
                    continue;
                }
                event = events.next() => event,
            }
        };
        let Some(event) = event else {
            // The watcher never ends on its own; a test's finite stream does.
            if !batcher.pending.is_empty() {
                sink(batcher.pending.take());
            }
            return;
        };
        if !deliver(batcher.apply(event), &mut sink, &mut last_flush).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests;

impl crate::App {
    /// Starts [`watch_resources`] on `cluster` as a task the UI can stop; an unknown
    /// resource or cluster is refused here, before anything runs.
    pub async fn watch_resources(
        &self,
        cluster: &str,
        resource: String,
        namespace: Option<String>,
        sink: impl FnMut(ResourceBatch) -> bool + Send + 'static,
    ) -> Result<StreamId> {
        catalogue::find(&resource)?;
        let client = self.client(cluster).await?;
        Ok(self.tasks().spawn(async move {
            if let Err(error) = watch_resources(client, &resource, namespace, sink).await {
                tracing::warn!(%error, "a resource watch ended");
            }
        }))
    }

    /// Starts [`watch_object`] on `cluster` as a task the UI can stop.
    pub async fn watch_object(
        &self,
        cluster: &str,
        resource: String,
        namespace: Option<String>,
        name: String,
        sink: impl FnMut(ObjectUpdate) -> bool + Send + 'static,
    ) -> Result<StreamId> {
        catalogue::find(&resource)?;
        let client = self.client(cluster).await?;
        Ok(self.tasks().spawn(async move {
            if let Err(error) = watch_object(client, &resource, namespace, &name, sink).await {
                tracing::warn!(%error, "an object watch ended");
            }
        }))
    }
}
