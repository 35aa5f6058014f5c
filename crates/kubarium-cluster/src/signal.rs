//! Waiting for the signals that ask a Kubarium process to stop: SIGTERM and SIGINT on Unix
//! (service managers, `kill`, Ctrl+C), Ctrl+C elsewhere.

/// Resolves when a stop signal arrives, naming it.
pub async fn stop_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        })
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl+C")
    }
}
