//! Types of `apply_objects`: what became of each applied document.

use serde::Serialize;
use ts_rs::TS;

use super::AppError;

/// One document to apply, as JSON (the UI parses YAML and sends objects).
pub type Document = serde_json::Value;

/// What an apply did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ApplyResult {
    /// It did not exist; now it does (or would, on a dry run).
    Created,
    /// It existed and changed (or would, on a dry run).
    Configured,
    /// It existed and the document changed nothing.
    Unchanged,
}

/// One document's outcome, in the order the documents were given.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ApplyOutcome {
    /// The document's `kind` (empty when it had none).
    pub kind: String,
    /// The document's `metadata.name` (empty when it had none).
    pub name: String,
    /// Where it was applied; `None` for cluster-scoped kinds (or when the kind is unknown).
    pub namespace: Option<String>,
    /// `None` when it failed; then `error` says why.
    pub result: Option<ApplyResult>,
    /// Why this document was not applied; the others were tried all the same.
    pub error: Option<AppError>,
}
