//! Types of the Learn mode's host commands: a one-shot exec that collects its output, and
//! an HTTP answer fetched through the local cluster's ingress controller.

use serde::Serialize;
use ts_rs::TS;

/// What a one-shot exec (`exec_run`) printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ExecResult {
    /// Standard output, at most 64 KiB, decoded as UTF-8 (invalid bytes replaced).
    pub stdout: String,
    /// Standard error, at most 64 KiB, decoded the same way.
    pub stderr: String,
    /// The exit code when the server reported one; `None` when the command could not run,
    /// the connection broke, or it was cancelled after the time limit.
    pub exit_code: Option<i32>,
    /// How it ended, in a sentence (exited with code n, timed out, …).
    pub message: String,
}

/// An HTTP answer from a GET through the ingress controller (`ingress_get`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HttpAnswer {
    /// The status code (200, 404, 503…).
    pub status: u16,
    /// The body, at most 64 KiB, decoded as UTF-8 (invalid bytes replaced).
    pub body: String,
}
