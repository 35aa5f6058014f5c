//! Logging for Kubarium's binaries: `tracing` to stderr and to a daily-rolling file.
//!
//! `RUST_LOG` is honoured (default `info`). Files live in `DIR/logs/<name>.<date>.log`; the
//! newest seven are kept. Nothing secret is logged: tokens and keys never reach a `tracing`
//! field.

use std::io::IsTerminal;
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::datadir::create_private_dir;
use crate::{Error, Result};

/// Keeps the log file writer alive; logs still buffered are flushed when it drops, so hold
/// it until the end of `main`.
#[must_use = "logs are lost unless the guard lives until the program ends"]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Installs the global subscriber: stderr and `DIR/logs/<name>.<date>.log`. Creates the
/// data dir first, private to the user, since it is the first thing a binary touches.
pub fn init(data_dir: &Path, name: &str) -> Result<LogGuard> {
    create_private_dir(data_dir)?;
    let log_dir = data_dir.join("logs");
    create_private_dir(&log_dir)?;
    let log_dir = log_dir.as_path();
    let file = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(name)
        .filename_suffix("log")
        .max_log_files(7)
        .build(log_dir)
        .map_err(|e| Error::Io {
            path: log_dir.to_owned(),
            source: std::io::Error::other(e),
        })?;
    let (file, guard) = tracing_appender::non_blocking(file);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, or an embedder that set up its own) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(file),
        )
        .try_init();
    Ok(LogGuard(guard))
}
