//! `pods/<name>/exec` and `pods/<name>/attach` over WebSocket: the options (`command`
//! repeated, `stdin`, `stdout`, `stderr`, `tty`, `container`), the upgrade with a channel
//! subprotocol, then the session pumped between the connection and the node agent until the
//! process ends, when its `Status` goes out on the error channel and the connection closes.
//!
//! The node agent starts the process before the upgrade, so a container that cannot run it
//! gets a plain HTTP `Status` kubectl shows, not a broken connection.

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{self, BoxStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use http::{HeaderMap, Method, header};
use k8s_openapi::api::core::v1::Pod;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::channel::{self, ERROR, Incoming, PROTOCOLS, Protocol, STDERR, STDIN, STDOUT};
use super::{Call, Query};
use crate::StatusError;
use crate::kubelet::{ExecRequest, Session};

/// `PodExecOptions` / `PodAttachOptions` as the query gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ExecOptions {
    pub(super) container: Option<String>,
    pub(super) command: Vec<String>,
    pub(super) stdin: bool,
    pub(super) stdout: bool,
    pub(super) stderr: bool,
    pub(super) tty: bool,
}

impl ExecOptions {
    pub(super) fn parse(query: &Query, attach: bool) -> Self {
        Self {
            container: query.get("container").map(str::to_owned),
            command: if attach {
                Vec::new()
            } else {
                query.all("command")
            },
            stdin: query.flag("stdin"),
            stdout: query.flag("stdout"),
            stderr: query.flag("stderr"),
            tty: query.flag("tty"),
        }
    }

    /// What the kubelet refuses before it upgrades: no stream at all, or `exec` without a
    /// command. With a TTY, stderr is merged into stdout (the kubelet drops it).
    pub(super) fn request(
        &self,
        container: String,
        attach: bool,
    ) -> Result<ExecRequest, StatusError> {
        if !self.stdin && !self.stdout && !self.stderr {
            return Err(StatusError::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        if !attach && self.command.is_empty() {
            return Err(StatusError::bad_request(
                "you must specify at least 1 command: pass it as repeated command= parameters",
            ));
        }
        Ok(ExecRequest {
            container,
            command: self.command.clone(),
            stdin: self.stdin,
            stdout: self.stdout,
            stderr: self.stderr && !self.tty,
            tty: self.tty,
        })
    }
}

pub(super) async fn serve(
    call: &mut Call,
    pod: Pod,
    query: &Query,
    attach: bool,
) -> Result<Response, StatusError> {
    let sub = if attach { "attach" } else { "exec" };
    let options = ExecOptions::parse(query, attach);
    let container = super::container(&pod, options.container.as_deref())?;
    let kubelet = super::kubelet(call, &pod, sub)?;
    let request = options.request(container, attach)?;
    if super::spdy::wanted(&call.headers) {
        if let Some(refusal) = super::spdy::refusal(&call.headers) {
            return Ok(refusal);
        }
        let on_upgrade = call.upgrade.take().ok_or_else(|| {
            StatusError::bad_request(
                "unable to upgrade: this connection cannot be upgraded (HTTP/2?); exec over SPDY needs HTTP/1.1",
            )
        })?;
        let session = kubelet.exec(pod, request.clone()).await;
        return Ok(super::spdy::upgrade(on_upgrade, request, session));
    }
    let upgrade = websocket(&call.headers, call.upgrade.take())
        .await?
        .protocols(PROTOCOLS);
    let protocol = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .and_then(Protocol::from_name)
        .ok_or_else(|| {
            let offered = call
                .headers
                .get_all(header::SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(", ");
            StatusError::bad_request(format!(
                "unable to upgrade: the client offers the subprotocols [{offered}], this server speaks {}; use kubectl 1.30 or newer",
                PROTOCOLS.join(", ")
            ))
        })?;
    // The lowest channel the client reads gets an empty message once the session is up,
    // as the kubelet sends it.
    let first = if request.stdout {
        STDOUT
    } else if request.stderr {
        STDERR
    } else {
        ERROR
    };
    let command = request.command.clone();
    // A session that cannot start still upgrades: its error goes out on the error channel, as
    // kube-apiserver's stream translator sends the kubelet's. (A refused upgrade would make
    // kubectl fall back to SPDY and show that attempt's error instead.)
    let session = kubelet.exec(pod, request).await;
    Ok(upgrade
        .on_upgrade(move |socket| async move {
            match session {
                Ok(session) => pump(socket, session, protocol, command, first).await,
                Err(error) => {
                    let (mut tx, _) = socket.split();
                    finish(&mut tx, &Err(error), &command).await;
                }
            }
        })
        .into_response())
}

/// The WebSocket handshake of this request, or a 400 saying what is wrong with it.
async fn websocket(
    headers: &HeaderMap,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<WebSocketUpgrade, StatusError> {
    let wanted = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if wanted.is_empty() {
        return Err(StatusError::bad_request("Upgrade request required"));
    }
    if !wanted.eq_ignore_ascii_case("websocket") {
        return Err(StatusError::bad_request(format!(
            "unable to upgrade: exec and attach are served over WebSocket ({}) or SPDY/3.1, not {wanted}",
            PROTOCOLS.join(", ")
        )));
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = Method::GET;
    parts.headers = headers.clone();
    if let Some(upgrade) = upgrade {
        parts.extensions.insert(upgrade);
    }
    WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|rejection| {
            StatusError::bad_request(format!("unable to upgrade: {}", rejection.body_text()))
        })
}

/// Moves bytes between the connection and the session until the process ends (then sends
/// its `Status` and closes) or the client goes (then drops the session).
pub(super) async fn pump<S, E>(
    socket: S,
    session: Session,
    protocol: Protocol,
    command: Vec<String>,
    first: u8,
) where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Send + Unpin,
{
    let (mut tx, mut rx) = socket.split();
    let Session {
        stdin,
        stdout,
        stderr,
        resize,
        mut exit,
    } = session;
    let mut stdin = stdin.map(|mut writer| {
        // Its own task, so a process that does not read its stdin never stalls its output.
        let (sender, mut receiver) = mpsc::unbounded_channel::<Bytes>();
        tokio::spawn(async move {
            while let Some(bytes) = receiver.recv().await {
                if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        sender
    });
    let tagged =
        |output: Option<crate::kubelet::ByteStream>, channel: u8| -> BoxStream<'static, _> {
            match output {
                Some(output) => output.map(move |chunk| (channel, chunk)).boxed(),
                None => stream::empty().boxed(),
            }
        };
    let mut outputs = stream::select(tagged(stdout, STDOUT), tagged(stderr, STDERR));
    if tx
        .send(Message::Binary(channel::frame(first, b"")))
        .await
        .is_err()
    {
        return;
    }
    let mut outputs_done = false;
    let ended = loop {
        tokio::select! {
            output = outputs.next(), if !outputs_done => match output {
                Some((channel, Ok(bytes))) => {
                    if tx.send(Message::Binary(channel::frame(channel, &bytes))).await.is_err() {
                        return;
                    }
                }
                Some((_, Err(error))) => tracing::debug!(%error, "a stream of an exec session failed"),
                None => outputs_done = true,
            },
            ended = &mut exit, if outputs_done => break ended,
            message = rx.next() => match message {
                Some(Ok(Message::Binary(data))) => match channel::decode(protocol, &data) {
                    Incoming::Stdin(bytes) => {
                        if let Some(sender) = &stdin {
                            let _ = sender.send(bytes);
                        }
                    }
                    Incoming::Resize(size) => {
                        if let Some(resize) = &resize {
                            tokio::spawn(resize(size));
                        }
                    }
                    Incoming::Close(STDIN) => stdin = None,
                    Incoming::Close(_) | Incoming::Nothing => {}
                    Incoming::Invalid(why) => tracing::debug!(%why, "an exec client sent a message the protocol does not allow"),
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    };
    drop(stdin);
    finish(&mut tx, &ended, &command).await;
}

/// Sends how the session ended on the error channel, then closes the connection.
async fn finish<T: Sink<Message> + Unpin>(
    tx: &mut T,
    ended: &Result<Option<i32>, StatusError>,
    command: &[String],
) {
    let status = channel::status(ended, command).to_string();
    if tx
        .send(Message::Binary(channel::frame(ERROR, status.as_bytes())))
        .await
        .is_err()
    {
        return;
    }
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::kubelet::TerminalSize;

    #[test]
    fn options_need_a_stream_and_a_command() {
        let parse = |q: &str, attach| ExecOptions::parse(&Query::parse(Some(q)).unwrap(), attach);
        let options = parse(
            "command=sh&command=-c&command=exit%203&stdin=true&stdout=true&stderr=true&tty=true&container=app",
            false,
        );
        assert_eq!(options.container.as_deref(), Some("app"));
        let request = options.request("app".to_owned(), false).unwrap();
        assert_eq!(request.command, ["sh", "-c", "exit 3"]);
        assert!(request.stdin && request.stdout && request.tty);
        assert!(!request.stderr, "a TTY merges stderr into stdout");
        let error = parse("command=ls", false)
            .request("app".to_owned(), false)
            .unwrap_err();
        assert_eq!(error.code, 400);
        assert_eq!(
            error.message,
            "you must specify at least 1 of stdin, stdout, stderr"
        );
        let error = parse("stdout=1", false)
            .request("app".to_owned(), false)
            .unwrap_err();
        assert_eq!(error.code, 400);
        let attach = parse("stdout=1&command=ignored", true);
        assert!(
            attach
                .request("app".to_owned(), true)
                .unwrap()
                .command
                .is_empty()
        );
    }

    /// One end of a WebSocket as channels: what the test sends in, what the pump sends out.
    struct FakeSocket {
        incoming: mpsc::UnboundedReceiver<Result<Message, std::io::Error>>,
        outgoing: mpsc::UnboundedSender<Message>,
    }

    impl Stream for FakeSocket {
        type Item = Result<Message, std::io::Error>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.poll_recv(cx)
        }
    }

    impl Sink<Message> for FakeSocket {
        type Error = std::io::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
            self.outgoing
                .send(item)
                .map_err(|_| std::io::Error::other("the test hung up"))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_session_pumps_stdin_to_the_process_and_ends_with_its_status() {
        // A "cat" whose stdin is a pipe: what it reads comes back on stdout, and it exits 3
        // once stdin is closed.
        let (stdin_end, mut process_stdin) = tokio::io::duplex(64);
        let (echo_tx, mut echo_rx) = mpsc::unbounded_channel::<std::io::Result<Bytes>>();
        let echo = stream::poll_fn(move |cx| echo_rx.poll_recv(cx));
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<i32>();
        tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            loop {
                match process_stdin.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let _ = echo_tx.send(Ok(Bytes::copy_from_slice(&buffer[..n])));
                    }
                }
            }
            drop(echo_tx);
            let _ = exit_tx.send(3);
        });
        let resized = Arc::new(Mutex::new(Vec::new()));
        let sizes = resized.clone();
        let session = Session {
            stdin: Some(Box::pin(stdin_end)),
            stdout: Some(Box::pin(echo)),
            stderr: None,
            resize: Some(Box::new(move |size: TerminalSize| {
                sizes.lock().unwrap().push(size);
                Box::pin(async {})
            })),
            exit: Box::pin(async move { Ok(exit_rx.await.ok()) }),
        };
        let (client_tx, incoming) = mpsc::unbounded_channel();
        let (outgoing, mut client_rx) = mpsc::unbounded_channel();
        let socket = FakeSocket { incoming, outgoing };
        let command = vec!["cat".to_owned()];
        let pumping = tokio::spawn(pump(socket, session, Protocol::V5, command, STDOUT));

        let binary = |b: &'static [u8]| Ok(Message::Binary(Bytes::from_static(b)));
        client_tx
            .send(binary(b"\x04{\"Width\":100,\"Height\":30}"))
            .unwrap();
        client_tx.send(binary(b"\x00hello\n")).unwrap();
        assert_eq!(
            client_rx.recv().await,
            Some(Message::Binary(Bytes::from_static(b"\x01")))
        );
        assert_eq!(
            client_rx.recv().await,
            Some(Message::Binary(Bytes::from_static(b"\x01hello\n")))
        );
        // v5's close signal ends stdin; the process exits, its status follows, then Close.
        client_tx.send(binary(b"\xff\x00")).unwrap();
        let Some(Message::Binary(status)) = client_rx.recv().await else {
            panic!("no status");
        };
        assert_eq!(status[0], ERROR);
        let status: serde_json::Value = serde_json::from_slice(&status[1..]).unwrap();
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(status["details"]["causes"][0]["message"], "3");
        assert!(matches!(
            client_rx.recv().await,
            Some(Message::Close(Some(_)))
        ));
        pumping.await.unwrap();
        assert_eq!(
            *resized.lock().unwrap(),
            [TerminalSize {
                width: 100,
                height: 30
            }]
        );
    }
}
