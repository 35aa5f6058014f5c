//! Waiting for the signals that ask a Kubarium process to stop: SIGTERM and SIGINT on Unix
//! (service managers, `kill`, Ctrl+C), Ctrl+C elsewhere.

use std::future::Future;

/// Starts listening for a stop signal now, and returns what resolves when one arrives, naming
/// it. Call it before saying the process is up: a signal that comes earlier than the listener
/// would end the process the default way, not cleanly. Needs a Tokio runtime.
pub fn stop_signal() -> std::io::Result<impl Future<Output = std::io::Result<&'static str>>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            Ok(tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            })
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async { tokio::signal::ctrl_c().await.map(|()| "Ctrl+C") })
    }
}
