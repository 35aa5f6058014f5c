//! What the UI sees of a cluster's objects: the kinds it can browse, and live rows pushed
//! as batches of changes by a watch (`crate::watch`).
//!
//! A row carries the `kubectl get` cells for its kind plus a small per-kind summary the map,
//! the topology graph and the details pages need; the whole object is fetched only when a
//! details page opens, so 10,000 pods cost the UI rows, not documents.

use std::collections::BTreeMap;

use serde::Serialize;
use ts_rs::TS;

use super::AppError;

/// Where a kind sits in the sidebar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Category {
    Workloads,
    Network,
    Config,
    Storage,
    Cluster,
}

/// How the UI renders and sorts a column's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ColumnType {
    /// Text; sorted as text.
    String,
    /// A whole number (`RESTARTS`, `DESIRED`); sorted numerically.
    Integer,
    /// An RFC 3339 timestamp shown as kubectl's age (`5m`, `3d`) and kept live by the UI.
    Age,
}

/// One `kubectl get` column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    /// The header, as kubectl prints it (`READY`, `STATUS`).
    pub name: String,
    pub column_type: ColumnType,
    /// 0 = shown by `kubectl get`; 1 = only with `-o wide`.
    pub priority: u8,
}

/// A kind the UI can browse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct KindInfo {
    /// The plural resource name, the key every command takes (`pods`, `deployments`).
    pub resource: String,
    /// `Pod`, `Deployment`.
    pub kind: String,
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    pub namespaced: bool,
    pub category: Category,
    /// kubectl's short names (`po`, `deploy`), for the command palette.
    pub short_names: Vec<String>,
    /// The columns of [`Row::cells`], in order. `NAME` (and `NAMESPACE`) are not among them:
    /// they are fields of every row.
    pub columns: Vec<Column>,
}

/// One cell: text, a number, or empty (`<none>` is text, as kubectl prints it).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(untagged)]
pub enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

/// An owner reference, as the map groups pods and the topology graph draws edges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub uid: String,
    /// The managing controller (`controller: true`).
    pub controller: bool,
}

/// One object as a table row.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub uid: String,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
    pub resource_version: String,
    /// `metadata.creationTimestamp`, RFC 3339.
    pub created_at: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub owners: Vec<OwnerRef>,
    /// Set while the object is being deleted (`metadata.deletionTimestamp`).
    pub deleting: bool,
    /// One per [`KindInfo::columns`] entry.
    pub cells: Vec<Cell>,
    pub summary: Summary,
}

/// What the map, topology graph and details need beyond the cells, per kind.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Summary {
    Pod(PodSummary),
    Node(NodeSummary),
    Service(ServiceSummary),
    Ingress(IngressSummary),
    Event(EventSummary),
    /// Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs: their pod selector and counts.
    Workload(WorkloadSummary),
    /// Kinds with nothing beyond their cells.
    None,
}

/// A pod, as the map draws its tile.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PodSummary {
    /// `spec.nodeName`; `None` while unscheduled.
    pub node: Option<String>,
    /// `status.phase` (`Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`).
    pub phase: String,
    /// kubectl's `STATUS` column (`CrashLoopBackOff`, `Terminating`, `Completed`, …).
    pub status: String,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    pub ready_containers: u32,
    pub total_containers: u32,
    pub restarts: u32,
    pub pod_ip: Option<String>,
    /// Sum of the containers' requests (init containers as the scheduler counts them).
    // A number to the UI: far below 2^53, and JSON carries no bigints.
    #[ts(type = "number")]
    pub cpu_request_milli: u64,
    // A number to the UI: far below 2^53, and JSON carries no bigints.
    #[ts(type = "number")]
    pub memory_request_bytes: u64,
    /// `PodScheduled=False`'s message: why the scheduler could not place it.
    pub unschedulable: Option<String>,
    /// Container names, app containers first, for the log and exec pickers.
    pub containers: Vec<String>,
    /// ConfigMaps, Secrets and PVCs the pod uses (volumes, env, envFrom), for related links.
    pub config_maps: Vec<String>,
    pub secrets: Vec<String>,
    pub claims: Vec<String>,
}

/// A node, as the map draws its panel.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// The `Ready` condition's reason and message when it is not `True`.
    pub not_ready_reason: Option<String>,
    /// Cordoned (`spec.unschedulable`).
    pub unschedulable: bool,
    /// From `node-role.kubernetes.io/<role>` labels.
    pub roles: Vec<String>,
    // A number to the UI: far below 2^53, and JSON carries no bigints.
    #[ts(type = "number")]
    pub cpu_allocatable_milli: u64,
    // A number to the UI: far below 2^53, and JSON carries no bigints.
    #[ts(type = "number")]
    pub memory_allocatable_bytes: u64,
    /// Runs hollow (simulated) pods.
    pub hollow: bool,
    pub internal_ip: Option<String>,
    pub taints: Vec<String>,
}

/// A Service: what it selects and where it listens.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSummary {
    /// `None` for a Service without a selector.
    pub selector: Option<BTreeMap<String, String>>,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    pub service_type: String,
    /// Ports as `port/protocol` with `:nodePort` when set.
    pub ports: Vec<String>,
}

/// An Ingress: the Services it routes to.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct IngressSummary {
    pub services: Vec<String>,
    pub hosts: Vec<String>,
}

/// An Event, for the timeline and a details page's Events tab.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    /// `Normal` or `Warning`.
    pub event_type: String,
    pub reason: String,
    pub message: String,
    pub involved_kind: String,
    pub involved_name: String,
    pub involved_namespace: Option<String>,
    pub involved_uid: Option<String>,
    pub count: u32,
    /// The latest of lastTimestamp, eventTime, firstTimestamp, creationTimestamp.
    pub last_seen: Option<String>,
    /// `reportingComponent` or `source.component`.
    pub source: String,
}

/// A workload: its selector and replica counts.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSummary {
    /// `spec.selector.matchLabels` (expressions are not summarised).
    pub selector: BTreeMap<String, String>,
    pub desired: Option<u32>,
    pub ready: u32,
    /// Volume claim templates' names (StatefulSets).
    pub claim_templates: Vec<String>,
}

/// What a watch reports to the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum WatchState {
    /// Listing; no rows yet.
    Syncing,
    /// Rows are current and changes stream in.
    Live,
    /// The watch broke; it is re-establishing (rows are kept and may be stale).
    Reconnecting,
}

/// One message of a resource watch. The first data message is a `reset`.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ResourceBatch {
    /// Every row there is now; replaces whatever the UI held (first list, and re-lists).
    Reset { rows: Vec<Row> },
    /// Rows added or changed, and uids removed, since the last message.
    Changes {
        upserts: Vec<Row>,
        deletes: Vec<String>,
    },
    /// The watch's state changed; `error` says why when it is reconnecting.
    State {
        state: WatchState,
        error: Option<AppError>,
    },
}

/// An object, whole, as the API server returns it (JSON).
pub type Object = serde_json::Value;

/// Identifies a running watch or stream, to stop it.
pub type StreamId = u64;

/// One message of a single-object watch (a details page).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ObjectUpdate {
    /// The object, whole, as the API returns it (without `metadata.managedFields`).
    Object {
        #[ts(type = "Record<string, unknown>")]
        object: serde_json::Value,
    },
    /// It was deleted, or does not exist.
    Deleted,
    /// The watch's state changed; `error` says why when it is reconnecting.
    State {
        state: WatchState,
        error: Option<AppError>,
    },
}
