//! Kubarium's store: an embedded SQLite database shaped like etcd.
//!
//! Every write gets the next value of one cluster-wide revision counter; that revision is the
//! object's `resourceVersion`. Updates and deletes can carry the revision they expect
//! (compare-and-swap), so concurrent writers never lose each other's changes. A history of
//! recent writes lets [`Store::list`] read the state at an older revision (for consistent
//! paging) and [`Store::watch`] replay every change after a revision, then follow live.
//!
//! **Durability:** WAL journal, `synchronous=FULL`; a write is acknowledged only after its
//! transaction commits, so `kill -9` loses nothing acknowledged. Writes go through a single
//! writer thread that commits whatever is queued in one transaction (group commit): one
//! fsync serves many concurrent writers. The WAL starts over once it passes 64 MB, even while
//! writes never pause, so a burst of writes leaves no large file behind.
//!
//! **Reads of the latest state come from memory:** the writer applies each commit to an
//! in-memory copy of the live objects before acknowledging it, so gets and lists at the
//! latest revision take no SQLite transaction; reads at older revisions use the history.
//!
//! **Watch fan-out never blocks writers:** each watcher has a bounded buffer; a watcher that
//! falls behind is closed, and its client re-watches from the last revision it saw.
//!
//! **Secrets at rest:** keys under the configured prefixes are sealed with AES-256-GCM
//! ([`Encryption`]) before they reach the database file, history included.

mod compression;
mod current;
mod db;
mod encryption;
mod error;
mod hub;
mod reader;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use encryption::{Encryption, EncryptionKey};
pub use error::{Error, Result};
pub use hub::Watch;

/// What a write stores: bytes, or bytes with a gap for the write's revision — so a stored
/// object can carry its own `resourceVersion` and be served without re-encoding, while the
/// writer thread only copies digits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Fixed bytes.
    Bytes(Vec<u8>),
    /// `bytes` with the write's revision, in decimal, inserted at byte offset `at` (or
    /// appended, if `at` is past the end).
    WithRevision { bytes: Vec<u8>, at: usize },
}

impl Content {
    pub(crate) fn into_bytes(self, revision: Revision) -> Vec<u8> {
        match self {
            Content::Bytes(bytes) => bytes,
            Content::WithRevision { mut bytes, at } => {
                let at = at.min(bytes.len());
                bytes.splice(at..at, revision.to_string().into_bytes());
                bytes
            }
        }
    }
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Self {
        Content::Bytes(bytes)
    }
}

/// A position in the store's history: the revision of a write. Revisions start at 1 and
/// grow by one per write.
pub type Revision = i64;

/// A stored object: its key, bytes, and the revisions that created and last modified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The full key, e.g. `/core/pods/default/web-0`.
    pub key: String,
    /// The object's bytes (decrypted).
    pub value: Arc<[u8]>,
    /// The revision that created it.
    pub create_revision: Revision,
    /// The revision of its latest write: its `resourceVersion`.
    pub mod_revision: Revision,
}

/// What happened at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The revision of this write.
    pub revision: Revision,
    /// The object after the write (`None` for deletes).
    pub object: Option<Object>,
    /// The object before the write (`None` for creates).
    pub prev: Option<Object>,
}

impl Event {
    /// The key this event is about.
    pub fn key(&self) -> &str {
        self.object
            .as_ref()
            .or(self.prev.as_ref())
            .map(|o| o.key.as_str())
            .unwrap_or_default()
    }
}

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Objects in key order.
    pub items: Vec<Object>,
    /// The revision the page was read at.
    pub revision: Revision,
    /// Whether objects remain after the last one returned.
    pub more: bool,
}

/// How to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Read the state as of this revision instead of the latest (it must not be compacted).
    pub revision: Option<Revision>,
    /// At most this many objects (`None` or 0: all).
    pub limit: Option<usize>,
    /// Start after this key (paging).
    pub start_after: Option<String>,
}

/// How long history is kept, and how watchers are bounded.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Keep at least this many newest revisions…
    pub history_revisions: i64,
    /// …and at least every revision younger than this.
    pub history_age: Duration,
    /// How often old history is compacted away.
    pub compact_every: Duration,
    /// Events a watcher may have waiting before it is closed as too slow.
    pub watch_buffer: usize,
    /// Seals the values of keys under its prefixes.
    pub encryption: Option<Encryption>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            history_revisions: 10_000,
            history_age: Duration::from_secs(600),
            compact_every: Duration::from_secs(60),
            watch_buffer: 10_000,
            encryption: None,
        }
    }
}

/// The store: one writer thread, a pool of readers, and the watch hub. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: writer::Handle,
    current: Arc<current::Current>,
    readers: reader::Pool,
    hub: Arc<hub::Hub>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and starts its writer thread and
    /// background compaction. Must be called inside a Tokio runtime.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Self> {
        let encryption = options.encryption.clone().map(Arc::new);
        let conn = db::open(path)?;
        let (revision, compacted) = db::revisions(&conn)?;
        let hub = Arc::new(hub::Hub::new(revision, options.watch_buffer));
        let readers = reader::Pool::new(path.to_owned(), encryption.clone());
        let current = Arc::new(current::Current::load(
            &conn,
            encryption.as_deref(),
            revision,
        )?);
        let writer = writer::spawn(
            conn,
            revision,
            Arc::clone(&current),
            Arc::clone(&hub),
            encryption,
            &options,
        )?;
        tracing::info!(path = %path.display(), revision, compacted, "store opened");
        Ok(Self {
            inner: Arc::new(Inner {
                writer,
                current,
                readers,
                hub,
            }),
        })
    }

    /// Commits what is queued and closes the database for writing: every later write, through
    /// this handle or any clone, fails with [`Error::Closed`]. A cluster closes its store as
    /// it stops, so the same database can be opened again in the same process.
    pub async fn close(&self) {
        self.inner.writer.close().await;
    }

    /// The revision of the latest acknowledged write.
    pub fn revision(&self) -> Revision {
        self.inner.hub.revision()
    }

    /// The oldest revision a list or watch may still start from.
    pub fn compacted(&self) -> Result<Revision> {
        self.inner.readers.with(|r| r.compacted())
    }

    /// The object at `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Object>> {
        Ok(self.inner.current.get(key))
    }

    /// Objects whose key starts with `prefix`, in key order: the latest state from memory,
    /// an older one rebuilt from history.
    pub fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage> {
        match self.inner.current.list(prefix, options)? {
            Some(page) => Ok(page),
            None => self.inner.readers.with(|r| r.list(prefix, options)),
        }
    }

    /// Stores `value` at `key`, which must not exist.
    pub async fn create(&self, key: &str, value: impl Into<Content>) -> Result<Object> {
        let event = self
            .inner
            .writer
            .write(writer::Op::Create {
                key: key.to_owned(),
                value: value.into(),
            })
            .await?;
        event
            .object
            .clone()
            .ok_or_else(|| Error::internal("create produced no object"))
    }

    /// Replaces the object at `key`. With `expected`, only if its `mod_revision` still is that
    /// (otherwise [`Error::Conflict`]).
    pub async fn update(
        &self,
        key: &str,
        value: impl Into<Content>,
        expected: Option<Revision>,
    ) -> Result<Object> {
        let op = writer::Op::Update {
            key: key.to_owned(),
            value: value.into(),
            expected,
        };
        let event = self.inner.writer.write(op).await?;
        event
            .object
            .clone()
            .ok_or_else(|| Error::internal("update produced no object"))
    }

    /// Deletes the object at `key`, optionally only at revision `expected`; returns what was
    /// deleted and the revision of the deletion.
    pub async fn delete(
        &self,
        key: &str,
        expected: Option<Revision>,
    ) -> Result<(Object, Revision)> {
        let event = self
            .inner
            .writer
            .write(writer::Op::Delete {
                key: key.to_owned(),
                expected,
            })
            .await?;
        let revision = event.revision;
        event
            .prev
            .clone()
            .map(|prev| (prev, revision))
            .ok_or_else(|| Error::internal("delete produced no previous object"))
    }

    /// Every change under `prefix` after revision `after`, in order: first the history, then
    /// live. Fails with [`Error::Compacted`] if `after` is older than the kept history.
    pub fn watch(&self, prefix: &str, after: Revision) -> Result<Watch> {
        let (live_from, rx) = self.inner.hub.subscribe(prefix);
        let backlog = if after < live_from {
            self.inner
                .readers
                .with(|r| r.events(prefix, after, live_from))?
        } else {
            Vec::new()
        };
        Ok(Watch::new(backlog, rx, after))
    }

    /// Compacts history now, as the background task does every `compact_every`; returns the
    /// new compacted revision.
    pub async fn compact(&self) -> Result<Revision> {
        self.inner.writer.compact().await
    }

    /// Compacts everything up to `revision` regardless of the history policy (tests and
    /// failure drills: it makes watchers from older revisions see 410 Gone).
    pub async fn compact_to(&self, revision: Revision) -> Result<Revision> {
        self.inner.writer.compact_to(revision).await
    }

    /// Whether the database answers a trivial query (for `/readyz`).
    pub fn check(&self) -> Result<()> {
        self.inner.readers.with(|r| r.compacted().map(drop))
    }
}

#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod tests;
