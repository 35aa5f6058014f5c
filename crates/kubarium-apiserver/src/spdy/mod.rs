//! SPDY/3.1, server side, as far as Kubernetes clients use it: kubectl's `port-forward`
//! (and, before 1.30, `exec`/`attach`) upgrade an HTTP/1.1 connection to `SPDY/3.1`, or
//! since 1.31 tunnel the same bytes through a WebSocket, then open streams on it.
//!
//! [`frame`] is the wire format (with the zlib header compression against
//! [`dictionary`]); [`session`] runs a connection: accepting streams, flow control, PINGs,
//! GOAWAY and idleness.

mod dictionary;
pub(crate) mod frame;
pub(crate) mod session;

pub(crate) use frame::status;
pub(crate) use session::{Stream, serve};

/// The `101 Switching Protocols` answer that upgrades a connection to `SPDY/3.1` speaking
/// `protocol` (the `X-Stream-Protocol-Version` the server chose).
pub(crate) fn switching_protocols(protocol: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use http::header::{CONNECTION, HeaderValue, UPGRADE};
    let mut response = http::StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(protocol),
    );
    response
}

/// Why a SPDY connection or stream failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The client broke the protocol; the connection ends with GOAWAY.
    #[error("SPDY protocol error: {0}")]
    Protocol(String),
    /// zlib refused a header block.
    #[error("SPDY header compression failed: {0}")]
    Compression(String),
    /// The stream was reset, or this side already closed it.
    #[error("the SPDY stream was reset or closed")]
    Reset,
    /// The connection is gone.
    #[error("the SPDY connection is closed")]
    Closed,
}

/// A SPDY result.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
