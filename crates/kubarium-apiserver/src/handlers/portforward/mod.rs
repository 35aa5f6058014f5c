//! `pods/<name>/portforward`: kubectl upgrades the request to SPDY/3.1 (`Upgrade:
//! SPDY/3.1`, `X-Stream-Protocol-Version: portforward.k8s.io`) or, from 1.31, to a
//! WebSocket whose binary messages carry the same SPDY bytes (subprotocol
//! `SPDY/3.1+portforward.k8s.io`). Per forwarded connection it opens two streams with the
//! same `requestID`: `error` and `data`. The server connects to the port in the pod's
//! network namespace through the node agent and copies bytes both ways; a failure is
//! written to the error stream, which kubectl prints as "an error occurred forwarding
//! <local> -> <remote>: …". This mirrors the kubelet's port-forward stream handling (the
//! API server proper only proxies to it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::Call;
use crate::StatusError;
use crate::kubelet::Kubelet;
use crate::spdy::{self, Stream, status};

mod channels;

/// The port-forward protocol kubectl asks for in `X-Stream-Protocol-Version`.
const PROTOCOL: &str = "portforward.k8s.io";
/// The WebSocket subprotocol tunnelling SPDY (client-go's `SPDY/3.1+` prefix).
const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// How long a connection may carry nothing (the kubelet's default `streamIdleTimeout`);
/// kubectl pings every 10 s, so only a vanished client hits it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(4 * 60 * 60);
/// How long the second stream of a pair may take (the kubelet's stream creation timeout).
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the client's direction may go on once the pod's has ended (containerd's).
const LINGER: Duration = Duration::from_secs(1);
/// Bytes read from the pod at a time.
const CHUNK: usize = 32 * 1024;

/// Serves a port-forward request, answering 101 and forwarding until the client leaves.
pub(crate) async fn forward(call: &mut Call) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let object = super::read::parse(&super::write::load(call, &name)?)?;
    let pod = Pod::deserialize(&object).map_err(|error| {
        StatusError::internal(format!("stored pod {name} is unreadable: {error}"))
    })?;
    let node = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.node_name.clone())
        .unwrap_or_default();
    if node.is_empty() {
        return Err(StatusError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let Some(kubelet) = call.server.kubelet().cloned() else {
        return Err(StatusError::service_unavailable(format!(
            "cannot portforward pod {name}: no node agent serves node {node:?}; node agents connect when the cluster runs nodes"
        )));
    };
    let target = Target {
        kubelet,
        pod: Arc::new(pod),
    };
    let shutdown = call.server.shutdown_signal();
    if is_websocket(&call.headers) {
        return websocket(call, target, shutdown).await;
    }
    spdy_upgrade(call, target, shutdown)
}

/// Where forwarded connections go.
#[derive(Clone)]
struct Target {
    kubelet: Arc<dyn Kubelet>,
    pod: Arc<Pod>,
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// The values of a comma-separated header, trimmed, as client-go writes them.
fn header_list<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect()
}

/// SPDY over the upgraded HTTP/1.1 connection, after httpstream's handshake.
fn spdy_upgrade(
    call: &mut Call,
    target: Target,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Response, StatusError> {
    let upgrading = header_list(&call.headers, CONNECTION.as_str())
        .iter()
        .any(|value| value.eq_ignore_ascii_case("upgrade"));
    let spdy = call
        .headers
        .get(UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("SPDY/3.1"));
    if !upgrading || !spdy {
        return Err(StatusError::bad_request(
            "Upgrade request required: port-forward needs a connection upgraded to SPDY/3.1 or a WebSocket, as kubectl port-forward makes",
        ));
    }
    let offered = header_list(&call.headers, "x-stream-protocol-version");
    if offered.is_empty() {
        return Err(StatusError::bad_request(format!(
            "unable to upgrade: header X-Stream-Protocol-Version is missing or empty; port-forward speaks {PROTOCOL}"
        )));
    }
    if !offered.contains(&PROTOCOL) {
        let mut response = StatusError::forbidden(format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts [{PROTOCOL:?}]"
        ))
        .into_response();
        response.headers_mut().insert(
            "x-accepted-stream-protocol-versions",
            HeaderValue::from_static(PROTOCOL),
        );
        return Ok(response);
    }
    let on_upgrade = call.upgrade.take().ok_or_else(|| {
            StatusError::bad_request(
                "unable to upgrade: this connection cannot be upgraded (HTTP/2?); port-forward needs HTTP/1.1",
            )
        })?;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded), target, shutdown).await,
            Err(error) => tracing::debug!(%error, "a port-forward upgrade failed"),
        }
    });
    Ok(crate::spdy::switching_protocols(PROTOCOL))
}

/// SPDY inside a WebSocket's binary messages (client-go's tunnelling dialer).
async fn websocket(
    call: &mut Call,
    target: Target,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Response, StatusError> {
    let offered = header_list(&call.headers, "sec-websocket-protocol");
    // kubectl tunnels SPDY; kube-rs and client-go's plain dialer speak the channel protocol.
    let channel_ports = if offered.contains(&TUNNEL_PROTOCOL) {
        None
    } else if offered.contains(&channels::PROTOCOL) {
        Some(channels::ports(call.query.as_deref())?)
    } else {
        return Err(StatusError::bad_request(format!(
            "unable to upgrade: port-forward over WebSocket speaks the {TUNNEL_PROTOCOL:?} or {:?} subprotocol; the client offered {offered:?}",
            channels::PROTOCOL
        )));
    };
    let mut request = http::Request::builder()
        .method(http::Method::GET)
        .version(http::Version::HTTP_11)
        .body(())
        .map_err(|error| StatusError::internal(error.to_string()))?;
    *request.headers_mut() = call.headers.clone();
    if let Some(upgrade) = call.upgrade.take() {
        request.extensions_mut().insert(upgrade);
    }
    let (mut parts, ()) = request.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|rejection| {
            StatusError::bad_request(format!(
                "unable to upgrade to a WebSocket: {}",
                rejection.body_text()
            ))
        })?;
    if let Some(ports) = channel_ports {
        return Ok(upgrade
            .protocols([channels::PROTOCOL])
            .on_upgrade(move |socket| channels::serve(socket, target, ports, shutdown)));
    }
    Ok(upgrade
        .protocols([TUNNEL_PROTOCOL])
        .on_upgrade(move |socket| async move {
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            tokio::spawn(bridge(socket, theirs));
            serve(ours, target, shutdown).await;
        }))
}

/// Carries SPDY bytes between the WebSocket's binary messages and `pipe`.
async fn bridge(socket: WebSocket, pipe: tokio::io::DuplexStream) {
    let (mut sink, mut messages) = socket.split();
    let (mut from_spdy, mut to_spdy) = tokio::io::split(pipe);
    let inbound = async move {
        while let Some(Ok(message)) = messages.next().await {
            match message {
                Message::Binary(bytes) if to_spdy.write_all(&bytes).await.is_err() => break,
                Message::Binary(_) => {}
                Message::Close(_) => break,
                // Pings are answered by the WebSocket layer; text has no meaning here.
                _ => {}
            }
        }
        let _ = to_spdy.shutdown().await;
    };
    let outbound = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from_spdy.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let message = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    };
    tokio::join!(inbound, outbound);
}

/// What the connection loop wakes up for.
enum Event {
    Stream(Option<Stream>),
    Expired(String),
    Shutdown,
}

/// One forwarded connection's streams, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
}

/// Runs the SPDY connection: pairs `error` and `data` streams by request id and forwards
/// each complete pair.
async fn serve<T>(io: T, target: Target, mut shutdown: tokio::sync::watch::Receiver<bool>)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (connection, mut streams) = spdy::serve(io, IDLE_TIMEOUT);
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let (expired_tx, mut expired) = mpsc::unbounded_channel::<String>();
    loop {
        let event = tokio::select! {
            stream = streams.recv() => Event::Stream(stream),
            Some(request_id) = expired.recv() => Event::Expired(request_id),
            _ = shutdown.wait_for(|down| *down) => Event::Shutdown,
        };
        let stream = match event {
            Event::Stream(Some(stream)) => stream,
            Event::Stream(None) => break,
            Event::Expired(request_id) => {
                if let Some(pair) = pairs.remove(&request_id) {
                    let message = format!("(request={request_id}) timed out waiting for streams");
                    tracing::debug!(%message, "port-forward");
                    fail(pair, &message).await;
                }
                continue;
            }
            Event::Shutdown => {
                connection.go_away().await;
                break;
            }
        };
        let stream_type = match check(&stream) {
            Ok(stream_type) => stream_type,
            Err(message) => {
                tracing::debug!(%message, "rejecting a port-forward stream");
                stream.writer.reset(status::CANCEL).await;
                continue;
            }
        };
        if stream.reply().await.is_err() {
            break;
        }
        let request_id = request_id(&stream, stream_type);
        let pair = pairs.entry(request_id.clone()).or_insert_with(|| {
            let expired = expired_tx.clone();
            let request_id = request_id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(PAIR_TIMEOUT).await;
                let _ = expired.send(request_id);
            });
            Pair::default()
        });
        let slot = if stream_type == "error" {
            &mut pair.error
        } else {
            &mut pair.data
        };
        if slot.is_some() {
            let message = format!(
                "error processing stream for request {request_id}: {stream_type} stream already assigned"
            );
            if let Some(error) = &pair.error {
                let _ = error.writer.write(Bytes::from(message)).await;
            }
            stream.writer.reset(status::CANCEL).await;
            continue;
        }
        *slot = Some(stream);
        if pair.error.is_some()
            && pair.data.is_some()
            && let Some(Pair {
                error: Some(error),
                data: Some(data),
            }) = pairs.remove(&request_id)
        {
            tokio::spawn(forward_pair(target.clone(), error, data));
        }
    }
}

/// The stream's type, if its headers make a valid port-forward stream (the kubelet's
/// checks, in its order).
fn check(stream: &Stream) -> Result<&'static str, String> {
    let port = stream
        .headers
        .get("port")
        .filter(|port| !port.is_empty())
        .ok_or_else(|| "\"port\" header is required".to_owned())?;
    let parsed: u16 = port
        .parse()
        .map_err(|error| format!("unable to parse {port:?} as a port: {error}"))?;
    if parsed < 1 {
        return Err(format!("port {port:?} must be > 0"));
    }
    match stream.headers.get("streamType") {
        None | Some("") => Err("\"streamType\" header is required".to_owned()),
        Some("error") => Ok("error"),
        Some("data") => Ok("data"),
        Some(other) => Err(format!("invalid stream type {other:?}")),
    }
}

/// The stream's request id; clients too old to send one get the kubelet's guess from
/// stream ids (an error stream's own id, a data stream's id minus two).
fn request_id(stream: &Stream, stream_type: &str) -> String {
    match stream.headers.get("requestID") {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ if stream_type == "error" => stream.id.to_string(),
        _ => stream.id.saturating_sub(2).to_string(),
    }
}

/// Writes `message` to the pair's error stream, then closes what it has.
async fn fail(pair: Pair, message: &str) {
    if let Some(error) = pair.error {
        let _ = error.writer.write(Bytes::from(message.to_owned())).await;
        error.writer.close().await;
    }
    if let Some(data) = pair.data {
        data.writer.close().await;
    }
}

/// Connects to the pair's port in the pod and copies both ways; a failure to connect goes
/// to the error stream. When the client half-closes, the pod's answer is still awaited;
/// when the pod closes, the client's direction gets [`LINGER`], then both streams end.
async fn forward_pair(target: Target, error: Stream, data: Stream) {
    let port = data
        .headers
        .get("port")
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_default();
    let connection = target
        .kubelet
        .port_forward((*target.pod).clone(), port)
        .await;
    let Stream {
        reader: mut from_client,
        writer: to_client,
        ..
    } = data;
    match connection {
        Err(status) => {
            // The node agent's message is the kubelet's ("error forwarding port …").
            let _ = error.writer.write(Bytes::from(status.message)).await;
        }
        Ok(connection) => {
            let (mut from_pod, mut to_pod) = tokio::io::split(connection);
            let upstream = async {
                while let Some(bytes) = from_client.read().await {
                    if to_pod.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                // The client is done sending: half-close, the pod may still answer.
                let _ = to_pod.shutdown().await;
            };
            let downstream = async {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    match from_pod.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if to_client
                                .write(Bytes::copy_from_slice(&buf[..n]))
                                .await
                                .is_err()
                            {
                                break;
                            }
                        }
                    }
                }
                to_client.close().await;
            };
            tokio::pin!(upstream, downstream);
            tokio::select! {
                // The pod is done: the client's direction gets a moment more, as containerd
                // gives it (kubectl before 1.30 waits for the error stream to end before it
                // closes its side, so waiting for the client would hang).
                () = &mut downstream => {
                    let _ = tokio::time::timeout(LINGER, &mut upstream).await;
                }
                // The client is done sending: the pod may still answer, however long it takes.
                () = &mut upstream => downstream.await,
            }
        }
    }
    to_client.close().await;
    error.writer.close().await;
}

#[cfg(test)]
mod tests;
