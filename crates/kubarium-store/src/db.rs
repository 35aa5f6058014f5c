//! The SQLite schema and connection settings.
//!
//! - `objects`: the current state, one row per key.
//! - `history`: one row per revision (creates, updates, deletes) with the value before and
//!   after, enough to replay changes to watchers and to roll the state back for reads at an
//!   older revision. Compaction deletes its oldest rows.
//! - `meta`: the latest revision (kept here so it survives compaction of every history row)
//!   and the compacted revision.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::{Result, Revision};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);

CREATE TABLE IF NOT EXISTS objects (
    key             TEXT PRIMARY KEY,
    create_revision INTEGER NOT NULL,
    mod_revision    INTEGER NOT NULL,
    value           BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS history (
    revision          INTEGER PRIMARY KEY,
    key               TEXT NOT NULL,
    create_revision   INTEGER NOT NULL,
    value             BLOB,
    prev_value        BLOB,
    prev_mod_revision INTEGER,
    at_ms             INTEGER NOT NULL
);
-- Every read of history scans a revision range; an index by key only cost writes.
DROP INDEX IF EXISTS history_by_key;
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
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
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
    Ok((meta("revision")?, meta("compacted")?))
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
