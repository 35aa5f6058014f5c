//! Port-forward over the WebSocket channel protocol (`v4.channel.k8s.io`), as the kubelet
//! serves it to kube-rs and client-go's plain WebSocket dialer: the `ports` query names the
//! ports; port *i* has data channel `2i` and error channel `2i+1`; every binary message is
//! a channel byte then payload; the server's first message on each channel is the port,
//! two bytes little-endian. One connection to the pod per port, for the socket's lifetime
//! (a client wanting another connection opens another socket).

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;

use super::{CHUNK, LINGER, Target};
use crate::StatusError;
use crate::kubelet::Duplex;

/// The subprotocol (binary channels, version 4).
pub(super) const PROTOCOL: &str = "v4.channel.k8s.io";

/// The ports of the `ports` query parameter (comma-separated, maybe repeated), as the
/// kubelet reads them.
pub(super) fn ports(query: Option<&str>) -> Result<Vec<u16>, StatusError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|error| StatusError::bad_request(format!("invalid query parameters: {error}")))?;
    let mut ports = Vec::new();
    for (_, value) in pairs.iter().filter(|(key, _)| key == "ports") {
        for port in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parsed: u16 = port.parse().map_err(|error| {
                StatusError::bad_request(format!("unable to parse {port:?} as a port: {error}"))
            })?;
            if parsed < 1 {
                return Err(StatusError::bad_request(format!(
                    "port {port:?} must be > 0"
                )));
            }
            ports.push(parsed);
        }
    }
    if ports.is_empty() {
        return Err(StatusError::bad_request(
            "query parameter \"port\" is required",
        ));
    }
    Ok(ports)
}

/// What the socket's writer sends: a channel's bytes, or the end.
enum Out {
    Data(u8, Bytes),
    /// A port's pod connection ended (or never opened).
    Done,
}

/// Forwards `ports` of the target's pod over `socket` until every pod connection ends, the
/// client leaves, or the server shuts down.
pub(super) async fn serve(
    socket: WebSocket,
    target: Target,
    ports: Vec<u16>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut shutdown = shutdown;
    let (mut sink, mut messages) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Out>(64);
    let mut to_pod: HashMap<u8, WriteHalf<Box<dyn Duplex>>> = HashMap::new();
    for (index, port) in ports.iter().enumerate() {
        let Ok(data) = u8::try_from(2 * index) else {
            break;
        };
        for channel in [data, data + 1] {
            let mut prefix = vec![channel];
            prefix.extend_from_slice(&port.to_le_bytes());
            if sink
                .send(Message::Binary(Bytes::from(prefix)))
                .await
                .is_err()
            {
                return;
            }
        }
        match target
            .kubelet
            .port_forward((*target.pod).clone(), *port)
            .await
        {
            Ok(connection) => {
                let (mut from_pod, writer) = tokio::io::split(connection);
                to_pod.insert(data, writer);
                let out = out.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; CHUNK];
                    loop {
                        match from_pod.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let bytes = Bytes::copy_from_slice(&buf[..n]);
                                if out.send(Out::Data(data, bytes)).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    let _ = out.send(Out::Done).await;
                });
            }
            Err(status) => {
                // The node agent's message is the kubelet's ("error forwarding port …").
                let _ = out
                    .send(Out::Data(data + 1, Bytes::from(status.message)))
                    .await;
                let _ = out.send(Out::Done).await;
            }
        }
    }
    drop(out);
    let mut open = ports.len();
    let mut client_gone = false;
    // The watch's read guard must not live across an await: only the wait is kept.
    let stopping = async move {
        let _ = shutdown.wait_for(|down| *down).await;
    };
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            message = messages.next(), if !client_gone => match message {
                Some(Ok(Message::Binary(bytes))) if bytes.len() > 1 => {
                    if let Some(writer) = to_pod.get_mut(&bytes[0])
                        && writer.write_all(&bytes[1..]).await.is_err()
                    {
                        to_pod.remove(&bytes[0]);
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    // The client is done: the pods get a moment to finish answering.
                    client_gone = true;
                    for writer in to_pod.values_mut() {
                        let _ = writer.shutdown().await;
                    }
                }
                // Pings are answered by the WebSocket layer; the rest has no meaning here.
                Some(Ok(_)) => {}
            },
            next = outgoing.recv() => match next {
                Some(Out::Data(channel, bytes)) => {
                    if client_gone {
                        continue;
                    }
                    let mut frame = Vec::with_capacity(bytes.len() + 1);
                    frame.push(channel);
                    frame.extend_from_slice(&bytes);
                    if sink.send(Message::Binary(Bytes::from(frame))).await.is_err() {
                        return;
                    }
                }
                Some(Out::Done) => {
                    open = open.saturating_sub(1);
                    if open == 0 {
                        break;
                    }
                }
                None => break,
            },
            () = tokio::time::sleep(LINGER), if client_gone => break,
            () = &mut stopping => break,
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_from_comma_lists_and_repeats() {
        assert_eq!(
            ports(Some("ports=80%2C1234&ports=9")).unwrap(),
            [80, 1234, 9]
        );
        assert!(ports(Some("ports=0")).is_err());
        assert!(ports(Some("ports=http")).is_err());
        assert!(ports(None).is_err());
    }
}
