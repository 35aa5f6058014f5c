//! Streams the UI opens: pod logs, exec sessions and port-forwards.
//!
//! Each runs as a task in [`crate::Tasks`], so `stop_stream(id)` ends any of them. Exec
//! sessions and port-forwards also need to be reached by id while they run (typed input, a
//! resized terminal, the list of forwards); [`Streams`] keeps those handles.

mod exec;
mod forward;
mod logs;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

pub use exec::ExecSession;
pub use forward::{RunningForward, open_url, url_allowed};
pub use logs::{LineSplitter, stream_logs};

use crate::ipc::resources::StreamId;

/// The running exec sessions and port-forwards, by the id of their task.
#[derive(Default)]
pub struct Streams {
    exec: Mutex<HashMap<StreamId, ExecSession>>,
    forwards: Mutex<HashMap<StreamId, RunningForward>>,
}

/// Locks a registry; a panic elsewhere while it was held leaves nothing half-done in a map of
/// handles, so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
