//! Types of the object actions (delete, scale, rollout, cordon/drain, local nodes) as the UI
//! sends and receives them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::AppError;

/// What deleting an owner does to its dependents: the API's `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Propagation {
    /// The owner goes at once; the garbage collector deletes its dependents afterwards
    /// (kubectl's default).
    #[default]
    Background,
    /// The owner stays, marked for deletion, until the garbage collector has deleted every
    /// dependent that blocks it.
    Foreground,
    /// The owner goes; its dependents stay, with their owner reference removed.
    Orphan,
}

/// One revision of a Deployment, StatefulSet or DaemonSet, as `kubectl rollout history`
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// The revision number (`deployment.kubernetes.io/revision` of a ReplicaSet, or a
    /// ControllerRevision's `.revision`).
    #[ts(type = "number")]
    pub revision: i64,
    /// The `kubernetes.io/change-cause` annotation, when someone set it.
    pub change_cause: Option<String>,
    /// The images of the revision's containers, init containers first.
    pub images: Vec<String>,
    /// When the revision was recorded (RFC 3339).
    pub created_at: Option<String>,
    /// The revision the workload runs now.
    pub current: bool,
}

/// What `rollout_undo` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UndoOutcome {
    /// The revision whose template the workload now has.
    #[ts(type = "number")]
    pub revision: i64,
    /// Nothing was changed: the workload already ran that template (kubectl's "skipped
    /// rollback").
    pub skipped: bool,
}

/// What happened to one pod during a drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum EvictionResult {
    /// The eviction was accepted; the pod is being deleted gracefully.
    Evicted,
    /// Left alone on purpose (DaemonSet pods, mirror pods, pods already being deleted).
    Skipped,
    /// A PodDisruptionBudget refused it for now (429); retrying later may succeed.
    Blocked,
    /// The eviction failed; see `error`.
    Failed,
}

/// One pod of a drain and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PodEviction {
    pub namespace: String,
    pub name: String,
    pub result: EvictionResult,
    /// Why it was skipped or blocked, in words.
    pub reason: Option<String>,
    /// What failed, for `failed` and `blocked`.
    pub error: Option<AppError>,
}

/// What `drain` did: the node was cordoned, then each of its pods evicted or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DrainOutcome {
    pub node: String,
    /// Every pod that was on the node, in namespace/name order.
    pub pods: Vec<PodEviction>,
}
