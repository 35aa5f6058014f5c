//! The current state in memory: every live object by key, as of the latest commit.
//!
//! The writer thread applies each committed batch here before any caller or watcher hears
//! of it, so a read of the latest state that starts after a write was acknowledged sees that
//! write — the same guarantee a read of the database gives — without a SQLite transaction,
//! a page-cache refill after every commit, or a copy of the bytes (values are shared with
//! the events that carried them). Reads at an older revision still go to the history tables.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock};

use rusqlite::Connection;

use crate::encryption::{self, Encryption};
use crate::{Error, Event, ListOptions, ListPage, Object, Result, Revision};

/// Every live key with its value, which the history row of its `mod_revision` holds.
pub(crate) const LIVE: &str = "SELECT o.key, o.create_revision, o.mod_revision, h.value
    FROM objects o JOIN history h ON h.revision = o.mod_revision";

pub(crate) struct Current {
    state: RwLock<State>,
}

struct State {
    revision: Revision,
    objects: BTreeMap<String, Object>,
}

impl Current {
    /// Loads every object from the database `conn` holds, at `revision`.
    pub(crate) fn load(
        conn: &Connection,
        encryption: Option<&Encryption>,
        revision: Revision,
    ) -> Result<Self> {
        let mut objects = BTreeMap::new();
        let mut stmt = conn.prepare(LIVE)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let stored = crate::compression::decompress(&key, row.get(3)?)?;
            let value = encryption::open(encryption, &key, stored)?;
            let object = Object {
                key: key.clone(),
                value: value.into(),
                create_revision: row.get(1)?,
                mod_revision: row.get(2)?,
            };
            objects.insert(key, object);
        }
        Ok(Self {
            state: RwLock::new(State { revision, objects }),
        })
    }

    /// Applies committed events, oldest first.
    pub(crate) fn apply(&self, events: &[Arc<Event>]) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        for event in events {
            match &event.object {
                Some(object) => {
                    state.objects.insert(object.key.clone(), object.clone());
                }
                None => {
                    state.objects.remove(event.key());
                }
            }
            state.revision = state.revision.max(event.revision);
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.objects.contains_key(key)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Object> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.objects.get(key).cloned()
    }

    /// A page of the latest state under `prefix`, or `None` when `options` asks for an older
    /// revision (the caller reads history for that).
    pub(crate) fn list(&self, prefix: &str, options: &ListOptions) -> Result<Option<ListPage>> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        match options.revision {
            Some(at) if at > state.revision => {
                return Err(Error::FutureRevision {
                    requested: at,
                    current: state.revision,
                });
            }
            Some(at) if at < state.revision => return Ok(None),
            _ => {}
        }
        let lower = match &options.start_after {
            Some(after) if after.as_str() >= prefix => Bound::Excluded(after.as_str()),
            _ => Bound::Included(prefix),
        };
        let limit = options.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut matching = state
            .objects
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix));
        let items: Vec<Object> = matching
            .by_ref()
            .take(limit)
            .map(|(_, object)| object.clone())
            .collect();
        let more = matching.next().is_some();
        Ok(Some(ListPage {
            items,
            revision: state.revision,
            more,
        }))
    }
}
