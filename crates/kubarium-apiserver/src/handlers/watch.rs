//! WATCH: a stream of `{"type": …, "object": …}` lines.
//!
//! Semantics as upstream's: without a resourceVersion (or with `0`, or with
//! `sendInitialEvents=true`) the stream starts with a synthetic `ADDED` per existing object;
//! `sendInitialEvents` ends that part with a `BOOKMARK` annotated
//! `k8s.io/initial-events-end: "true"`. With a resourceVersion it replays every change after
//! it. Selectors turn objects that stop matching into `DELETED` and ones that start into
//! `ADDED`. A resourceVersion older than the kept history ends the stream with an in-stream
//! `ERROR` carrying a 410 `Status` — kube-rs re-lists on that, and only on that.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::StatusCode;
use kubarium_store::{Event, Revision};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::read::{Filter, parse, partial, table};
use super::{Call, json, store_error};
use crate::StatusError;
use crate::request::{Output, Target, flag};

/// Frames buffered between the watch task and the connection.
const BUFFER: usize = 256;

pub(crate) async fn watch(call: &mut Call) -> Result<Response, StatusError> {
    let mut filter_call = Call {
        server: call.server.clone(),
        target: call.target.clone(),
        params: std::mem::take(&mut call.params),
        output: call.output,
        headers: call.headers.clone(),
        warnings: Vec::new(),
        applying: false,
        user: call.user.clone(),
        query: None,
        upgrade: None,
    };
    let filter = Filter::from_call(&filter_call)?;
    let params = &filter_call.params;
    let send_initial = flag(&params.send_initial_events);
    let bookmarks = flag(&params.allow_watch_bookmarks);
    if send_initial
        && (!bookmarks || params.resource_version_match.as_deref() != Some("NotOlderThan"))
    {
        return Err(StatusError::invalid(
            call.target.resource,
            "",
            vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusCause {
                reason: Some("FieldValueForbidden".to_owned()),
                field: Some("sendInitialEvents".to_owned()),
                message: Some(
                    "Forbidden: sendInitialEvents requires setting allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan"
                        .to_owned(),
                ),
            }],
        ));
    }
    let rv = params.resource_version.clone().unwrap_or_default();
    let initial = send_initial || rv.is_empty() || rv == "0";
    let timeout = Duration::from_secs(params.timeout_seconds.unwrap_or_else(default_timeout));
    let store = call.server.store();
    let prefix = call
        .target
        .resource
        .prefix(call.target.namespace.as_deref());

    // Where the stream starts: the state now (initial events), or after a given revision.
    let (initial_objects, after) = if initial {
        let listed = super::read::collect(&filter_call, &filter)?;
        (listed.items, listed.revision)
    } else {
        let revision: Revision =
            rv.parse()
                .ok()
                .filter(|r: &Revision| *r >= 0)
                .ok_or_else(|| {
                    StatusError::bad_request(format!(
                        "resourceVersion: Invalid value: {rv:?}: must be a non-negative integer"
                    ))
                })?;
        (Vec::new(), revision)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(BUFFER);
    let watch = match store.watch(&prefix, after) {
        Ok(watch) => Some(watch),
        Err(kubarium_store::Error::Compacted {
            requested,
            compacted,
        }) => {
            let frame = error_frame(&StatusError::expired(format!(
                "too old resource version: {requested} ({compacted})"
            )));
            let _ = tx.try_send(frame);
            None
        }
        Err(other) => return Err(store_error(call, "", other)),
    };
    if let Some(mut watch) = watch {
        filter_call.params.send_initial_events = None;
        let mut stream = Stream {
            call: filter_call,
            filter,
            first_table: true,
        };
        let mut shutdown = call.server.shutdown_signal();
        let bookmark_every = call.server.bookmark_interval();
        tokio::spawn(async move {
            for object in &initial_objects {
                let Ok(value) = parse(object) else { continue };
                if tx
                    .send(stream.frame("ADDED", Raw::Parsed(&value, &object.value)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if send_initial {
                let frame = stream.bookmark(after, true);
                if tx.send(frame).await.is_err() {
                    return;
                }
            }
            let deadline = tokio::time::sleep(timeout);
            tokio::pin!(deadline);
            let mut ticks = tokio::time::interval_at(
                tokio::time::Instant::now() + bookmark_every,
                bookmark_every,
            );
            let mut last = after;
            loop {
                let frame = tokio::select! {
                    event = watch.next() => match event {
                        Some(event) => {
                            last = event.revision;
                            match stream.event(&event) {
                                Some(frame) => frame,
                                None => continue,
                            }
                        }
                        // Closed by the store (too slow, or shutting down): the client re-watches.
                        None => return,
                    },
                    _ = ticks.tick(), if bookmarks => {
                        // The store's revision only once this watch has sent every event up to
                        // it: a client re-watching from a bookmark must miss nothing.
                        let published = store_revision(&stream);
                        let revision = if watch.is_idle() { last.max(published) } else { last };
                        stream.bookmark(revision, false)
                    }
                    () = &mut deadline => return,
                    _ = shutdown.changed() => return,
                };
                if tx.send(frame).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(store);
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), rx))
    }));
    Ok(json(StatusCode::OK, body))
}

fn store_revision(stream: &Stream) -> Revision {
    stream.call.server.store().revision()
}

/// Upstream picks a timeout between its minimum request timeout (30 minutes) and twice that,
/// so watches do not all end at once.
fn default_timeout() -> u64 {
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    1800 + u64::from(u16::from_le_bytes(byte)) % 1800
}

/// An object for a frame: parsed for filtering and tables, raw bytes to send as they are.
enum Raw<'a> {
    Parsed(&'a Value, &'a [u8]),
    Value(Value),
    /// What the output sends, as stored: the object, or its `metadata` for metadata output.
    Stored(&'a [u8]),
}

/// The bytes of a stored object's `metadata`, found without building the object.
fn stored_metadata(stored: &[u8]) -> Option<&[u8]> {
    #[derive(serde::Deserialize)]
    struct Object<'a> {
        #[serde(borrow)]
        metadata: &'a serde_json::value::RawValue,
    }
    let object: Object<'_> = serde_json::from_slice(stored).ok()?;
    Some(object.metadata.get().as_bytes())
}

struct Stream {
    call: Call,
    filter: Filter,
    first_table: bool,
}

impl Stream {
    /// The frame for a store event, or `None` if the selectors hide it.
    fn event(&mut self, event: &Event) -> Option<Bytes> {
        // The common cases — everything, as JSON or as metadata — send stored bytes, or the
        // stored metadata's bytes, without parsing the object or the one it replaced.
        if self.filter.is_empty()
            && self.call.target.name.is_none()
            && let Some(object) = &event.object
        {
            let kind = if event.prev.is_some() {
                "MODIFIED"
            } else {
                "ADDED"
            };
            let body = match self.call.output {
                Output::Json => Some(object.value.as_ref()),
                Output::Metadata => stored_metadata(&object.value),
                Output::Table => None,
            };
            if let Some(body) = body {
                return Some(self.frame(kind, Raw::Stored(body)));
            }
        }
        let new = event.object.as_ref().and_then(|o| parse(o).ok());
        let old = event.prev.as_ref().and_then(|o| parse(o).ok());
        if !self.in_target(new.as_ref().or(old.as_ref())?) {
            return None;
        }
        let matches = |v: &Option<Value>| {
            v.as_ref()
                .is_some_and(|v| self.filter.matches(&self.call, v))
        };
        let (was, is) = (matches(&old), matches(&new));
        match (&new, &old) {
            (Some(new), _) => {
                let kind = match (was, is, old.is_some()) {
                    (_, true, false) | (false, true, true) => "ADDED",
                    (true, true, true) => "MODIFIED",
                    (true, false, true) => "DELETED",
                    _ => return None,
                };
                let raw = event
                    .object
                    .as_ref()
                    .map(|o| o.value.as_ref())
                    .unwrap_or_default();
                Some(self.frame(kind, Raw::Parsed(new, raw)))
            }
            (None, Some(old)) if was => {
                // The deleted object carries the revision of its deletion, as upstream's does.
                let mut gone = old.clone();
                crate::object::set_meta(
                    &mut gone,
                    "resourceVersion",
                    Some(Value::from(event.revision.to_string())),
                );
                Some(self.frame("DELETED", Raw::Value(gone)))
            }
            _ => None,
        }
    }

    /// Whether an object belongs to a watch of one named object (legacy watch paths).
    fn in_target(&self, object: &Value) -> bool {
        let Target { name, .. } = &self.call.target;
        name.as_deref()
            .is_none_or(|n| crate::object::name(object) == n)
    }

    fn frame(&mut self, kind: &str, object: Raw<'_>) -> Bytes {
        let body = match (self.call.output, object) {
            (Output::Json, Raw::Parsed(_, stored) | Raw::Stored(stored))
            | (Output::Metadata, Raw::Stored(stored)) => {
                let head: &[u8] = match self.call.output {
                    Output::Metadata => br#"{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":"#,
                    _ => b"",
                };
                let mut out = Vec::with_capacity(stored.len() + head.len() + 40);
                out.extend_from_slice(format!("{{\"type\":\"{kind}\",\"object\":").as_bytes());
                out.extend_from_slice(head);
                out.extend_from_slice(stored);
                if !head.is_empty() {
                    out.push(b'}');
                }
                out.extend_from_slice(b"}\n");
                return Bytes::from(out);
            }
            (Output::Json, Raw::Value(value)) => value,
            (Output::Metadata, Raw::Parsed(value, _)) => partial(value),
            (Output::Metadata, Raw::Value(value)) => partial(&value),
            (Output::Table, object) => {
                let owned;
                let raw = match object {
                    Raw::Parsed(_, raw) | Raw::Stored(raw) => raw,
                    Raw::Value(value) => {
                        owned = value.to_string();
                        owned.as_bytes()
                    }
                };
                let rv = serde_json::from_slice::<Value>(raw)
                    .map(|v| v["metadata"]["resourceVersion"].clone())
                    .unwrap_or(Value::Null);
                // Column definitions go with the first event only, as upstream sends them.
                let first = std::mem::replace(&mut self.first_table, false);
                let mut table = table(&self.call, &json!({"resourceVersion": rv}), first);
                table.row(raw);
                let table = table.finish();
                let mut out = Vec::with_capacity(table.len() + 32);
                out.extend_from_slice(format!("{{\"type\":\"{kind}\",\"object\":").as_bytes());
                out.extend_from_slice(&table);
                out.extend_from_slice(b"}\n");
                return Bytes::from(out);
            }
        };
        Bytes::from(format!("{}\n", json!({"type": kind, "object": body})))
    }

    /// A `BOOKMARK` at `revision`; `initial_end` marks the end of the initial events.
    fn bookmark(&mut self, revision: Revision, initial_end: bool) -> Bytes {
        let resource = self.call.target.resource;
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata});
        Bytes::from(format!(
            "{}\n",
            json!({"type": "BOOKMARK", "object": object})
        ))
    }
}

/// An in-stream `ERROR` event.
fn error_frame(error: &StatusError) -> Bytes {
    let status = serde_json::to_value(error.to_status()).unwrap_or(Value::Null);
    Bytes::from(format!("{}\n", json!({"type": "ERROR", "object": status})))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::testing::{self, TOKEN};

    /// The events of a watch from the first revision, ended by its timeout.
    async fn events(server: &crate::ApiServer, query: &str, accept: &str) -> Vec<Value> {
        let uri = format!(
            "/api/v1/namespaces/shop/pods?watch=true&resourceVersion=1&timeoutSeconds=1{query}"
        );
        let request = http::Request::get(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("accept", accept)
            .body(axum::body::Body::empty())
            .unwrap();
        let (response, body) = testing::send(server, request).await;
        assert!(response.status().is_success(), "{body}");
        body.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .filter(|event: &Value| event["type"] != "BOOKMARK")
            .collect()
    }

    #[tokio::test]
    async fn metadata_events_read_the_same_sent_as_stored_or_parsed_for_a_selector() {
        let server = testing::server();
        testing::namespace(&server, "shop").await;
        let pod = json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        });
        let (code, _) = testing::call(&server, "POST", "/api/v1/namespaces/shop/pods", pod).await;
        assert_eq!(code, 201);
        let patch = json!({"metadata": {"annotations": {"note": "x"}}});
        let (code, _) =
            testing::call(&server, "PATCH", "/api/v1/namespaces/shop/pods/web", patch).await;
        assert_eq!(code, 200);

        let metadata = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
        // Unfiltered, the frames carry the stored metadata's bytes; a selector parses.
        let stored = events(&server, "", metadata).await;
        let parsed = events(&server, "&labelSelector=app%3Dweb", metadata).await;
        assert_eq!(stored, parsed);
        let kinds: Vec<&Value> = stored.iter().map(|e| &e["type"]).collect();
        assert_eq!(kinds, [&json!("ADDED"), &json!("MODIFIED")]);
        let object = &stored[1]["object"];
        assert_eq!(object["kind"], "PartialObjectMetadata");
        assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(object["metadata"]["annotations"]["note"], "x");
        assert!(object.get("spec").is_none());

        let full = events(&server, "", "application/json").await;
        assert_eq!(full[1]["object"]["metadata"], object["metadata"]);
        assert_eq!(full[1]["object"]["spec"]["containers"][0]["image"], "web:1");
    }
}
