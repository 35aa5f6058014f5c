//! Types that cross to the UI. TypeScript bindings for them are generated into
//! `ui/src/ipc/bindings/` (checked in; a test fails when they are stale, and
//! `cargo xtask bindings` refreshes them).

use serde::Serialize;
use ts_rs::TS;

pub mod actions;
pub mod apply;
pub mod clusters;
pub mod learn;
pub mod resources;
pub mod streams;

/// An error as the UI shows it: a stable code for logic, a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct AppError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// What failed and what to do about it, in words a person can act on.
    pub message: String,
    /// Field-level causes of an `invalid` error (the API's `Status.details.causes`), so an
    /// editor can show each at its field.
    pub causes: Vec<FieldCause>,
}

impl AppError {
    /// An error without field causes.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            causes: Vec::new(),
        }
    }
}

/// One field the API server rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FieldCause {
    /// The field's path as the API names it (`spec.replicas`, `spec.containers[0].image`);
    /// empty when the cause names no field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Failure kinds the UI treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// The embedded cluster could not start (port taken, data dir in use, …).
    ClusterStart,
    /// The API server did not answer.
    Unreachable,
    /// The server's certificate failed verification (not signed by the cluster's CA, wrong
    /// name, expired); the message gives its SHA-256 fingerprint where it could be read.
    Tls,
    /// The request was malformed (400).
    BadRequest,
    /// The credentials were refused (401).
    Unauthorized,
    /// Authenticated but not allowed (403).
    Forbidden,
    /// The object or kind does not exist (404), or the cluster is unknown.
    NotFound,
    /// Already exists, or changed since it was read (409).
    Conflict,
    /// The object failed validation (422); see `causes`.
    Invalid,
    /// The server failed or is overloaded (5xx, 429).
    Server,
    /// The request could not be made (bad input on the app's side, a local port in use…).
    Local,
}

/// Where a cluster stands, as the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ClusterPhase {
    /// Starting up; nothing to talk to yet.
    Starting,
    /// The API server answered the last probe.
    Connected,
    /// The last probe failed; probing continues.
    Unreachable,
    /// The cluster could not start; see the error.
    Failed,
    /// Stopped on request.
    Stopped,
}

impl ClusterPhase {
    /// The phase in words, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ClusterPhase::Starting => "it is still starting",
            ClusterPhase::Connected => "it is connected",
            ClusterPhase::Unreachable => "it does not answer",
            ClusterPhase::Failed => "it failed to start",
            ClusterPhase::Stopped => "it was stopped",
        }
    }
}

/// The API server's version, from `/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    /// e.g. `v1.33.0+kubarium.0.1.0`.
    pub git_version: String,
    /// e.g. `linux/amd64`.
    pub platform: String,
}

/// One cluster as the UI sees it; pushed to the UI on every change.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The cluster's id ([`crate::LOCAL`] for the embedded one), as in every command.
    pub id: String,
    /// The context name.
    pub name: String,
    /// True for the cluster embedded in the app.
    pub local: bool,
    /// Where it stands.
    pub phase: ClusterPhase,
    /// The API server URL, once known.
    pub server_url: Option<String>,
    /// Where its kubeconfig was written (local cluster only).
    pub kubeconfig_path: Option<String>,
    /// A kubectl line that works against it, quoted for a shell (local cluster only).
    pub kubectl_command: Option<String>,
    /// Where it keeps its state (local cluster only).
    pub data_dir: Option<String>,
    /// Where its logs are written (local cluster only).
    pub logs_dir: Option<String>,
    /// From the last successful probe.
    pub version: Option<ServerVersion>,
    /// Round trip of the last successful probe, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Why it is failed or unreachable.
    pub error: Option<AppError>,
    /// Whether the Docker engine the local cluster's pods run on answers; `None` for a
    /// remote cluster, or before the first probe.
    pub docker: Option<DockerState>,
    /// This machine's CPU and memory use, refreshed by every probe; `None` where it cannot
    /// be read (only Linux's `/proc` is read today).
    pub host: Option<HostStats>,
    /// Counts the cluster's starts (1 after the first). A stop and start, or a reset, makes
    /// a new run: watches begun in an earlier run follow a cluster that is gone and must be
    /// started again.
    pub run: u32,
    /// What the remote cluster's exec credential plugin is writing to its stderr while it
    /// runs (its latest lines): a device-code sign-in's URL and code, a prompt to touch a
    /// security key. `None` when no plugin runs, and for the local cluster.
    pub prompt: Option<String>,
    /// When a remote cluster that does not answer is tried next, in milliseconds since the
    /// Unix epoch: tries wait longer after each failure (2 s doubling up to a minute), and
    /// `retry_cluster` tries at once. `None` while it answers, and for the local cluster.
    pub retry_at: Option<f64>,
}

impl ClusterStatus {
    /// A cluster's status before its first probe: starting, nothing known beyond its id,
    /// name and (for a remote one) server.
    pub fn starting(
        id: &str,
        name: &str,
        local: bool,
        server_url: Option<String>,
        run: u32,
    ) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            local,
            phase: ClusterPhase::Starting,
            server_url,
            kubeconfig_path: None,
            kubectl_command: None,
            data_dir: None,
            logs_dir: None,
            version: None,
            latency_ms: None,
            error: None,
            docker: None,
            host: None,
            run,
            prompt: None,
            retry_at: None,
        }
    }
}

/// The Docker engine the local cluster runs pods on, as its nodes last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum DockerState {
    /// It answers; `version` is the engine's (`27.3.1`).
    Running { version: String },
    /// It does not answer; `message` says why and what to do (start Docker).
    Unreachable { message: String },
    /// The cluster runs hollow (simulated) pods and needs no Docker.
    NotUsed,
}

/// This machine's load, for the status bar.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HostStats {
    /// Busy share of all CPUs since the previous probe, 0–100; `None` on the first probe.
    pub cpu_percent: Option<f64>,
    /// Memory in use: total minus what the kernel says is available.
    #[ts(type = "number")]
    pub memory_used_bytes: u64,
    #[ts(type = "number")]
    pub memory_total_bytes: u64,
}

#[cfg(test)]
mod tests {
    //! Keeps `ui/src/ipc/bindings/` in step with the types above.

    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::*;

    fn generate(dir: &Path) {
        let config = ts_rs::Config::new().with_out_dir(dir);
        ClusterStatus::export_all(&config).unwrap();
        resources::KindInfo::export_all(&config).unwrap();
        resources::ResourceBatch::export_all(&config).unwrap();
        actions::Propagation::export_all(&config).unwrap();
        actions::Revision::export_all(&config).unwrap();
        actions::UndoOutcome::export_all(&config).unwrap();
        actions::DrainOutcome::export_all(&config).unwrap();
        apply::ApplyOutcome::export_all(&config).unwrap();
        streams::LogOptions::export_all(&config).unwrap();
        streams::LogBatch::export_all(&config).unwrap();
        streams::ExecOutput::export_all(&config).unwrap();
        streams::Forward::export_all(&config).unwrap();
        resources::ObjectUpdate::export_all(&config).unwrap();
        clusters::ClusterEntry::export_all(&config).unwrap();
        clusters::KubeconfigSource::export_all(&config).unwrap();
        clusters::KubeconfigPreview::export_all(&config).unwrap();
        clusters::ManualCluster::export_all(&config).unwrap();
        clusters::KeychainInfo::export_all(&config).unwrap();
        clusters::AccessCheck::export_all(&config).unwrap();
        clusters::MergeOutcome::export_all(&config).unwrap();
        learn::ExecResult::export_all(&config).unwrap();
        learn::HttpAnswer::export_all(&config).unwrap();
    }

    fn read_dir(dir: &Path) -> BTreeMap<PathBuf, String> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "ts"))
                    .map(|p| {
                        (
                            PathBuf::from(p.file_name().unwrap()),
                            std::fs::read_to_string(&p).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn ui_bindings_are_current() {
        let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/ipc/bindings");
        if std::env::var_os("KUBARIUM_UPDATE_BINDINGS").is_some() {
            let _ = std::fs::remove_dir_all(&checked_in);
            generate(&checked_in);
            return;
        }
        let fresh = tempfile::tempdir().unwrap();
        generate(fresh.path());
        assert_eq!(
            read_dir(&checked_in),
            read_dir(fresh.path()),
            "ui/src/ipc/bindings is stale: run `cargo xtask bindings` and commit the result"
        );
    }
}
