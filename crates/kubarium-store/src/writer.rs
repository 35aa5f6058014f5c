//! The single writer: a thread that owns the read-write connection, assigns revisions, and
//! commits queued writes together (group commit), then publishes them to watchers.
//!
//! One thread makes the order of revisions, the order of commits and the order of
//! publication the same thing, with no lock to get wrong; batching makes one fsync serve
//! every writer that queued while the previous commit was on disk.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use crate::current::Current;
use crate::encryption::{self, Encryption};
use crate::hub::Hub;
use crate::{Content, Error, Event, Object, Result, Revision, StoreOptions};

/// Writes taken into one transaction at most; bounds the latency one commit adds.
const MAX_BATCH: usize = 512;

pub(crate) enum Op {
    Create {
        key: String,
        value: Content,
    },
    Update {
        key: String,
        value: Content,
        expected: Option<Revision>,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

enum Request {
    Write(Op, oneshot::Sender<Result<Arc<Event>>>),
    /// Compact by the history policy (`None`) or up to a revision.
    Compact(Option<Revision>, oneshot::Sender<Result<Revision>>),
    /// Commit what is queued, close the connection and stop; answered once it is closed.
    Close(oneshot::Sender<()>),
}

/// Sends requests to the writer thread.
pub(crate) struct Handle {
    tx: mpsc::Sender<Request>,
}

impl Handle {
    pub(crate) async fn write(&self, op: Op) -> Result<Arc<Event>> {
        let (reply, response) = oneshot::channel();
        self.tx
            .send(Request::Write(op, reply))
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)?
    }

    pub(crate) async fn compact(&self) -> Result<Revision> {
        self.compact_request(None).await
    }

    pub(crate) async fn compact_to(&self, revision: Revision) -> Result<Revision> {
        self.compact_request(Some(revision)).await
    }

    /// Stops the writer once what is queued is committed, and waits until its connection is
    /// closed. Writes sent afterwards fail with [`Error::Closed`]: a stopped cluster's
    /// leftover tasks can never write into a database that a new store has opened since.
    pub(crate) async fn close(&self) {
        let (reply, closed) = oneshot::channel();
        if self.tx.send(Request::Close(reply)).is_ok() {
            let _ = closed.await;
        }
    }

    async fn compact_request(&self, to: Option<Revision>) -> Result<Revision> {
        let (reply, response) = oneshot::channel();
        self.tx
            .send(Request::Compact(to, reply))
            .map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)?
    }
}

struct Writer {
    conn: Connection,
    /// Tells the checkpoint thread there is WAL to copy back.
    checkpoint: mpsc::SyncSender<()>,
    revision: Revision,
    current: Arc<Current>,
    hub: Arc<Hub>,
    encryption: Option<Arc<Encryption>>,
    history_revisions: i64,
    history_age: Duration,
}

pub(crate) fn spawn(
    conn: Connection,
    revision: Revision,
    current: Arc<Current>,
    hub: Arc<Hub>,
    encryption: Option<Arc<Encryption>>,
    options: &StoreOptions,
) -> Result<Handle> {
    let (tx, rx) = mpsc::channel();
    let (checkpoint, commits) = mpsc::sync_channel(1);
    if let Some(path) = conn.path().filter(|p| !p.is_empty()) {
        crate::db::spawn_checkpointer(std::path::Path::new(path), commits)?;
    }
    let mut writer = Writer {
        conn,
        checkpoint,
        revision,
        current,
        hub,
        encryption,
        history_revisions: options.history_revisions,
        history_age: options.history_age,
    };
    let every = options.compact_every;
    std::thread::Builder::new()
        .name("kubarium-store-writer".to_owned())
        .spawn(move || {
            let closed = writer.run(&rx, every);
            drop(writer);
            drop(rx);
            if let Some(closed) = closed {
                let _ = closed.send(());
            }
        })
        .map_err(|e| Error::Internal(format!("cannot start the store's writer thread: {e}")))?;
    Ok(Handle { tx })
}

impl Writer {
    /// Serves requests until every handle is gone or one asks to close (returned, to be
    /// answered once the connection is closed).
    fn run(
        &mut self,
        rx: &mpsc::Receiver<Request>,
        compact_every: Duration,
    ) -> Option<oneshot::Sender<()>> {
        let mut next_compaction = Instant::now() + compact_every;
        loop {
            let wait = next_compaction.saturating_duration_since(Instant::now());
            let first = match rx.recv_timeout(wait) {
                Ok(request) => request,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(error) = self.compact(None) {
                        tracing::warn!(%error, "history compaction failed; retrying later");
                    }
                    next_compaction = Instant::now() + compact_every;
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut writes = Vec::new();
            let mut pending = Some(first);
            while let Some(request) = pending.take() {
                match request {
                    Request::Write(op, reply) => writes.push((op, reply)),
                    Request::Close(reply) => {
                        self.commit_batch(writes);
                        tracing::debug!("store writer closed");
                        return Some(reply);
                    }
                    Request::Compact(to, reply) => {
                        // Commit what is queued first, so compaction sees it.
                        self.commit_batch(std::mem::take(&mut writes));
                        let _ = reply.send(self.compact(to));
                    }
                }
                if writes.len() < MAX_BATCH {
                    pending = rx.try_recv().ok();
                }
            }
            self.commit_batch(writes);
        }
        tracing::debug!("store writer stopped");
        None
    }

    fn commit_batch(&mut self, writes: Vec<(Op, oneshot::Sender<Result<Arc<Event>>>)>) {
        if writes.is_empty() {
            return;
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = writes.into_iter().unzip();
        let count = ops.len();
        match self.transact(ops) {
            Ok(results) => {
                let events: Vec<Arc<Event>> = results
                    .iter()
                    .filter_map(|r| r.as_ref().ok().cloned())
                    .collect();
                // Readers of the latest state first, then watchers, then the writers.
                self.current.apply(&events);
                self.hub.publish(&events);
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, writes = count, "a write transaction failed; nothing in it was applied");
                for reply in replies {
                    let _ = reply.send(Err(Error::Internal(format!(
                        "the write was not applied: {error}"
                    ))));
                }
            }
        }
    }

    /// Applies `ops` in one transaction. Refusals (not found, conflict…) write nothing and
    /// the batch goes on; any other failure may have written half an operation, so the whole
    /// batch is rolled back.
    fn transact(&mut self, ops: Vec<Op>) -> Result<Vec<Result<Arc<Event>>>> {
        let start = self.revision;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let now = now_ms();
        let mut revision = start;
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            match apply(&tx, self.encryption.as_deref(), op, revision + 1, now) {
                Ok(event) => {
                    revision = event.revision;
                    results.push(Ok(Arc::new(event)));
                }
                Err(
                    error @ (Error::NotFound { .. }
                    | Error::AlreadyExists { .. }
                    | Error::Conflict { .. }),
                ) => results.push(Err(error)),
                Err(error) => return Err(error),
            }
        }
        if revision != start {
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE name = 'revision'",
                params![revision],
            )?;
        }
        tx.commit()?;
        // Full means a checkpoint is already due.
        let _ = self.checkpoint.try_send(());
        self.revision = revision;
        Ok(results)
    }

    fn compact(&mut self, to: Option<Revision>) -> Result<Revision> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (current, compacted) = crate::db::revisions(&tx)?;
        let target = match to {
            Some(to) => to.min(current),
            None => {
                let by_count = current - self.history_revisions;
                let cutoff =
                    now_ms() - i64::try_from(self.history_age.as_millis()).unwrap_or(i64::MAX);
                let by_age: Option<Revision> = tx
                    .query_row(
                        "SELECT MAX(revision) FROM history WHERE at_ms <= ?1",
                        params![cutoff],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten();
                by_count.min(by_age.unwrap_or(compacted))
            }
        };
        if target <= compacted {
            return Ok(compacted);
        }
        let removed = tx.execute("DELETE FROM history WHERE revision <= ?1", params![target])?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'compacted'",
            params![target],
        )?;
        tx.commit()?;
        tracing::debug!(compacted = target, removed, "compacted history");
        Ok(target)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The current row of `key`: create revision, mod revision, stored bytes.
fn current(tx: &Transaction<'_>, key: &str) -> Result<Option<(Revision, Revision, Vec<u8>)>> {
    Ok(tx
        .prepare_cached("SELECT create_revision, mod_revision, value FROM objects WHERE key = ?1")?
        .query_row(params![key], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?)
}

fn apply(
    tx: &Transaction<'_>,
    encryption: Option<&Encryption>,
    op: Op,
    revision: Revision,
    now: i64,
) -> Result<Event> {
    let object = |key: &str, value: &[u8], create_revision, mod_revision| Object {
        key: key.to_owned(),
        value: value.into(),
        create_revision,
        mod_revision,
    };
    match op {
        Op::Create { key, value } => {
            let key = key.as_str();
            if current(tx, key)?.is_some() {
                return Err(Error::AlreadyExists {
                    key: key.to_owned(),
                });
            }
            let value = value.into_bytes(revision);
            let stored = encryption::seal(encryption, key, &value)?;
            tx.prepare_cached("INSERT INTO objects (key, create_revision, mod_revision, value) VALUES (?1, ?2, ?2, ?3)")?
                .execute(params![key, revision, stored])?;
            tx.prepare_cached(
                "INSERT INTO history (revision, key, create_revision, value, at_ms) VALUES (?1, ?2, ?1, ?3, ?4)",
            )?
            .execute(params![revision, key, stored, now])?;
            Ok(Event {
                revision,
                object: Some(object(key, &value, revision, revision)),
                prev: None,
            })
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let key = key.as_str();
            let Some((create_revision, mod_revision, prev_stored)) = current(tx, key)? else {
                return Err(Error::NotFound {
                    key: key.to_owned(),
                });
            };
            if let Some(expected) = expected
                && expected != mod_revision
            {
                return Err(Error::Conflict {
                    key: key.to_owned(),
                    expected,
                    current: mod_revision,
                });
            }
            let value = value.into_bytes(revision);
            let stored = encryption::seal(encryption, key, &value)?;
            tx.prepare_cached(
                "INSERT INTO history (revision, key, create_revision, value, prev_value, prev_mod_revision, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![revision, key, create_revision, stored, prev_stored, mod_revision, now])?;
            tx.prepare_cached("UPDATE objects SET mod_revision = ?1, value = ?2 WHERE key = ?3")?
                .execute(params![revision, stored, key])?;
            let prev = encryption::open(encryption, key, prev_stored)?;
            Ok(Event {
                revision,
                object: Some(object(key, &value, create_revision, revision)),
                prev: Some(object(key, &prev, create_revision, mod_revision)),
            })
        }
        Op::Delete { key, expected } => {
            let key = key.as_str();
            let Some((create_revision, mod_revision, prev_stored)) = current(tx, key)? else {
                return Err(Error::NotFound {
                    key: key.to_owned(),
                });
            };
            if let Some(expected) = expected
                && expected != mod_revision
            {
                return Err(Error::Conflict {
                    key: key.to_owned(),
                    expected,
                    current: mod_revision,
                });
            }
            tx.prepare_cached(
                "INSERT INTO history (revision, key, create_revision, prev_value, prev_mod_revision, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![revision, key, create_revision, prev_stored, mod_revision, now])?;
            tx.prepare_cached("DELETE FROM objects WHERE key = ?1")?
                .execute(params![key])?;
            let prev = encryption::open(encryption, key, prev_stored)?;
            Ok(Event {
                revision,
                object: None,
                prev: Some(object(key, &prev, create_revision, mod_revision)),
            })
        }
    }
}
