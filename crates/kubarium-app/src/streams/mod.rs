//! Streams the UI opens: pod logs, exec sessions, port-forwards and terminals on this
//! machine.
//!
//! Each runs as a task in [`crate::Tasks`], so `stop_stream(id)` ends any of them. Exec
//! sessions, port-forwards and terminals also need to be reached by id while they run (typed
//! input, a resized terminal, the list of forwards); [`Streams`] keeps those handles.

mod exec;
mod forward;
mod logs;
#[cfg(unix)]
mod pty;
mod terminal;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

pub use exec::ExecSession;
pub(crate) use exec::exit_of;
pub use forward::{RunningForward, open_url, url_allowed};
pub use logs::{LineSplitter, stream_logs};
#[cfg(not(unix))]
pub(crate) use terminal::not_available as terminal_not_available;
pub use terminal::{TerminalCommand, TerminalSession};

use crate::ipc::resources::StreamId;

/// The running exec sessions, port-forwards and terminals, by the id of their task.
#[derive(Default)]
pub struct Streams {
    exec: Mutex<HashMap<StreamId, ExecSession>>,
    forwards: Mutex<HashMap<StreamId, RunningForward>>,
    terminals: Mutex<HashMap<StreamId, TerminalSession>>,
}

/// Locks a registry; a panic elsewhere while it was held leaves nothing half-done in a map of
/// handles, so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `message` to session `id` of `sessions` on the channel `channel` picks. A session
/// whose task has ended (its channel closed) is forgotten, and either way an id that names no
/// running session is [`Error::UnknownStream`].
fn send_to<S, M>(
    sessions: &Mutex<HashMap<StreamId, S>>,
    id: StreamId,
    channel: impl FnOnce(&S) -> &tokio::sync::mpsc::UnboundedSender<M>,
    message: M,
) -> crate::Result<()> {
    let mut sessions = lock(sessions);
    let sent = sessions
        .get(&id)
        .is_some_and(|session| channel(session).send(message).is_ok());
    if !sent {
        sessions.remove(&id);
        return Err(crate::Error::UnknownStream(id));
    }
    Ok(())
}
