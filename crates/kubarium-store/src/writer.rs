//! The single writer: a thread that owns the read-write connection, assigns revisions, and
//! commits queued writes together (group commit), then publishes them to watchers.
//!
//! One thread makes the order of revisions, the order of commits and the order of
//! publication the same thing, with no lock to get wrong; batching makes one fsync serve
//! every writer that queued while the previous commit was on disk.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Set by the checkpoint thread when the WAL is large enough to start over.
    restart: Arc<AtomicBool>,
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
    let restart = Arc::new(AtomicBool::new(false));
    if let Some(path) = conn.path().filter(|p| !p.is_empty()) {
        crate::db::spawn_checkpointer(std::path::Path::new(path), commits, restart.clone())?;
    }
    let mut writer = Writer {
        conn,
        checkpoint,
        restart,
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
                // After the replies: this batch's writers do not wait for the copy.
                if self.restart.swap(false, Ordering::Relaxed) {
                    crate::db::checkpoint_to_restart(&self.conn);
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
        let mut latest = Latest {
            committed: &self.current,
            batch: HashMap::new(),
        };
        for op in ops {
            match apply(
                &tx,
                &mut latest,
                self.encryption.as_deref(),
                op,
                revision + 1,
                now,
            ) {
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
        // The revision is the newest history row's (see `db::revisions`): no `meta` page.
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
        // As etcd's compaction: a row at or before the target goes unless its value is still
        // read, as a live key's value or as the previous value of a later row.
        let removed = tx.execute(
            "DELETE FROM history WHERE revision <= ?1
               AND revision NOT IN (SELECT mod_revision FROM objects)
               AND revision NOT IN (
                   SELECT prev_mod_revision FROM history
                   WHERE revision > ?1 AND prev_mod_revision IS NOT NULL)",
            params![target],
        )?;
        // The latest revision too: the rows compaction removed may include the newest.
        tx.execute(
            "UPDATE meta SET value = CASE name WHEN 'compacted' THEN ?1 ELSE ?2 END
             WHERE name IN ('compacted', 'revision')",
            params![target, current],
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

/// The latest state as the writes of a batch see it: what the batch's earlier writes left,
/// else what the commits before it left, which the writer has applied to the in-memory
/// current state before it takes the next batch. No write reads the database.
struct Latest<'a> {
    committed: &'a Current,
    batch: HashMap<String, Option<Object>>,
}

impl Latest<'_> {
    fn contains(&self, key: &str) -> bool {
        match self.batch.get(key) {
            Some(written) => written.is_some(),
            None => self.committed.contains(key),
        }
    }

    fn get(&self, key: &str) -> Option<Object> {
        match self.batch.get(key) {
            Some(written) => written.clone(),
            None => self.committed.get(key),
        }
    }

    /// The stored object a write expects to find: `key`'s, at `expected` when given.
    fn expect(&self, key: &str, expected: Option<Revision>) -> Result<Object> {
        let Some(found) = self.get(key) else {
            return Err(Error::NotFound {
                key: key.to_owned(),
            });
        };
        match expected {
            Some(expected) if expected != found.mod_revision => Err(Error::Conflict {
                key: key.to_owned(),
                expected,
                current: found.mod_revision,
            }),
            _ => Ok(found),
        }
    }
}

fn apply(
    tx: &Transaction<'_>,
    latest: &mut Latest<'_>,
    encryption: Option<&Encryption>,
    op: Op,
    revision: Revision,
    now: i64,
) -> Result<Event> {
    let object = |key: &str, value: Vec<u8>, create_revision, mod_revision| Object {
        key: key.to_owned(),
        value: value.into(),
        create_revision,
        mod_revision,
    };
    let event = match op {
        Op::Create { key, value } => {
            let key = key.as_str();
            if latest.contains(key) {
                return Err(Error::AlreadyExists {
                    key: key.to_owned(),
                });
            }
            let value = value.into_bytes(revision);
            let stored = to_disk(encryption, key, &value)?;
            tx.prepare_cached(
                "INSERT INTO objects (key, create_revision, mod_revision) VALUES (?1, ?2, ?2)",
            )?
            .execute(params![key, revision])?;
            tx.prepare_cached(
                "INSERT INTO history (revision, key, create_revision, value, at_ms) VALUES (?1, ?2, ?1, ?3, ?4)",
            )?
            .execute(params![revision, key, stored, now])?;
            drop(stored);
            Event {
                revision,
                object: Some(object(key, value, revision, revision)),
                prev: None,
            }
        }
        Op::Update {
            key,
            value,
            expected,
        } => {
            let key = key.as_str();
            let prev = latest.expect(key, expected)?;
            let value = value.into_bytes(revision);
            let stored = to_disk(encryption, key, &value)?;
            tx.prepare_cached(
                "INSERT INTO history (revision, key, create_revision, value, prev_mod_revision, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![revision, key, prev.create_revision, stored, prev.mod_revision, now])?;
            tx.prepare_cached("UPDATE objects SET mod_revision = ?1 WHERE key = ?2")?
                .execute(params![revision, key])?;
            drop(stored);
            Event {
                revision,
                object: Some(object(key, value, prev.create_revision, revision)),
                prev: Some(prev),
            }
        }
        Op::Delete { key, expected } => {
            let key = key.as_str();
            let prev = latest.expect(key, expected)?;
            tx.prepare_cached(
                "INSERT INTO history (revision, key, create_revision, prev_mod_revision, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                revision,
                key,
                prev.create_revision,
                prev.mod_revision,
                now
            ])?;
            tx.prepare_cached("DELETE FROM objects WHERE key = ?1")?
                .execute(params![key])?;
            Event {
                revision,
                object: None,
                prev: Some(prev),
            }
        }
    };
    latest
        .batch
        .insert(event.key().to_owned(), event.object.clone());
    Ok(event)
}

/// A value as it goes to disk: sealed when its key is under an encryption prefix, else
/// compressed.
fn to_disk<'a>(
    encryption: Option<&Encryption>,
    key: &str,
    value: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>> {
    match encryption::seal(encryption, key, value)? {
        std::borrow::Cow::Borrowed(plain) => crate::compression::compress(plain),
        sealed => Ok(sealed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writes_of_one_batch_see_each_other_before_it_commits() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("state.db")).unwrap();
        let committed = Current::load(&conn, None, 0).unwrap();
        let tx = conn.transaction().unwrap();
        let mut latest = Latest {
            committed: &committed,
            batch: HashMap::new(),
        };
        let mut write = |op, revision| apply(&tx, &mut latest, None, op, revision, 0);
        let create = |value: &[u8]| Op::Create {
            key: "/r/a".to_owned(),
            value: Content::Bytes(value.to_vec()),
        };
        let update = |value: &[u8], expected| Op::Update {
            key: "/r/a".to_owned(),
            value: Content::Bytes(value.to_vec()),
            expected,
        };
        let value = |object: &Option<Object>| object.as_ref().map(|o| o.value.to_vec());

        write(create(b"1"), 1).unwrap();
        assert!(matches!(
            write(create(b"x"), 2),
            Err(Error::AlreadyExists { .. })
        ));
        let updated = write(update(b"2", Some(1)), 2).unwrap();
        assert_eq!(value(&updated.prev), Some(b"1".to_vec()));
        assert_eq!(updated.object.as_ref().unwrap().create_revision, 1);
        assert!(matches!(
            write(update(b"x", Some(1)), 3),
            Err(Error::Conflict {
                expected: 1,
                current: 2,
                ..
            })
        ));
        let deleted = write(
            Op::Delete {
                key: "/r/a".to_owned(),
                expected: Some(2),
            },
            3,
        )
        .unwrap();
        assert_eq!(value(&deleted.prev), Some(b"2".to_vec()));
        assert!(matches!(
            write(update(b"x", None), 4),
            Err(Error::NotFound { .. })
        ));
        let again = write(create(b"3"), 4).unwrap();
        assert_eq!(again.object.unwrap().create_revision, 4);
        // Nothing of it is in the committed state until the batch commits.
        assert_eq!(committed.get("/r/a"), None);
    }
}
