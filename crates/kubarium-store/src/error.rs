//! Store errors. Callers map them onto Kubernetes `Status` reasons: `NotFound` → 404,
//! `AlreadyExists` → 409, `Conflict` → 409, `Compacted` → 410 Gone.

use crate::Revision;

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No object at the key.
    #[error("{key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// An object already exists at the key.
    #[error("{key} already exists")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// The object changed since the revision the write expected.
    #[error("{key} is at revision {current}, not {expected}")]
    Conflict {
        /// The key.
        key: String,
        /// The revision the writer expected.
        expected: Revision,
        /// The object's actual revision.
        current: Revision,
    },
    /// The requested revision's history was compacted away.
    #[error("revision {requested} is compacted (the oldest kept is {compacted})")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The compacted revision.
        compacted: Revision,
    },
    /// The requested revision is newer than any write.
    #[error("revision {requested} is newer than the store's {current}")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The latest revision.
        current: Revision,
    },
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A sealed value could not be opened: wrong key or damaged data.
    #[error("cannot decrypt {key}: the encryption key does not match the one it was written with")]
    Decrypt {
        /// The key whose value failed.
        key: String,
    },
    /// The store's writer is gone (the store is shutting down).
    #[error("the store is shutting down")]
    Closed,
    /// An invariant broke; a bug.
    #[error("internal store error: {0}")]
    Internal(String),
}

/// `Result` with the store's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn internal(message: &str) -> Self {
        Error::Internal(message.to_owned())
    }
}
