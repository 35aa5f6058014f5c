//! Objects as the rows the UI shows: the `kubectl get` cells (printed by the API server's
//! own Table printers) and the per-kind summary, built from the object's JSON as a watch
//! delivers it.

mod quantity;
mod summary;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use serde_json::Value;

use crate::catalogue::{CellSource, Kind, SummaryKind, Time as TimeSource};
use crate::ipc::resources::{Cell, OwnerRef, Row, Summary};

/// The row of `object`, a `kind` object; relative times in printed cells are measured from
/// `now` (pass one `now` for a whole list).
pub(crate) fn row(kind: &Kind, object: &DynamicObject, now: Timestamp) -> Row {
    let metadata = &object.metadata;
    let data = &object.data;
    let printed = kind.resource.table_row(metadata, data, now);
    let mut cells = Vec::with_capacity(kind.info.columns.len());
    for (source, cell) in kind.cells.iter().zip(printed) {
        match source {
            None => {}
            Some(CellSource::Printed) => cells.push(printed_cell(cell)),
            Some(CellSource::Integer) => cells.push(integer_cell(cell)),
            Some(CellSource::Time(time)) => cells.push(time_cell(*time, metadata, data)),
        }
    }
    let summary = match kind.summary {
        SummaryKind::Pod => Summary::Pod(summary::pod(data, &kind.info.columns, &cells)),
        SummaryKind::Node => Summary::Node(summary::node(metadata, data)),
        SummaryKind::Service => Summary::Service(summary::service(data)),
        SummaryKind::Ingress => Summary::Ingress(summary::ingress(data)),
        SummaryKind::Event => Summary::Event(summary::event(metadata, data)),
        SummaryKind::Workload => Summary::Workload(summary::workload(&kind.info.kind, data)),
        SummaryKind::None => Summary::None,
    };
    Row {
        uid: metadata.uid.clone().unwrap_or_default(),
        namespace: metadata.namespace.clone(),
        name: metadata.name.clone().unwrap_or_default(),
        resource_version: metadata.resource_version.clone().unwrap_or_default(),
        created_at: metadata.creation_timestamp.as_ref().map(rfc3339),
        labels: metadata.labels.clone().unwrap_or_default(),
        owners: metadata
            .owner_references
            .iter()
            .flatten()
            .map(|owner| OwnerRef {
                kind: owner.kind.clone(),
                name: owner.name.clone(),
                uid: owner.uid.clone(),
                controller: owner.controller.unwrap_or(false),
            })
            .collect(),
        deleting: metadata.deletion_timestamp.is_some(),
        cells,
        summary,
    }
}

fn printed_cell(value: Value) -> Cell {
    match value {
        Value::String(text) => Cell::Text(text),
        Value::Number(number) => number.as_f64().map_or(Cell::Empty, Cell::Number),
        Value::Bool(flag) => Cell::Text(flag.to_string()),
        Value::Null => Cell::Empty,
        other => Cell::Text(other.to_string()),
    }
}

/// Integer columns sometimes print more than a number (`3 (5m ago)` restarts); those stay
/// text, plain counts become numbers so they sort as numbers.
fn integer_cell(value: Value) -> Cell {
    match value {
        Value::String(text) => match text.parse::<i64>() {
            // Counts are far below 2^53, where f64 stops being exact.
            #[allow(clippy::cast_precision_loss)]
            Ok(number) => Cell::Number(number as f64),
            Err(_) => Cell::Text(text),
        },
        other => printed_cell(other),
    }
}

fn time_cell(time: TimeSource, metadata: &ObjectMeta, data: &Value) -> Cell {
    let text = match time {
        TimeSource::Created => metadata.creation_timestamp.as_ref().map(rfc3339),
        TimeSource::EventLastSeen => summary::event_last_seen(metadata, data),
        TimeSource::EventFirstSeen => ["firstTimestamp", "eventTime"]
            .iter()
            .find_map(|field| data[*field].as_str().map(str::to_owned))
            .or_else(|| metadata.creation_timestamp.as_ref().map(rfc3339)),
        TimeSource::LastSchedule => data["status"]["lastScheduleTime"]
            .as_str()
            .map(str::to_owned),
    };
    text.map_or(Cell::Empty, Cell::Text)
}

/// A metadata time as the API writes it (RFC 3339, seconds).
fn rfc3339(time: &Time) -> String {
    time.0.to_string()
}

#[cfg(test)]
mod tests;
