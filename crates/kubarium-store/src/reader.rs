//! Reads: a small pool of read-only connections. In WAL mode each read transaction sees one
//! consistent snapshot and never waits for the writer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use crate::current::LIVE;
use crate::db::{self, prefix_end};
use crate::encryption::{self, Encryption};
use crate::{Error, Event, ListOptions, ListPage, Object, Result, Revision};

/// Idle connections kept for reuse; more are opened on demand under load.
const IDLE: usize = 8;

pub(crate) struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    encryption: Option<Arc<Encryption>>,
}

impl Pool {
    pub(crate) fn new(path: PathBuf, encryption: Option<Arc<Encryption>>) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            encryption,
        }
    }

    /// Runs `f` with a reader, returning the connection to the pool afterwards.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Reader<'_>) -> Result<T>) -> Result<T> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => db::open_reader(&self.path)?,
        };
        let result = f(&Reader {
            conn: &conn,
            encryption: self.encryption.as_deref(),
        });
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE {
            idle.push(conn);
        }
        result
    }
}

pub(crate) struct Reader<'a> {
    conn: &'a Connection,
    encryption: Option<&'a Encryption>,
}

/// History rows, each with the value before it, which the row its `prev_mod_revision` names
/// holds.
const HISTORY: &str =
    "SELECT h.revision, h.key, h.create_revision, h.value, p.value, h.prev_mod_revision
     FROM history h LEFT JOIN history p ON p.revision = h.prev_mod_revision";

/// A key's value as stored, before decryption.
struct Stored {
    key: String,
    create_revision: Revision,
    mod_revision: Revision,
    value: Vec<u8>,
}

/// The next row of a [`LIVE`] query.
fn next_live(rows: &mut rusqlite::Rows<'_>) -> Result<Option<Stored>> {
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    Ok(Some(Stored {
        key: row.get(0)?,
        create_revision: row.get(1)?,
        mod_revision: row.get(2)?,
        value: row.get(3)?,
    }))
}

/// A history row, with the value before it.
struct HistoryRow {
    revision: Revision,
    key: String,
    create_revision: Revision,
    value: Option<Vec<u8>>,
    prev_value: Option<Vec<u8>>,
    prev_mod_revision: Option<Revision>,
}

impl Reader<'_> {
    fn open_value(&self, key: &str, stored: Vec<u8>) -> Result<Arc<[u8]>> {
        let stored = crate::compression::decompress(key, stored)?;
        Ok(encryption::open(self.encryption, key, stored)?.into())
    }

    pub(crate) fn compacted(&self) -> Result<Revision> {
        Ok(db::revisions(self.conn)?.1)
    }

    pub(crate) fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage> {
        let tx = self.conn.unchecked_transaction()?;
        let (current, compacted) = db::revisions(&tx)?;
        let at = options.revision.unwrap_or(current);
        if at > current {
            return Err(Error::FutureRevision {
                requested: at,
                current,
            });
        }
        if at < current && at < compacted {
            return Err(Error::Compacted {
                requested: at,
                compacted,
            });
        }
        let end = prefix_end(prefix);
        // Keys strictly after `start_after`, within the prefix.
        let (lo, lo_inclusive) = match &options.start_after {
            Some(after) if after.as_str() >= prefix => (after.clone(), false),
            _ => (prefix.to_owned(), true),
        };
        let limit = options.limit.filter(|l| *l > 0);
        // One more than asked for says whether there are more.
        let wanted = limit.map_or(usize::MAX, |l| l + 1);
        let lo_op = if lo_inclusive { ">=" } else { ">" };
        // The state at `at` is today's with every later write in range undone: each key a
        // later write touched has the state its oldest such write replaced (absent for a
        // create). Those keys are merged into today's in key order, so a page reads about
        // `limit` rows plus the writes since `at`, as etcd's ranged read at a revision does.
        let undone = if at < current {
            self.state_before_writes_after(&tx, at, &lo, lo_op, &end)?
        } else {
            BTreeMap::new()
        };
        let mut undone = undone.into_iter().peekable();
        let sql = format!("{LIVE} WHERE o.key {lo_op} ?1 AND o.key < ?2 ORDER BY o.key");
        let mut stmt = tx.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![lo, end])?;
        let mut today = next_live(&mut rows)?;
        let mut items = Vec::new();
        while items.len() < wanted {
            let from_history = match (&today, undone.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(now), Some((key, _))) => *key <= now.key,
            };
            let stored = match undone.next_if(|_| from_history) {
                Some((key, then)) => {
                    if today.as_ref().is_some_and(|now| now.key == key) {
                        today = next_live(&mut rows)?;
                    }
                    then
                }
                None => std::mem::replace(&mut today, next_live(&mut rows)?),
            };
            if let Some(stored) = stored {
                items.push(Object {
                    value: self.open_value(&stored.key, stored.value)?,
                    create_revision: stored.create_revision,
                    mod_revision: stored.mod_revision,
                    key: stored.key,
                });
            }
        }
        drop(rows);
        drop(stmt);
        let more = limit.is_some_and(|l| items.len() > l);
        if let Some(l) = limit {
            items.truncate(l);
        }
        tx.finish()?;
        Ok(ListPage {
            items,
            revision: at,
            more,
        })
    }

    /// Each key in `lo..end` written after `at`, with its state just before the oldest
    /// such write (`None`: it did not exist).
    fn state_before_writes_after(
        &self,
        tx: &Connection,
        at: Revision,
        lo: &str,
        lo_op: &str,
        end: &str,
    ) -> Result<BTreeMap<String, Option<Stored>>> {
        let sql = format!(
            "{HISTORY} WHERE h.revision > ?1 AND h.key {lo_op} ?2 AND h.key < ?3 ORDER BY h.revision DESC"
        );
        let mut state = BTreeMap::new();
        for row in self.history(tx, &sql, params![at, lo, end])? {
            let before = match (row.prev_value, row.prev_mod_revision) {
                (Some(value), Some(mod_revision)) => Some(Stored {
                    key: row.key.clone(),
                    create_revision: row.create_revision,
                    mod_revision,
                    value,
                }),
                _ => None,
            };
            state.insert(row.key, before);
        }
        Ok(state)
    }

    fn history(
        &self,
        tx: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<HistoryRow>> {
        let mut stmt = tx.prepare_cached(sql)?;
        let rows = stmt.query_map(params, |row| {
            Ok(HistoryRow {
                revision: row.get(0)?,
                key: row.get(1)?,
                create_revision: row.get(2)?,
                value: row.get(3)?,
                prev_value: row.get(4)?,
                prev_mod_revision: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Events under `prefix` with `after < revision <= until`, oldest first.
    pub(crate) fn events(
        &self,
        prefix: &str,
        after: Revision,
        until: Revision,
    ) -> Result<Vec<Arc<Event>>> {
        let tx = self.conn.unchecked_transaction()?;
        let (_, compacted) = db::revisions(&tx)?;
        if after < compacted {
            return Err(Error::Compacted {
                requested: after,
                compacted,
            });
        }
        let rows = self.history(
            &tx,
            &format!(
                "{HISTORY} WHERE h.revision > ?1 AND h.revision <= ?2 AND h.key >= ?3 AND h.key < ?4
                 ORDER BY h.revision"
            ),
            params![after, until, prefix, prefix_end(prefix)],
        )?;
        tx.finish()?;
        rows.into_iter()
            .map(|row| {
                let object = row
                    .value
                    .map(|v| -> Result<Object> {
                        Ok(Object {
                            key: row.key.clone(),
                            value: self.open_value(&row.key, v)?,
                            create_revision: row.create_revision,
                            mod_revision: row.revision,
                        })
                    })
                    .transpose()?;
                let prev = match (row.prev_value, row.prev_mod_revision) {
                    (Some(v), Some(mod_revision)) => Some(Object {
                        key: row.key.clone(),
                        value: self.open_value(&row.key, v)?,
                        create_revision: row.create_revision,
                        mod_revision,
                    }),
                    _ => None,
                };
                Ok(Arc::new(Event {
                    revision: row.revision,
                    object,
                    prev,
                }))
            })
            .collect()
    }
}
