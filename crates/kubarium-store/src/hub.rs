//! Watch fan-out: the writer publishes each committed event here, in revision order, and
//! the hub hands it to every watcher whose prefix matches.
//!
//! Delivery never waits: each watcher has a bounded channel, and a watcher whose channel is
//! full is dropped on the spot (its stream ends; the client re-watches from the last
//! revision it saw, and history replays what it missed). So a slow watcher can cost itself
//! a reconnect, never a writer its progress, and no watcher ever sees a gap or a reorder.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::{Event, Revision};

pub(crate) struct Hub {
    state: Mutex<State>,
    revision: AtomicI64,
    buffer: usize,
}

struct State {
    /// The revision of the last published event.
    revision: Revision,
    watchers: Vec<Watcher>,
}

struct Watcher {
    prefix: String,
    tx: mpsc::Sender<Arc<Event>>,
}

impl Hub {
    pub(crate) fn new(revision: Revision, buffer: usize) -> Self {
        Self {
            state: Mutex::new(State {
                revision,
                watchers: Vec::new(),
            }),
            revision: AtomicI64::new(revision),
            buffer: buffer.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (every step is a
        // single push, retain or store), so a poisoned lock is safe to reuse.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The revision of the last published event.
    pub(crate) fn revision(&self) -> Revision {
        self.revision.load(Ordering::Acquire)
    }

    /// A new watcher of `prefix`: live events after the returned revision arrive on the
    /// receiver. Registration and the revision are taken under the publish lock, so nothing
    /// falls between the history replay (up to that revision) and the live feed.
    pub(crate) fn subscribe(&self, prefix: &str) -> (Revision, mpsc::Receiver<Arc<Event>>) {
        let (tx, rx) = mpsc::channel(self.buffer);
        let mut state = self.lock();
        state.watchers.push(Watcher {
            prefix: prefix.to_owned(),
            tx,
        });
        (state.revision, rx)
    }

    /// Publishes committed events, in revision order.
    pub(crate) fn publish(&self, events: &[Arc<Event>]) {
        let Some(last) = events.last() else { return };
        let mut state = self.lock();
        state.watchers.retain(|watcher| {
            for event in events.iter().filter(|e| e.key().starts_with(watcher.prefix.as_str())) {
                match watcher.tx.try_send(Arc::clone(event)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::info!(prefix = %watcher.prefix, "closed a watch that fell too far behind; its client will re-watch");
                        return false;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            true
        });
        state.revision = last.revision;
        self.revision.store(last.revision, Ordering::Release);
    }

    /// How many watchers are registered (for metrics and tests).
    #[cfg(test)]
    pub(crate) fn watchers(&self) -> usize {
        self.lock().watchers.len()
    }
}

/// A stream of events under a prefix after a revision: the replayed history first, then
/// live events. It ends when the store closes it (it fell behind, or the store shut down).
pub struct Watch {
    backlog: VecDeque<Arc<Event>>,
    rx: mpsc::Receiver<Arc<Event>>,
    after: Revision,
}

impl Watch {
    pub(crate) fn new(
        backlog: Vec<Arc<Event>>,
        rx: mpsc::Receiver<Arc<Event>>,
        after: Revision,
    ) -> Self {
        Self {
            backlog: backlog.into(),
            rx,
            after,
        }
    }

    /// The next event, or `None` once the watch is closed.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        if let Some(event) = self.backlog.pop_front() {
            return Some(event);
        }
        loop {
            let event = self.rx.recv().await?;
            // A watch from a revision not reached yet skips what comes before it.
            if event.revision > self.after {
                return Some(event);
            }
        }
    }

    /// Whether every event published so far has been taken from this watch. Read the store's
    /// revision first, then ask: if the watch is idle then, every event of its prefix up to
    /// that revision has been handed out (the hub queues events before it publishes their
    /// revision), so a bookmark may carry it.
    pub fn is_idle(&self) -> bool {
        self.backlog.is_empty() && self.rx.is_empty()
    }

    /// The next event if one is ready now: `Ok(None)` if none is, `Err(())` once closed.
    #[allow(clippy::result_unit_err)]
    pub fn try_next(&mut self) -> Result<Option<Arc<Event>>, ()> {
        if let Some(event) = self.backlog.pop_front() {
            return Ok(Some(event));
        }
        loop {
            match self.rx.try_recv() {
                Ok(event) if event.revision > self.after => return Ok(Some(event)),
                Ok(_) => continue,
                Err(mpsc::error::TryRecvError::Empty) => return Ok(None),
                Err(mpsc::error::TryRecvError::Disconnected) => return Err(()),
            }
        }
    }
}
