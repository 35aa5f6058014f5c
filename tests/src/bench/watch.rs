//! Watch delivery under load: 100 watchers on one collection while writers land 1,000
//! creates a second. Each object carries the moment its create was sent; each watcher
//! measures when it decoded the event, and checks it saw every write once, in order.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;

use super::Figure;
use super::api::{configmap, namespace};
use super::conn::Endpoint;
use super::stats::Samples;

pub const WATCHERS: usize = 100;
/// Writes per second, for [`SECONDS`].
pub const RATE: usize = 1_000;
const SECONDS: usize = 10;
/// Connections the writes are spread over (each waits for its previous write's answer).
const WRITERS: usize = 16;
const NAMESPACE: &str = "bench-watch";

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: Object,
}

#[derive(Deserialize)]
struct Object {
    metadata: Metadata,
    #[serde(default)]
    data: Data,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    resource_version: String,
}

#[derive(Deserialize, Default)]
struct Data {
    /// Nanoseconds from the run's start to sending the create.
    #[serde(default)]
    value: String,
}

/// What one watcher saw.
struct Seen {
    latencies: Samples,
    events: usize,
    /// Events that arrived with a resourceVersion not above the one before.
    out_of_order: usize,
    /// Why the stream ended early, if it did.
    ended: Option<String>,
}

pub async fn run(endpoint: &Endpoint) -> anyhow::Result<Vec<Figure>> {
    let mut conn = endpoint.connect().await?;
    namespace(&mut conn, NAMESPACE).await?;
    let list = conn
        .ok(
            Method::GET,
            &format!("/api/v1/namespaces/{NAMESPACE}/configmaps?limit=1"),
            None,
        )
        .await?;
    let list: serde_json::Value = serde_json::from_slice(&list)?;
    let revision = list["metadata"]["resourceVersion"]
        .as_str()
        .context("list has no resourceVersion")?
        .to_owned();

    let total = RATE * SECONDS;
    let epoch = Instant::now();
    let mut watchers = tokio::task::JoinSet::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(WATCHERS);
    for _ in 0..WATCHERS {
        let endpoint = endpoint.clone();
        let path = format!(
            "/api/v1/namespaces/{NAMESPACE}/configmaps?watch=1&resourceVersion={revision}&timeoutSeconds=600"
        );
        let ready = ready_tx.clone();
        watchers.spawn(async move {
            let mut conn = endpoint.connect().await?;
            let response = conn.start(Method::GET, &path, None).await?;
            if response.status() != StatusCode::OK {
                bail!("watch answered {}", response.status());
            }
            let _ = ready.send(()).await;
            watch(response.into_body(), epoch, total).await
        });
    }
    for _ in 0..WATCHERS {
        ready_rx.recv().await.context("a watcher failed to start")?;
    }

    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let endpoint = endpoint.clone();
        writers.spawn(async move {
            let mut conn = endpoint.connect().await?;
            let path = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
            for i in (writer..total).step_by(WRITERS) {
                let due = started + Duration::from_secs(1) * i as u32 / RATE as u32;
                tokio::time::sleep_until(due.into()).await;
                let sent = epoch.elapsed().as_nanos().to_string();
                let body = configmap(NAMESPACE, &format!("w-{i}"), &sent);
                conn.ok(Method::POST, &path, Some(("application/json", body)))
                    .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = writers.join_next().await {
        result??;
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();

    let mut latencies = Samples::with_capacity(total * WATCHERS);
    let (mut missed, mut out_of_order, mut ended) = (0, 0, Vec::new());
    while let Some(result) = watchers.join_next().await {
        let seen = result??;
        missed += total.saturating_sub(seen.events);
        out_of_order += seen.out_of_order;
        ended.extend(seen.ended);
        latencies.extend(seen.latencies);
    }
    let summary = latencies.summary();
    let mut measured = format!(
        "{summary}; {missed} missed, {out_of_order} out of order, {rate:.0} writes/s achieved"
    );
    if let Some(reason) = ended.first() {
        measured.push_str(&format!("; {} streams ended early ({reason})", ended.len()));
    }
    Ok(vec![Figure::new(
        "100 watchers while 1,000 writes/s land: delivery (send of the write → event decoded)",
        "p99 ≤ 50 ms, zero missed",
        measured,
        Some(summary.p99 <= Duration::from_millis(50) && missed == 0 && out_of_order == 0),
    )])
}

/// Reads one watch stream until it has seen `total` events, or it ends, or a minute passes
/// without one.
async fn watch(
    mut body: hyper::body::Incoming,
    epoch: Instant,
    total: usize,
) -> anyhow::Result<Seen> {
    let mut seen = Seen {
        latencies: Samples::with_capacity(total),
        events: 0,
        out_of_order: 0,
        ended: None,
    };
    let mut buffer = BytesMut::new();
    let mut last = 0u64;
    while seen.events < total {
        let frame = match tokio::time::timeout(Duration::from_secs(60), body.frame()).await {
            Ok(Some(frame)) => frame?,
            Ok(None) => {
                seen.ended = Some("closed by the server".to_owned());
                break;
            }
            Err(_) => {
                seen.ended = Some("no event for a minute".to_owned());
                break;
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line = buffer.split_to(end + 1);
            let event: Event = serde_json::from_slice(&line[..end])?;
            if event.kind != "ADDED" {
                seen.ended = Some(format!("a {} event", event.kind));
                return Ok(seen);
            }
            // Only the writers' ConfigMaps carry `value`; the namespace's `kube-root-ca.crt`,
            // which the root CA publisher adds, is not one of them.
            if event.object.data.value.is_empty() {
                continue;
            }
            let now = epoch.elapsed();
            let revision: u64 = event.object.metadata.resource_version.parse()?;
            if revision <= last {
                seen.out_of_order += 1;
            }
            last = revision;
            let sent: u64 = event.object.data.value.parse()?;
            seen.latencies
                .push(now.saturating_sub(Duration::from_nanos(sent)));
            seen.events += 1;
        }
    }
    Ok(seen)
}
