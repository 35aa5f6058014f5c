//! What the API server asks of the node agents to serve the streaming subresources of a
//! pod (`log`, `exec`, `attach`, `portforward`), as kube-apiserver asks the kubelet.
//!
//! The cluster plugs one [`Kubelet`] into the server once its node agents run
//! ([`crate::ApiServer::connect_kubelet`]); until then those subresources answer 503. The
//! server does the wire protocols (chunked log streams, the WebSocket and SPDY channel
//! protocols kubectl speaks); a `Kubelet` only hands over byte streams.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::StatusError;

/// A boxed future, so the trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stream of bytes, ending when its source does.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Both directions of a connection (a forwarded port).
pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}

/// What `GET pods/<name>/log` asks for (`PodLogOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRequest {
    /// The container; the server has resolved the default already.
    pub container: String,
    /// Keep streaming as the container writes.
    pub follow: bool,
    /// The previous, ended instance of the container.
    pub previous: bool,
    /// Prefix each line with an RFC 3339 timestamp (nanoseconds).
    pub timestamps: bool,
    /// Only the last lines.
    pub tail_lines: Option<i64>,
    /// Only what was written since then.
    pub since: Option<jiff::Timestamp>,
    /// Stop after this many bytes.
    pub limit_bytes: Option<i64>,
}

/// What `exec` or `attach` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The container; the server has resolved the default already.
    pub container: String,
    /// The command to run; empty for `attach` (the container's own process).
    pub command: Vec<String>,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// Whether the client wants stdout.
    pub stdout: bool,
    /// Whether the client wants stderr (never with a TTY: it is merged into stdout).
    pub stderr: bool,
    /// Whether to allocate a terminal.
    pub tty: bool,
}

/// How a terminal is sized, in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// A running `exec` or `attach`.
pub struct Session {
    /// Where the client's stdin goes, when it asked to send it.
    pub stdin: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    /// The process's stdout (with a TTY: everything it writes).
    pub stdout: Option<ByteStream>,
    /// The process's stderr.
    pub stderr: Option<ByteStream>,
    /// Resizes the terminal, when there is one.
    pub resize: Option<Box<dyn Fn(TerminalSize) -> BoxFuture<'static, ()> + Send + Sync>>,
    /// Resolves when the process has ended: its exit code (`None` when unknown, e.g. an
    /// `attach` whose container keeps running).
    pub exit: BoxFuture<'static, Result<Option<i32>, StatusError>>,
}

/// The node side of the streaming subresources. Each call gets the pod as stored; errors
/// are `Status` errors the server sends as they are (e.g. 400 "container not found", or
/// "pod has no running container").
pub trait Kubelet: Send + Sync + 'static {
    /// A container's log.
    fn logs(&self, pod: Pod, request: LogRequest)
    -> BoxFuture<'_, Result<ByteStream, StatusError>>;

    /// Runs a command in a container (`exec`), or attaches to its process (`attach`, an
    /// empty command).
    fn exec(&self, pod: Pod, request: ExecRequest) -> BoxFuture<'_, Result<Session, StatusError>>;

    /// A connection to `port` in the pod's network namespace.
    fn port_forward(
        &self,
        pod: Pod,
        port: u16,
    ) -> BoxFuture<'_, Result<Box<dyn Duplex>, StatusError>>;
}
