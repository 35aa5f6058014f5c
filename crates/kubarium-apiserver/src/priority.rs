//! Reads ahead of writes: the work of a mutating request (decoding, defaulting, validation,
//! managed fields, encoding) runs on a runtime of its own, whose threads the OS schedules
//! behind the threads that serve connections.
//!
//! A GET costs a few microseconds of CPU and a write tens of them, plus the wait for its
//! commit. On one runtime, a burst of writes queues every read behind it; on threads of
//! their own, writes and reads each get a share of the CPU from the OS, so the request
//! threads stay free to answer reads and feed watches, and writes take all of it when nobody
//! reads. kube-apiserver's API Priority and Fairness guards the same thing, read-heavy
//! clients (UIs, controllers' caches) from write storms, with queues per priority level; one
//! process on a desktop needs only the two levels.
//!
//! The write threads are niced one step, no more: a nice value weighs a thread against every
//! thread on the machine, not only the server's own, so at 5 (a third of the weight) the
//! server's writes lost the CPU to whatever else ran — the desktop, the clients making the
//! writes — and the control plane slowed down by a quarter (docs/benchmarks.md).
//!
//! The runtime is one per process, shared by every [`crate::ApiServer`] in it, and never
//! shut down: its tasks are requests, each of which ends by itself.

use std::future::Future;
use std::sync::OnceLock;

use crate::StatusError;

/// How far below the request threads the write threads are scheduled, as a nice increment:
/// at 1 a write thread weighs four fifths of a request thread when both want the CPU.
#[cfg(target_os = "linux")]
const NICE: i32 = 1;

/// The writes' runtime, `None` if it could not be built (then writes run where they arrive).
fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    static WRITES: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    WRITES
        .get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(2, usize::from);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("kubarium-writes")
                .on_thread_start(lower_priority)
                .enable_all()
                .build()
                .inspect_err(|error| {
                    tracing::warn!(%error, "no runtime for writes; they share the request threads");
                })
                .ok()
        })
        .as_ref()
}

/// Runs `write` (a mutating request's handling) on the writes' runtime and waits for it.
/// Once started it runs to the end even if the client goes away, as a write does upstream.
pub(crate) async fn write<F, T>(write: F) -> Result<T, StatusError>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let Some(runtime) = runtime() else {
        return Ok(write.await);
    };
    runtime.spawn(write).await.map_err(|error| {
        tracing::error!(%error, "a write's task failed");
        StatusError::internal("the request's handling failed; see the server's log")
    })
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // On Linux a priority set on a thread id applies to that thread alone.
    let thread = Some(rustix::thread::gettid());
    let lowered = rustix::process::getpriority_process(thread)
        .and_then(|nice| rustix::process::setpriority_process(thread, (nice + NICE).min(19)));
    if let Err(error) = lowered {
        tracing::debug!(%error, "write threads keep the request threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_run_on_their_own_threads() {
        let here = std::thread::current().id();
        let (there, name) = write(async {
            let thread = std::thread::current();
            (thread.id(), thread.name().map(str::to_owned))
        })
        .await
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(there, here);
        assert_eq!(name.as_deref(), Some("kubarium-writes"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn write_threads_are_scheduled_behind_request_threads() {
        let priority = || rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        let here = priority().unwrap_or_else(|e| panic!("{e}"));
        let there = write(async move { priority() })
            .await
            .map_err(|e| e.to_string())
            .and_then(|p| p.map_err(|e| e.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(there, (here + NICE).min(19));
    }
}
