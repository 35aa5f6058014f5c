//! `exec` and `attach` over SPDY/3.1, as kubectl before 1.30 (and client-go's SPDY
//! executor) speak them: the request is upgraded with `X-Stream-Protocol-Version:
//! v4.channel.k8s.io`, then the client opens one stream per channel, named by its
//! `streamType` header (`error`, `stdin`, `stdout`, `stderr`, `resize`). Once the streams
//! the options call for are there, bytes flow as over WebSocket; the process's `Status`
//! goes out on the error stream, as the kubelet's remotecommand server writes it.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use http::header::UPGRADE;
use http::{HeaderMap, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use super::channel;
use crate::StatusError;
use crate::kubelet::{ExecRequest, Session, TerminalSize};
use crate::spdy::{self, Stream};

/// The only SPDY channel protocol served (JSON statuses on the error stream, resizes).
const PROTOCOL: &str = "v4.channel.k8s.io";
/// How long the client gets to open its streams (the kubelet's stream creation timeout).
const CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a session may carry nothing (the kubelet's default `streamIdleTimeout`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(4 * 60 * 60);

/// Whether the request asks for a SPDY upgrade.
pub(super) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"))
}

/// The answer when the client speaks no channel protocol served here, as httpstream's
/// handshake refuses: 403 naming both sides' protocols.
pub(super) fn refusal(headers: &HeaderMap) -> Option<Response> {
    let offered: Vec<&str> = headers
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if offered.contains(&PROTOCOL) {
        return None;
    }
    let mut response = StatusError::forbidden(format!(
        "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts [{PROTOCOL:?}]"
    ))
    .into_response();
    response.headers_mut().insert(
        "x-accepted-stream-protocol-versions",
        HeaderValue::from_static(PROTOCOL),
    );
    Some(response)
}

/// Answers 101 and serves the session on the upgraded connection.
pub(super) fn upgrade(
    on_upgrade: hyper::upgrade::OnUpgrade,
    request: ExecRequest,
    session: Result<Session, StatusError>,
) -> Response {
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded), request, session).await,
            Err(error) => tracing::debug!(%error, "an exec upgrade failed"),
        }
    });
    crate::spdy::switching_protocols(PROTOCOL)
}

/// The streams of one session, as the client opened them.
#[derive(Default)]
struct Streams {
    error: Option<Stream>,
    stdin: Option<Stream>,
    stdout: Option<Stream>,
    stderr: Option<Stream>,
    resize: Option<Stream>,
}

impl Streams {
    fn complete(&self, request: &ExecRequest) -> bool {
        self.error.is_some()
            && (!request.stdin || self.stdin.is_some())
            && (!request.stdout || self.stdout.is_some())
            && (!request.stderr || self.stderr.is_some())
            && (!request.tty || self.resize.is_some())
    }
}

async fn serve<T>(io: T, request: ExecRequest, session: Result<Session, StatusError>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (connection, mut incoming) = spdy::serve(io, IDLE_TIMEOUT);
    let mut streams = Streams::default();
    let deadline = tokio::time::sleep(CREATION_TIMEOUT);
    tokio::pin!(deadline);
    while !streams.complete(&request) {
        let stream = tokio::select! {
            stream = incoming.recv() => match stream {
                Some(stream) => stream,
                None => return,
            },
            () = &mut deadline => {
                tracing::debug!("an exec client did not open its streams in time");
                connection.go_away().await;
                return;
            }
        };
        let slot = match stream.headers.get("streamType") {
            Some("error") => &mut streams.error,
            Some("stdin") => &mut streams.stdin,
            Some("stdout") => &mut streams.stdout,
            Some("stderr") => &mut streams.stderr,
            Some("resize") => &mut streams.resize,
            _ => {
                stream.writer.reset(spdy::status::PROTOCOL_ERROR).await;
                continue;
            }
        };
        if stream.reply().await.is_err() {
            return;
        }
        *slot = Some(stream);
    }
    let Some(error) = streams.error.take() else {
        return;
    };
    let ended = match session {
        Ok(session) => pump(session, streams).await,
        Err(failure) => Err(failure),
    };
    let status = channel::status(&ended, &request.command).to_string();
    let _ = error.writer.write(Bytes::from(status)).await;
    error.writer.close().await;
    connection.go_away().await;
}

/// Copies stdin in, stdout and stderr out, and resizes, until the process ends.
async fn pump(session: Session, mut streams: Streams) -> Result<Option<i32>, StatusError> {
    let Session {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = session;
    if let (Some(mut writer), Some(mut reader)) = (stdin, streams.stdin.take()) {
        tokio::spawn(async move {
            while let Some(bytes) = reader.reader.read().await {
                if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
    }
    if let (Some(resize), Some(mut reader)) = (resize, streams.resize.take()) {
        tokio::spawn(async move {
            let mut pending = Vec::new();
            while let Some(bytes) = reader.reader.read().await {
                pending.extend_from_slice(&bytes);
                // client-go writes one JSON object per size, newline-terminated.
                let mut sizes = serde_json::Deserializer::from_slice(&pending).into_iter();
                let mut used = 0;
                while let Some(Ok(size)) = sizes.next() {
                    used = sizes.byte_offset();
                    if let Some(size) = terminal_size(&size) {
                        resize(size).await;
                    }
                }
                pending.drain(..used);
            }
        });
    }
    let copy = |output: Option<crate::kubelet::ByteStream>, stream: Option<Stream>| async move {
        let Some(stream) = stream else { return };
        let mut output: BoxStream<'static, std::io::Result<Bytes>> = match output {
            Some(output) => output,
            None => stream::empty().boxed(),
        };
        while let Some(chunk) = output.next().await {
            match chunk {
                Ok(bytes) => {
                    if stream.writer.write(bytes).await.is_err() {
                        return;
                    }
                }
                Err(error) => tracing::debug!(%error, "a stream of an exec session failed"),
            }
        }
        stream.writer.close().await;
    };
    tokio::join!(
        copy(stdout, streams.stdout.take()),
        copy(stderr, streams.stderr.take()),
    );
    exit.await
}

fn terminal_size(value: &serde_json::Value) -> Option<TerminalSize> {
    Some(TerminalSize {
        width: u16::try_from(value["Width"].as_u64()?).ok()?,
        height: u16::try_from(value["Height"].as_u64()?).ok()?,
    })
}
