//! GET of one object and LIST of a collection, as JSON, as a `kubectl get` Table, or as
//! metadata only.

use axum::response::Response;
use base64::Engine as _;
use http::StatusCode;
use kubarium_store::{ListOptions, Object, Revision};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Call, json, store_error};
use crate::StatusError;
use crate::request::Output;
use crate::selector::{FieldSelector, LabelSelector};

pub(crate) async fn get(call: &mut Call) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let object = super::write::load(call, &name)?;
    match call.output {
        Output::Json => Ok(json(StatusCode::OK, object.value.to_vec())),
        Output::Table => {
            let value = parse(&object)?;
            let rv = object.mod_revision.to_string();
            Ok(json(
                StatusCode::OK,
                table(
                    call,
                    std::slice::from_ref(&value),
                    json!({"resourceVersion": rv}),
                )
                .to_string(),
            ))
        }
        Output::Metadata => Ok(json(StatusCode::OK, partial(&parse(&object)?).to_string())),
    }
}

/// Parses a stored object.
pub(crate) fn parse(object: &Object) -> Result<Value, StatusError> {
    serde_json::from_slice(&object.value).map_err(|e| {
        StatusError::internal(format!("stored object {} is not JSON: {e}", object.key))
    })
}

/// Selectors of a list or watch, checked against what the kind supports.
pub(crate) struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    pub(crate) fn from_call(call: &Call) -> Result<Self, StatusError> {
        let labels =
            LabelSelector::parse(call.params.label_selector.as_deref().unwrap_or_default())
                .map_err(StatusError::bad_request)?;
        let fields =
            FieldSelector::parse(call.params.field_selector.as_deref().unwrap_or_default())
                .map_err(StatusError::bad_request)?;
        let probe = json!({"metadata": {}});
        for field in fields.fields() {
            if call.target.resource.rules.field(&probe, field).is_none() {
                return Err(StatusError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
        }
        Ok(Self { labels, fields })
    }

    /// Whether the filter passes everything (so objects need not be parsed).
    pub(crate) fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// The one namespace the field selector allows, if it pins one.
    pub(crate) fn namespace(&self) -> Option<&str> {
        self.fields.required("metadata.namespace")
    }

    pub(crate) fn matches(&self, call: &Call, object: &Value) -> bool {
        self.labels
            .matches(|key| object["metadata"]["labels"][key].as_str())
            && self
                .fields
                .matches(|field| call.target.resource.rules.field(object, field))
    }
}

/// What a continue token carries: the list's revision and the last key returned.
#[derive(Serialize, Deserialize)]
struct Continue {
    rv: Revision,
    start: String,
}

fn encode_continue(token: &Continue) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(token).unwrap_or_default())
}

fn decode_continue(text: &str) -> Result<Continue, StatusError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            StatusError::bad_request("continue key is not valid: it was not issued by this server")
        })
}

/// The revision a list reads at: `None` for the latest.
pub(crate) fn requested_revision(call: &Call) -> Result<Option<Revision>, StatusError> {
    let rv = call.params.resource_version.as_deref().unwrap_or_default();
    let exact = match call.params.resource_version_match.as_deref() {
        None | Some("") | Some("NotOlderThan") => false,
        Some("Exact") => true,
        Some(other) => {
            return Err(StatusError::bad_request(format!(
                "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
            )));
        }
    };
    if rv.is_empty() {
        if call
            .params
            .resource_version_match
            .as_deref()
            .is_some_and(|m| !m.is_empty())
        {
            return Err(StatusError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        return Ok(None);
    }
    let revision: Revision = rv.parse().ok().filter(|r| *r >= 0).ok_or_else(|| {
        StatusError::bad_request(format!(
            "resourceVersion: Invalid value: {rv:?}: must be a non-negative integer"
        ))
    })?;
    let current = call.server.store().revision();
    if revision > current {
        return Err(StatusError::too_large_resource_version(format!(
            "Too large resource version: {revision}, current resource version: {current}"
        )));
    }
    Ok(if exact && revision > 0 {
        Some(revision)
    } else {
        None
    })
}

/// A page of matching objects and the list metadata to send with it.
pub(crate) struct Listed {
    pub(crate) items: Vec<Object>,
    pub(crate) revision: Revision,
    pub(crate) continue_token: Option<String>,
}

/// Reads the collection the call names: every object (or one page of `limit`) that passes
/// the selectors, consistent at one revision across pages.
pub(crate) fn collect(call: &Call, filter: &Filter) -> Result<Listed, StatusError> {
    let resource = call.target.resource;
    // A field selector pinning the namespace reads that namespace alone.
    let prefix = resource.prefix(call.target.namespace.as_deref().or(filter.namespace()));
    let (mut revision, mut start_after) = match call
        .params
        .continue_token
        .as_deref()
        .filter(|t| !t.is_empty())
    {
        Some(token) => {
            if call
                .params
                .resource_version
                .as_deref()
                .is_some_and(|rv| !rv.is_empty() && rv != "0")
            {
                return Err(StatusError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            let token = decode_continue(token)?;
            (Some(token.rv), Some(token.start))
        }
        None => (requested_revision(call)?, None),
    };
    let limit = call.params.limit.filter(|l| *l > 0).map(|l| l as usize);
    let store = call.server.store();
    let mut items = Vec::new();
    loop {
        // Read in chunks until the page is full of matches or the collection ends.
        let chunk = limit.map(|l| (l - items.len()).max(64));
        let options = ListOptions {
            revision,
            limit: chunk,
            start_after: start_after.clone(),
        };
        let page = store.list(&prefix, &options).map_err(|e| match e {
            kubarium_store::Error::Compacted { .. } if call.params.continue_token.is_some() => StatusError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ),
            other => store_error(call, "", other),
        })?;
        revision = Some(page.revision);
        let last_key = page.items.last().map(|o| o.key.clone());
        for object in page.items {
            let keep = filter.is_empty() || filter.matches(call, &parse(&object)?);
            if keep {
                items.push(object);
                if limit.is_some_and(|l| items.len() == l) {
                    break;
                }
            }
        }
        let full = limit.is_some_and(|l| items.len() >= l);
        if full || !page.more {
            let more_after_page = page.more || items.last().map(|o| &o.key) != last_key.as_ref();
            let continue_token = (full && more_after_page).then(|| {
                encode_continue(&Continue {
                    rv: page.revision,
                    start: items.last().map(|o| o.key.clone()).unwrap_or_default(),
                })
            });
            return Ok(Listed {
                items,
                revision: page.revision,
                continue_token,
            });
        }
        start_after = last_key;
    }
}

pub(crate) async fn list(call: &mut Call) -> Result<Response, StatusError> {
    let filter = Filter::from_call(call)?;
    let listed = collect(call, &filter)?;
    let resource = call.target.resource;
    let mut meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(token) = &listed.continue_token {
        meta["continue"] = Value::from(token.clone());
    }
    match call.output {
        Output::Json => {
            // Stored bytes go out as they are: no parse, no re-encode.
            let mut body = Vec::with_capacity(
                listed
                    .items
                    .iter()
                    .map(|o| o.value.len() + 1)
                    .sum::<usize>()
                    + 256,
            );
            body.extend_from_slice(
                format!(
                    "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
                    resource.kind,
                    resource.api_version(),
                    meta
                )
                .as_bytes(),
            );
            for (i, object) in listed.items.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&object.value);
            }
            body.extend_from_slice(b"]}");
            Ok(json(StatusCode::OK, body))
        }
        Output::Table => {
            let values = listed
                .items
                .iter()
                .map(parse)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json(StatusCode::OK, table(call, &values, meta).to_string()))
        }
        Output::Metadata => {
            let items = listed
                .items
                .iter()
                .map(|o| parse(o).map(|v| partial(&v)))
                .collect::<Result<Vec<_>, _>>()?;
            let list = json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": items,
            });
            Ok(json(StatusCode::OK, list.to_string()))
        }
    }
}

/// An object's metadata as `PartialObjectMetadata`.
pub(crate) fn partial(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"].clone(),
    })
}

/// A `meta.k8s.io/v1 Table` of `objects`.
pub(crate) fn table(call: &Call, objects: &[Value], meta: Value) -> Value {
    let rules = call.target.resource.rules;
    let now = k8s_openapi::jiff::Timestamp::now();
    let columns: Vec<Value> = rules
        .columns()
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.kind,
                "format": c.format,
                "description": c.description,
                "priority": c.priority,
            })
        })
        .collect();
    let include = call.params.include_object.as_deref().unwrap_or("Metadata");
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = json!({"cells": rules.row(object, now)});
            match include {
                "None" => {}
                "Object" => row["object"] = object.clone(),
                _ => row["object"] = partial(object),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}
