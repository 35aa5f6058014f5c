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
use crate::registry::table::{Include, TableWriter};
use crate::request::Output;
use crate::selector::{FieldSelector, LabelSelector};

pub(crate) async fn get(call: &mut Call) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let object = super::write::load(call, &name)?;
    match call.output {
        // The stored bytes themselves, shared, not copied.
        Output::Json => Ok(json(
            StatusCode::OK,
            axum::body::Bytes::from_owner(object.value),
        )),
        Output::Table => {
            let meta = json!({"resourceVersion": object.mod_revision.to_string()});
            let mut table = table(call, &meta, true);
            table.row(&object.value);
            Ok(json(StatusCode::OK, table.finish()))
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
            let head = format!(
                "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
                resource.kind,
                resource.api_version(),
                meta
            );
            Ok(json_list(head.into_bytes(), listed.items))
        }
        Output::Table => {
            let mut table = table(call, &meta, true);
            for object in &listed.items {
                table.row(&object.value);
            }
            Ok(json(StatusCode::OK, table.finish()))
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

/// A JSON list response: `head`, the stored bytes of each item as they are (no parse, no
/// re-encode), and the closing brackets — streamed in chunks of about 64 KiB, so a list of
/// thousands of objects never needs one buffer the size of the whole response.
fn json_list(head: Vec<u8>, items: Vec<Object>) -> Response {
    let length = head.len()
        + items.iter().map(|o| o.value.len()).sum::<usize>()
        + items.len().saturating_sub(1)
        + 2;
    let chunks = ListChunks {
        head: Some(head),
        items: items.into_iter(),
        first: true,
        done: false,
    };
    let mut response = json(
        StatusCode::OK,
        axum::body::Body::from_stream(futures_util::stream::iter(chunks)),
    );
    response.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(length),
    );
    response
}

struct ListChunks {
    head: Option<Vec<u8>>,
    items: std::vec::IntoIter<Object>,
    first: bool,
    done: bool,
}

impl Iterator for ListChunks {
    type Item = Result<axum::body::Bytes, std::convert::Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        const CHUNK: usize = 64 * 1024;
        if self.done {
            return None;
        }
        let mut chunk = self.head.take().unwrap_or_default();
        chunk.reserve(CHUNK);
        while chunk.len() < CHUNK {
            match self.items.next() {
                Some(object) => {
                    if !std::mem::replace(&mut self.first, false) {
                        chunk.push(b',');
                    }
                    chunk.extend_from_slice(&object.value);
                }
                None => {
                    chunk.extend_from_slice(b"]}");
                    self.done = true;
                    break;
                }
            }
        }
        Some(Ok(axum::body::Bytes::from(chunk)))
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

/// A `meta.k8s.io/v1 Table` for the call's resource and `includeObject`, rows to follow.
pub(crate) fn table(call: &Call, meta: &Value, column_definitions: bool) -> TableWriter {
    TableWriter::new(
        call.target.resource.rules,
        Include::from_param(call.params.include_object.as_deref()),
        meta,
        column_definitions,
    )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;
    use serde_json::json;

    use crate::testing::{self, TOKEN};

    async fn create(server: &crate::ApiServer, uri: &str, object: serde_json::Value) {
        let request = Request::post(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(object.to_string()))
            .unwrap();
        let (response, body) = testing::send(server, request).await;
        assert!(response.status().is_success(), "{body}");
    }

    async fn table(server: &crate::ApiServer, uri: &str) -> serde_json::Value {
        let request = Request::get(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header(
                "accept",
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
            )
            .body(Body::empty())
            .unwrap();
        let (response, body) = testing::send(server, request).await;
        assert!(response.status().is_success(), "{body}");
        serde_json::from_str(&body).unwrap()
    }

    #[tokio::test]
    async fn tables_of_a_list_and_of_one_object() {
        let server = testing::server();
        create(
            &server,
            "/api/v1/namespaces",
            json!({"metadata": {"name": "shop"}}),
        )
        .await;
        for name in ["web-1", "web-2"] {
            let pod = json!({
                "metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]},
            });
            create(&server, "/api/v1/namespaces/shop/pods", pod).await;
        }
        let volatile = |table: serde_json::Value| {
            let mut table = table;
            table["metadata"]["resourceVersion"] = json!("[rv]");
            for row in table["rows"].as_array_mut().unwrap() {
                // The age cell, and what the server stamps on each object.
                let cells = row["cells"].as_array_mut().unwrap();
                cells[4] = json!("[age]");
                if let Some(meta) = row
                    .get_mut("object")
                    .and_then(|o| o.get_mut("metadata"))
                    .and_then(|m| m.as_object_mut())
                {
                    for key in ["uid", "creationTimestamp", "resourceVersion"] {
                        meta.insert(key.to_owned(), json!(format!("[{key}]")));
                    }
                    for entry in meta["managedFields"].as_array_mut().unwrap() {
                        entry["time"] = json!("[time]");
                    }
                }
            }
            table
        };
        let list = table(&server, "/api/v1/namespaces/shop/pods").await;
        insta::assert_json_snapshot!("pod_list_table", volatile(list));
        let one = table(
            &server,
            "/api/v1/namespaces/shop/pods/web-1?includeObject=None",
        )
        .await;
        insta::assert_json_snapshot!("pod_table_without_object", volatile(one));
    }

    #[tokio::test]
    async fn long_lists_stream_in_chunks_of_the_length_they_announce() {
        use http_body_util::BodyExt;

        for count in [0, 1, 200] {
            let items: Vec<kubarium_store::Object> = (0..count)
                .map(|i| kubarium_store::Object {
                    key: format!("/k/{i}"),
                    value: format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(1000))
                        .into_bytes()
                        .into(),
                    create_revision: 1,
                    mod_revision: 1,
                })
                .collect();
            let response = super::json_list(b"{\"items\":[".to_vec(), items);
            let length: usize = response.headers()["content-length"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let mut body = response.into_body();
            let (mut chunks, mut bytes) = (0, Vec::new());
            while let Some(frame) = body.frame().await {
                bytes.extend_from_slice(&frame.unwrap().into_data().unwrap());
                chunks += 1;
            }
            assert_eq!(bytes.len(), length, "{count} items");
            let list: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(list["items"].as_array().unwrap().len(), count);
            if count > 0 {
                assert_eq!(list["items"][count - 1]["n"], json!(count - 1));
            }
            assert!(count < 200 || chunks > 2, "{chunks} chunks");
        }
    }
}
