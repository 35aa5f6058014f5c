//! Types of the streams: logs, exec sessions and port-forwards.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::AppError;
use super::resources::StreamId;

/// What part of a container's log to stream (`kubectl logs` flags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct LogOptions {
    /// Keep streaming new lines (`-f`).
    pub follow: bool,
    /// The previous, terminated instance of the container (`-p`).
    pub previous: bool,
    /// Prefix each line with its RFC 3339 timestamp (`--timestamps`).
    pub timestamps: bool,
    /// Only the last lines (`--tail`).
    #[ts(type = "number | null")]
    pub tail_lines: Option<i64>,
    /// Only lines newer than this many seconds (`--since`).
    #[ts(type = "number | null")]
    pub since_seconds: Option<i64>,
}

/// One message of a log stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LogBatch {
    /// Whole lines, without their newline, in order.
    Lines { lines: Vec<String> },
    /// The stream ended; says why (the log was shown whole, the container stopped, the pod
    /// went away).
    End { reason: String },
    /// The stream could not start or broke; it has ended.
    Error { error: AppError },
}

/// One message of an exec session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ExecOutput {
    /// Bytes the command wrote to its standard output (everything, with a terminal).
    Stdout { data: Vec<u8> },
    /// Bytes the command wrote to its standard error (never with a terminal).
    Stderr { data: Vec<u8> },
    /// The command ended; `code` is its exit code when the server reported one.
    Exit { code: Option<i32>, message: String },
}

/// What a port-forward reaches: a pod, or a Service (through one of its ready pods).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ForwardTarget {
    /// `pod` or `service`.
    pub kind: TargetKind,
    /// The pod's or Service's name.
    pub name: String,
}

/// The kind of object a port-forward targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum TargetKind {
    Pod,
    Service,
}

/// A running port-forward: connections to `127.0.0.1:localPort` reach `remotePort` of the
/// target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Forward {
    /// Stops it (`port_forward_stop`, or `stop_stream`).
    #[ts(type = "number")]
    pub id: StreamId,
    /// The cluster's id.
    pub cluster: String,
    pub namespace: String,
    pub target: ForwardTarget,
    /// For a pod, its container port; for a Service, the Service port.
    pub remote_port: u16,
    /// The pod the connections go to (the Service's pod, for a Service).
    pub pod: String,
    /// The port of the pod the connections go to (the Service port's target).
    pub pod_port: u16,
    /// The port listening on 127.0.0.1.
    pub local_port: u16,
    /// `http://127.0.0.1:<localPort>/`.
    pub url: String,
}
