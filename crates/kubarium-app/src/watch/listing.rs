//! A (re-)list in progress. Its objects become rows on the blocking pool, a chunk at a time,
//! while the watcher fetches and decodes the next page: the list's two halves overlap instead
//! of taking turns on one task.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::catalogue::Kind;
use crate::ipc::resources::Row;
use crate::rows;

/// Objects turned into rows by one blocking task: half of the watcher's page of 500.
const CHUNK: usize = 250;

pub(super) struct Listing {
    kind: &'static Kind,
    since: Instant,
    /// Objects waiting for a full chunk.
    chunk: Vec<DynamicObject>,
    /// The chunks handed out, in list order, each with the time its rows took.
    built: Vec<JoinHandle<(Vec<Row>, Duration)>>,
}

impl Listing {
    pub(super) fn new(kind: &'static Kind) -> Self {
        Self {
            kind,
            since: Instant::now(),
            chunk: Vec::with_capacity(CHUNK),
            built: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, object: DynamicObject) {
        self.chunk.push(object);
        if self.chunk.len() >= CHUNK {
            self.hand_out();
        }
    }

    fn hand_out(&mut self) {
        let objects = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let kind = self.kind;
        self.built.push(tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            // One `now` for a chunk: ages in one list are measured from one moment.
            let now = Timestamp::now();
            let rows = objects.iter().map(|o| rows::row(kind, o, now)).collect();
            (rows, started.elapsed())
        }));
    }

    /// Every row of the list, in list order, once the last chunk is built.
    pub(super) async fn rows(mut self) -> Vec<Row> {
        if !self.chunk.is_empty() {
            self.hand_out();
        }
        let mut rows = Vec::new();
        let mut building = Duration::ZERO;
        for chunk in self.built {
            match chunk.await {
                Ok((chunk, took)) => {
                    rows.extend(chunk);
                    building += took;
                }
                // A printer's panic is the watch task's, as it was when rows were built here.
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                // Cancelled: the runtime is shutting down, and nobody is left to show rows to.
                Err(_) => return Vec::new(),
            }
        }
        tracing::info!(
            resource = %self.kind.info.resource,
            rows = rows.len(),
            took_ms = self.since.elapsed().as_millis(),
            rows_ms = building.as_millis(),
            "listed"
        );
        rows
    }
}
