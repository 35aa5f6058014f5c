//! Threads for connections, kept for reuse: a client that opens a connection per request would
//! otherwise pay for two thread starts (and exits) per request on top of the proxy's own
//! connect. A finished thread waits [`KEEP_IDLE`] for its next job, then exits; at most
//! [`MAX_IDLE`] wait at a time.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::STACK;

const KEEP_IDLE: Duration = Duration::from_secs(30);
const MAX_IDLE: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

/// Idle threads, each with its id and the sender that hands it the next job.
static IDLE: Mutex<Vec<(u64, Sender<Job>)>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<u64> = Mutex::new(0);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `job` on an idle thread, or on a new one; an error when no thread can be started
/// (the job is dropped, closing whatever it owned).
pub(super) fn run(job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let mut job: Job = Box::new(job);
    loop {
        let idle = lock(&IDLE).pop();
        let Some((_, sender)) = idle else { break };
        // Fails only when that thread gave up waiting just now; try the next.
        match sender.send(job) {
            Ok(()) => return Ok(()),
            Err(returned) => job = returned.0,
        }
    }
    let id = {
        let mut next = lock(&NEXT_ID);
        *next += 1;
        *next
    };
    std::thread::Builder::new()
        .name("proxy-conn".into())
        .stack_size(STACK)
        .spawn(move || worker(id, job))
        .map(drop)
}

fn worker(id: u64, first: Job) {
    first();
    let (sender, receiver): (Sender<Job>, Receiver<Job>) = mpsc::channel();
    loop {
        {
            let mut idle = lock(&IDLE);
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push((id, sender.clone()));
        }
        match receiver.recv_timeout(KEEP_IDLE) {
            Ok(job) => job(),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                // Leave the list; if someone took this thread off it meanwhile, their job is
                // on its way and is run before leaving.
                let mut idle = lock(&IDLE);
                if let Some(at) = idle.iter().position(|(other, _)| *other == id) {
                    idle.swap_remove(at);
                    return;
                }
                drop(idle);
                match receiver.recv() {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_and_threads_are_reused() {
        let (done, finished) = mpsc::channel();
        for i in 0..20 {
            let done = done.clone();
            run(move || {
                let _ = done.send((i, std::thread::current().id()));
            })
            .unwrap();
            // Sequential jobs: after the first, an idle thread is there to take each.
            std::thread::sleep(Duration::from_millis(5));
        }
        let results: Vec<_> = finished.iter().take(20).collect();
        let mut ids: Vec<_> = results.iter().map(|(_, thread)| *thread).collect();
        ids.dedup();
        assert!(
            ids.len() < 20,
            "threads were reused: {} distinct",
            ids.len()
        );
    }
}
