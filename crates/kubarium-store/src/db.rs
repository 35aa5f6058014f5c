//! The SQLite schema and connection settings.
//!
//! - `history`: one row per revision (creates, updates, deletes) with the value it wrote
//!   (none for a delete) and the revision of the key's value before it. Each value is stored
//!   once: the value before a write is the `value` of the row that `prev_mod_revision` names.
//! - `objects`: which revision holds each live key's value (its `history` row), one row per
//!   key.
//! - `meta`: the compacted revision, and the latest revision as of the last compaction. The
//!   latest revision is the newest `history` row's, or that one when compaction removed the
//!   newest rows (deletes at or before its target): a commit writes no page of `meta`.
//!
//! Compaction deletes history up to a revision but keeps, as etcd does, the rows whose values
//! are still read: each live key's value, and every value a later row names as its previous.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::{Result, Revision};

/// The schema's version, kept in `PRAGMA user_version`. 0 is a new file, or one written
/// before versions were recorded (1: `objects` held a copy of each value, `history` a copy of
/// each previous value). 3: values may be compressed (`compression.rs`); a file of 2 needs no
/// change, but a Kubarium that knows only 2 would read compressed values as they are, so it
/// must refuse the file instead.
pub(crate) const SCHEMA_VERSION: i64 = 3;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);

CREATE TABLE IF NOT EXISTS objects (
    key             TEXT PRIMARY KEY,
    create_revision INTEGER NOT NULL,
    mod_revision    INTEGER NOT NULL
) WITHOUT ROWID;

-- Every read of history scans a revision range or follows a revision; no index by key.
CREATE TABLE IF NOT EXISTS history (
    revision          INTEGER PRIMARY KEY,
    key               TEXT NOT NULL,
    create_revision   INTEGER NOT NULL,
    value             BLOB,
    prev_mod_revision INTEGER,
    at_ms             INTEGER NOT NULL
);
";

/// From version 1: every value `objects` or a `prev_value` held moves into the history row
/// of its revision (where compaction had deleted that row), then the copies go.
const MIGRATE_FROM_1: &str = "
INSERT OR IGNORE INTO history (revision, key, create_revision, value, at_ms)
    SELECT mod_revision, key, create_revision, value, 0 FROM objects;
INSERT OR IGNORE INTO history (revision, key, create_revision, value, at_ms)
    SELECT prev_mod_revision, key, create_revision, prev_value, 0 FROM history
    WHERE prev_value IS NOT NULL;
ALTER TABLE history DROP COLUMN prev_value;
DROP INDEX IF EXISTS history_by_key;
CREATE TABLE objects_v2 (
    key             TEXT PRIMARY KEY,
    create_revision INTEGER NOT NULL,
    mod_revision    INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO objects_v2 SELECT key, create_revision, mod_revision FROM objects;
DROP TABLE objects;
ALTER TABLE objects_v2 RENAME TO objects;
";

/// Opens the database for writing, creating the schema if needed.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    // WAL lets readers work beside the single writer; FULL makes every commit durable.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Checkpoints run on a thread of their own (`checkpoint`), not inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // When the WAL starts over after a restart (`checkpoint_to_restart`), a file grown past
    // this is cut back to it.
    conn.pragma_update(None, "journal_size_limit", WAL_RESTART_BYTES)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Brings the file's schema to [`SCHEMA_VERSION`], in one transaction.
fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version > SCHEMA_VERSION {
        return Err(crate::Error::Internal(format!(
            "the database was written by a newer Kubarium (schema {version}; this one knows {SCHEMA_VERSION})"
        )));
    }
    let copies_values: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('objects') WHERE name = 'value'",
        [],
        |row| row.get(0),
    )?;
    let tx = conn.unchecked_transaction()?;
    if copies_values {
        tx.execute_batch(MIGRATE_FROM_1)?;
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// The WAL size past which the writer lets the WAL start over (see
/// [`checkpoint_to_restart`]).
pub(crate) const WAL_RESTART_BYTES: i64 = 64 << 20;

/// Copies the WAL back into the database file whenever the writer signals that it has
/// committed, at most twice a second, so the writer's commits never wait for a checkpoint.
/// Stops (after a last checkpoint) when the writer drops its end of `commits`.
///
/// While writes go on, a checkpoint beside them never copies the frames appended during
/// it, so the WAL could never start over and would grow with every write. Once it is past
/// [`WAL_RESTART_BYTES`], this sets `restart`, and the writer finishes the copy itself
/// between two commits.
pub(crate) fn spawn_checkpointer(
    path: &Path,
    commits: std::sync::mpsc::Receiver<()>,
    restart: Arc<AtomicBool>,
) -> Result<()> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let checkpoint = move || {
        if checkpoint_passive(&conn)
            .is_some_and(|frames| frames.saturating_mul(page_size) >= WAL_RESTART_BYTES)
        {
            restart.store(true, Ordering::Relaxed);
        }
    };
    std::thread::Builder::new()
        .name("kubarium-store-checkpoint".to_owned())
        .spawn(move || {
            while commits.recv().is_ok() {
                checkpoint();
                std::thread::sleep(Duration::from_millis(500));
            }
            checkpoint();
        })
        .map_err(|e| crate::Error::Internal(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

/// Run by the writer between two commits, when the checkpoint thread asks for it: copies
/// the rest of the WAL into the database file, so that the next write starts the WAL over
/// (unless a reader still uses it; then a later request retries).
pub(crate) fn checkpoint_to_restart(conn: &Connection) {
    checkpoint_passive(conn);
}

/// A PASSIVE checkpoint (it copies what no reader still needs and never blocks the writer or
/// readers); returns the WAL's size in frames, `None` if it failed (logged; the next retries).
fn checkpoint_passive(conn: &Connection) -> Option<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
        .inspect_err(|error| tracing::warn!(%error, "WAL checkpoint failed; the next one retries"))
        .ok()
}

/// Opens a read-only connection.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<()> {
    // The writer holds its lock only for a commit; readers never wait on it in WAL mode, but
    // checkpoints can briefly need it.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", -16_000)?; // 16 MB of page cache per connection
    Ok(())
}

/// The latest and the compacted revision.
pub(crate) fn revisions(conn: &Connection) -> Result<(Revision, Revision)> {
    let meta = |name: &str| -> Result<Revision> {
        Ok(conn
            .query_row(
                "SELECT value FROM meta WHERE name = ?1",
                params![name],
                |row| row.get(0),
            )
            .optional()?
            .unwrap_or(0))
    };
    let newest: Option<Revision> =
        conn.query_row("SELECT MAX(revision) FROM history", [], |row| row.get(0))?;
    Ok((
        newest.unwrap_or(0).max(meta("revision")?),
        meta("compacted")?,
    ))
}

/// The smallest key greater than every key that starts with `prefix`: the exclusive upper
/// bound of a prefix range scan.
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_owned();
    // Keys are ASCII paths; bumping the last character past every continuation works for
    // any prefix whose last character is not U+10FFFF.
    if let Some(last) = end.pop() {
        end.push(char::from_u32(last as u32 + 1).unwrap_or(char::MAX));
    } else {
        end.push(char::MAX);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_end("/core/pods/"), "/core/pods0");
        assert!("/core/pods/default/a" < prefix_end("/core/pods/").as_str());
        assert!("/core/podsx" > prefix_end("/core/pods/").as_str());
    }
}
