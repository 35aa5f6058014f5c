//! `exec` and `attach` over SPDY/3.1, as kubectl before 1.30 (and client-go's fallback
//! when a WebSocket upgrade fails) speaks them: the request upgrades with
//! `X-Stream-Protocol-Version` offering `v4.channel.k8s.io` … `channel.k8s.io`, then the
//! client opens one stream per channel, each named by its `streamType` header (`error`,
//! `stdin`, `stdout`, `stderr`, `resize`). When the process ends, stdout and stderr are
//! closed and the error stream carries how it ended (v4: a `Status` as JSON; older: the
//! failure's text), as the kubelet's remotecommand server does.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::Call;
use super::channel;
use crate::StatusError;
use crate::kubelet::{ExecRequest, Kubelet, Session, TerminalSize};
use crate::spdy::{self, Stream, status};

/// The remotecommand protocols, newest first (the kubelet's order of preference).
const PROTOCOLS: [&str; 4] = [
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// How long the client may take to open its streams (the kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may carry nothing (the kubelet's `streamIdleTimeout`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(4 * 60 * 60);

/// Whether the request asks for a SPDY/3.1 upgrade.
pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("SPDY/3.1"))
}

/// Negotiates the protocol, answers 101 and runs the session once the connection is
/// upgraded; the process starts now, so a failure to start goes out on the error stream.
pub(super) async fn serve(
    call: &mut Call,
    kubelet: Arc<dyn Kubelet>,
    pod: Pod,
    request: ExecRequest,
) -> Result<Response, StatusError> {
    let offered: Vec<&str> = call
        .headers
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect();
    if offered.is_empty() {
        return Err(StatusError::bad_request(
            "unable to upgrade: header X-Stream-Protocol-Version is missing or empty",
        ));
    }
    // The client's first choice the server speaks, as httpstream negotiates.
    let Some(protocol) = offered
        .iter()
        .find_map(|offer| PROTOCOLS.iter().find(|known| *known == offer).copied())
    else {
        let mut response = StatusError::forbidden(format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {PROTOCOLS:?}"
        ))
        .into_response();
        for known in PROTOCOLS {
            response.headers_mut().append(
                "x-accepted-stream-protocol-versions",
                HeaderValue::from_static(known),
            );
        }
        return Ok(response);
    };
    let on_upgrade = call.upgrade.take().ok_or_else(|| {
        StatusError::bad_request(
            "unable to upgrade: this connection cannot be upgraded (HTTP/2?); SPDY needs HTTP/1.1",
        )
    })?;
    let command = request.command.clone();
    let session = kubelet.exec(pod, request.clone()).await;
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                run(
                    TokioIo::new(upgraded),
                    protocol,
                    &request,
                    session,
                    &command,
                )
                .await;
            }
            Err(error) => tracing::debug!(%error, "an exec upgrade to SPDY failed"),
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(protocol),
    );
    Ok(response)
}

/// The client's streams, by type.
#[derive(Default)]
struct Streams {
    error: Option<Stream>,
    stdin: Option<Stream>,
    stdout: Option<Stream>,
    stderr: Option<Stream>,
    resize: Option<Stream>,
}

async fn run<T>(
    io: T,
    protocol: &str,
    request: &ExecRequest,
    session: Result<Session, StatusError>,
    command: &[String],
) where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (connection, mut incoming) = spdy::serve(io, IDLE_TIMEOUT);
    let resize_expected =
        request.tty && protocol != "v2.channel.k8s.io" && protocol != PROTOCOLS[3];
    let expected = 1
        + usize::from(request.stdin)
        + usize::from(request.stdout)
        + usize::from(request.stderr)
        + usize::from(resize_expected);
    let mut streams = Streams::default();
    let mut received = 0;
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while received < expected {
        let Ok(Some(stream)) = tokio::time::timeout_at(deadline, incoming.recv()).await else {
            tracing::debug!(
                received,
                expected,
                "an exec client did not open its streams"
            );
            connection.go_away().await;
            return;
        };
        let slot = match stream.headers.get("streamType") {
            Some("error") => &mut streams.error,
            Some("stdin") => &mut streams.stdin,
            Some("stdout") => &mut streams.stdout,
            Some("stderr") => &mut streams.stderr,
            Some("resize") => &mut streams.resize,
            _ => {
                stream.writer.reset(status::PROTOCOL_ERROR).await;
                continue;
            }
        };
        if slot.is_some() || stream.reply().await.is_err() {
            stream.writer.reset(status::PROTOCOL_ERROR).await;
            continue;
        }
        *slot = Some(stream);
        received += 1;
    }
    let ended = match session {
        Ok(session) => pump(&mut streams, session).await,
        Err(error) => Err(error),
    };
    if let Some(error) = streams.error.take() {
        let report = channel::status(&ended, command);
        let failed = report["status"] != "Success";
        let message = if protocol == PROTOCOLS[0] {
            Some(report.to_string())
        } else if failed {
            report["message"].as_str().map(str::to_owned)
        } else {
            None
        };
        if let Some(message) = message {
            let _ = error.writer.write(Bytes::from(message)).await;
        }
        error.writer.close().await;
    }
    connection.go_away().await;
}

/// Copies stdin in and stdout, stderr out, applies resizes, and waits for the process.
async fn pump(streams: &mut Streams, session: Session) -> Result<Option<i32>, StatusError> {
    let Session {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = session;
    if let (Some(mut writer), Some(stream)) = (stdin, streams.stdin.take()) {
        let mut reader = stream.reader;
        tokio::spawn(async move {
            while let Some(bytes) = reader.read().await {
                if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
    }
    if let (Some(resize), Some(stream)) = (resize, streams.resize.take()) {
        let mut reader = stream.reader;
        tokio::spawn(async move {
            let mut buf = BytesMut::new();
            while let Some(bytes) = reader.read().await {
                buf.extend_from_slice(&bytes);
                for size in sizes(&mut buf) {
                    resize(size).await;
                }
            }
        });
    }
    let copy = |output: Option<crate::kubelet::ByteStream>, stream: Option<Stream>| async move {
        let Some(stream) = stream else { return };
        if let Some(mut output) = output {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bytes) => {
                        if stream.writer.write(bytes).await.is_err() {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%error, "an exec output stream failed");
                        break;
                    }
                }
            }
        }
        stream.writer.close().await;
    };
    tokio::join!(
        copy(stdout, streams.stdout.take()),
        copy(stderr, streams.stderr.take())
    );
    exit.await
}

/// The terminal sizes complete in `buf` (client-go writes one JSON object per resize),
/// leaving a partial one for later.
fn sizes(buf: &mut BytesMut) -> Vec<TerminalSize> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Size {
        width: u16,
        height: u16,
    }
    let mut sizes = Vec::new();
    let mut objects = serde_json::Deserializer::from_slice(buf).into_iter::<Size>();
    let mut consumed = 0;
    while let Some(Ok(size)) = objects.next() {
        consumed = objects.byte_offset();
        sizes.push(TerminalSize {
            width: size.width,
            height: size.height,
        });
    }
    let _ = buf.split_to(consumed);
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizes_arrive_as_json_objects_possibly_split() {
        let mut buf = BytesMut::from(&b"{\"Width\":80,\"Height\":24}\n{\"Width\":1"[..]);
        assert_eq!(
            sizes(&mut buf),
            [TerminalSize {
                width: 80,
                height: 24
            }]
        );
        buf.extend_from_slice(b"20,\"Height\":40}\n");
        assert_eq!(
            sizes(&mut buf),
            [TerminalSize {
                width: 120,
                height: 40
            }]
        );
    }
}
