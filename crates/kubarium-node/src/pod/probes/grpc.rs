//! `grpc` probes, as the kubelet's (`pkg/probe/grpc`): one `grpc.health.v1.Health/Check`
//! unary call over plaintext HTTP/2 (h2c with prior knowledge, as grpc-go's insecure
//! credentials) to the pod's address. The two tiny protobuf messages are encoded by hand —
//! a probe needs one string field out and one enum field back, not a code generator. The
//! outcome and its message read as upstream's (`service unhealthy (responded with
//! "NOT_SERVING")`, `error: this server does not implement the grpc health protocol …`).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::check::Outcome;

/// `HealthCheckResponse.ServingStatus` values, as upstream's enum names them.
const SERVING: u64 = 1;

/// The request message: `HealthCheckRequest { string service = 1; }`, in a gRPC frame
/// (compressed flag 0, big-endian length, message). An empty service is left out, as
/// proto3 does with default values.
pub(crate) fn request_frame(service: &str) -> Bytes {
    let mut message = BytesMut::new();
    if !service.is_empty() {
        message.put_u8(0x0a); // field 1, wire type 2 (length-delimited)
        put_varint(&mut message, service.len() as u64);
        message.put_slice(service.as_bytes());
    }
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    frame.put_slice(&message);
    frame.freeze()
}

fn put_varint(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".to_owned())
}

/// `HealthCheckResponse.status` (field 1, an enum) from a message; 0 (`UNKNOWN`) when absent.
/// Other fields are skipped, as protobuf readers do.
pub(crate) fn response_status(message: &[u8]) -> Result<u64, String> {
    let mut at = 0;
    let mut status = 0;
    while at < message.len() {
        let key = varint(message, &mut at)?;
        match key & 7 {
            0 => {
                let value = varint(message, &mut at)?;
                if key >> 3 == 1 {
                    status = value;
                }
            }
            1 => at += 8,
            2 => {
                let len = usize::try_from(varint(message, &mut at)?).map_err(|e| e.to_string())?;
                at = at.checked_add(len).ok_or("length overflow")?;
            }
            5 => at += 4,
            wire => return Err(format!("unsupported wire type {wire}")),
        }
        if at > message.len() {
            return Err("truncated field".to_owned());
        }
    }
    Ok(status)
}

/// The message of the first gRPC frame of a response body.
pub(crate) fn unframe(body: &[u8]) -> Result<&[u8], String> {
    let (header, rest) = body
        .split_at_checked(5)
        .ok_or("response has no complete gRPC message")?;
    if header[0] != 0 {
        return Err("compressed response, but no compression was asked for".to_owned());
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    rest.get(..len)
        .ok_or_else(|| "truncated gRPC message".to_owned())
}

/// An enum value as Go's generated `String()`: its name, or the number when unknown.
pub(crate) fn status_name(status: u64) -> String {
    match status {
        0 => "UNKNOWN".to_owned(),
        1 => "SERVING".to_owned(),
        2 => "NOT_SERVING".to_owned(),
        3 => "SERVICE_UNKNOWN".to_owned(),
        other => other.to_string(),
    }
}

/// grpc-go's names of status codes (`codes.Code.String()`).
fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES
        .get(code as usize)
        .map_or_else(|| format!("Code({code})"), |n| (*n).to_owned())
}

const UNIMPLEMENTED: u32 = 12;
const DEADLINE_EXCEEDED: u32 = 4;

/// A `time.Duration` as Go prints it, for whole and sub-second probe timeouts.
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The `grpc-timeout` header grpc-go sends for a call with a deadline: at most 8 digits and
/// a unit.
fn grpc_timeout(left: Duration) -> String {
    let millis = left.as_millis().max(1);
    if millis < 100_000_000 {
        format!("{millis}m")
    } else {
        format!("{}S", left.as_secs().min(99_999_999))
    }
}

/// `grpc-message` is percent-encoded on the wire.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a call ended short of a health status.
enum CallError {
    /// The call ended with a gRPC status other than OK.
    Status { code: u32, message: String },
    /// The transport broke mid-call.
    Transport(String),
}

/// The status of a non-200 HTTP answer, as grpc-go maps it.
fn http_status_code(status: http::StatusCode) -> u32 {
    match status.as_u16() {
        400 => 13,             // Internal
        401 => 16,             // Unauthenticated
        403 => 7,              // PermissionDenied
        404 => UNIMPLEMENTED,  // Unimplemented
        429 | 502..=504 => 14, // Unavailable
        _ => 2,                // Unknown
    }
}

/// Probes `addr` for `service`, as the kubelet's gRPC prober, within `timeout`.
pub(crate) async fn probe(
    addr: SocketAddr,
    service: &str,
    timeout: Duration,
    user_agent: &str,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let within = go_duration(timeout);
    let (sender, driver) = match tokio::time::timeout_at(deadline, dial(addr)).await {
        Ok(Ok(dialled)) => dialled,
        Ok(Err(error)) => {
            return Outcome::Failure(format!(
                "error: failed to connect service at {:?}: {error}",
                addr.to_string()
            ));
        }
        Err(_) => {
            return Outcome::Failure(format!(
                "timeout: failed to connect service {:?} within {within}: context deadline exceeded",
                addr.to_string()
            ));
        }
    };
    let call = check(sender, addr, service, deadline, user_agent);
    let result = tokio::time::timeout_at(deadline, call).await;
    driver.abort();
    match result {
        Err(_)
        | Ok(Err(CallError::Status {
            code: DEADLINE_EXCEEDED,
            ..
        })) => Outcome::Failure(format!(
            "timeout: health rpc did not complete within {within}"
        )),
        Ok(Ok(SERVING)) => Outcome::Success,
        Ok(Ok(status)) => Outcome::Failure(format!(
            "service unhealthy (responded with {:?})",
            status_name(status)
        )),
        Ok(Err(CallError::Status {
            code: UNIMPLEMENTED,
            message,
        })) => Outcome::Failure(format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {message}"
        )),
        Ok(Err(CallError::Status { code, message })) => Outcome::Failure(format!(
            "error: health rpc probe failed: rpc error: code = {} desc = {message}",
            code_name(code)
        )),
        Ok(Err(CallError::Transport(error))) => Outcome::Failure(format!(
            "error: health rpc probe failed: rpc error: code = Unavailable desc = {error}"
        )),
    }
}

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

/// An HTTP/2 connection (prior knowledge) and the task driving it.
async fn dial(addr: SocketAddr) -> Result<(Sender, tokio::task::JoinHandle<()>), String> {
    let tcp = TcpStream::connect(addr).await.map_err(|error| {
        let what = match error.kind() {
            std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_owned(),
            std::io::ErrorKind::HostUnreachable => "connect: no route to host".to_owned(),
            std::io::ErrorKind::NetworkUnreachable => "connect: network is unreachable".to_owned(),
            _ => error.to_string(),
        };
        // grpc-go's wording for a failed dial.
        format!(
            "connection error: desc = \"transport: Error while dialing: dial tcp {addr}: {what}\""
        )
    })?;
    let _ = tcp.set_nodelay(true);
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(|e| format!("connection error: desc = \"transport: {e}\""))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((sender, driver))
}

/// One `Health/Check` call: the response's status, or how the call failed.
async fn check(
    mut sender: Sender,
    addr: SocketAddr,
    service: &str,
    deadline: Instant,
    user_agent: &str,
) -> Result<u64, CallError> {
    let left = deadline.saturating_duration_since(Instant::now());
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .header(http::header::USER_AGENT, user_agent)
        .header("grpc-timeout", grpc_timeout(left))
        .body(Full::new(request_frame(service)))
        .map_err(|e| CallError::Transport(e.to_string()))?;
    sender
        .ready()
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let status = response.status();
    if status != http::StatusCode::OK {
        return Err(CallError::Status {
            code: http_status_code(status),
            message: format!(
                "unexpected HTTP status code received from server: {} ({})",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        });
    }
    let headers = response.headers().clone();
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(|e| CallError::Transport(e.to_string()))?;
    // A trailers-only answer carries the status in its headers.
    let trailers = collected.trailers().cloned();
    let field = |name: &str| {
        trailers
            .as_ref()
            .and_then(|t| t.get(name))
            .or_else(|| headers.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let code = match field("grpc-status") {
        Some(code) => code.trim().parse::<u32>().map_err(|_| CallError::Status {
            code: 2,
            message: format!("malformed grpc-status {code:?}"),
        })?,
        None => {
            return Err(CallError::Status {
                code: 13,
                message: "server closed the stream without sending trailers".to_owned(),
            });
        }
    };
    if code != 0 {
        return Err(CallError::Status {
            code,
            message: field("grpc-message")
                .map(|m| percent_decode(&m))
                .unwrap_or_default(),
        });
    }
    let body = collected.to_bytes();
    let internal = |message: String| CallError::Status { code: 13, message };
    response_status(unframe(&body).map_err(internal)?).map_err(internal)
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::combinators::BoxBody;
    use hyper::service::service_fn;

    use super::*;

    #[test]
    fn request_messages() {
        assert_eq!(&request_frame("")[..], &[0, 0, 0, 0, 0]);
        assert_eq!(
            &request_frame("db")[..],
            &[0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
        let long = "s".repeat(200);
        let frame = request_frame(&long);
        assert_eq!(&frame[..8], &[0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
    }

    #[test]
    fn response_messages() {
        assert_eq!(response_status(&[]), Ok(0));
        assert_eq!(response_status(&[0x08, 1]), Ok(SERVING));
        // Unknown fields of every wire type are skipped.
        let message = [
            0x10, 0x96, 0x01, // field 2 varint
            0x1a, 2, b'h', b'i', // field 3 bytes
            0x25, 0, 0, 0, 0, // field 4 fixed32
            0x29, 0, 0, 0, 0, 0, 0, 0, 0, // field 5 fixed64
            0x08, 2, // status
        ];
        assert_eq!(response_status(&message), Ok(2));
        assert!(response_status(&[0x08]).is_err());
        assert!(response_status(&[0x1a, 5, 1]).is_err());
        assert_eq!(unframe(&[0, 0, 0, 0, 2, 0x08, 1, 9]), Ok(&[0x08, 1][..]));
        assert!(unframe(&[0, 0, 0, 0, 3, 0x08, 1]).is_err());
        assert!(unframe(&[1, 0, 0, 0, 0]).is_err());
        assert!(unframe(&[]).is_err());
        assert_eq!(status_name(2), "NOT_SERVING");
        assert_eq!(status_name(7), "7");
        assert_eq!(code_name(12), "Unimplemented");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(percent_decode("a%20b%ZZ"), "a b%ZZ");
        assert_eq!(grpc_timeout(Duration::from_secs(1)), "1000m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
    }

    type Body = BoxBody<Bytes, Infallible>;

    /// A health server answering by the service asked for: `""` SERVING, `sick` NOT_SERVING,
    /// `slow` never, anything else UNIMPLEMENTED (trailers only, as grpc-go answers an
    /// unknown service); it sends back what it saw in the request.
    async fn answer(
        request: http::Request<hyper::body::Incoming>,
        seen: tokio::sync::mpsc::UnboundedSender<(String, String, String)>,
    ) -> Result<http::Response<Body>, Infallible> {
        let path = request.uri().path().to_owned();
        let agent = request
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let message = unframe(&body).unwrap();
        // The request's field 1, read back by hand.
        let service = if message.is_empty() {
            String::new()
        } else {
            assert_eq!(message[0], 0x0a);
            String::from_utf8(message[2..].to_vec()).unwrap()
        };
        let _ = seen.send((path, agent, service.clone()));
        let status = match service.as_str() {
            "" => 1u8,
            "sick" => 2,
            "slow" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                1
            }
            _ => {
                let response = http::Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "12")
                    .header("grpc-message", "unknown service grpc.health.v1.Health")
                    .body(Full::new(Bytes::new()).boxed())
                    .unwrap();
                return Ok(response);
            }
        };
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let body = Full::new(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]))
            .with_trailers(async move { Some(Ok(trailers)) })
            .boxed();
        Ok(http::Response::builder()
            .header("content-type", "application/grpc")
            .body(body)
            .unwrap())
    }

    #[tokio::test]
    async fn health_checks_against_a_local_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let server = tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let tx = tx.clone();
                let service = service_fn(move |request| answer(request, tx.clone()));
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        let timeout = Duration::from_secs(5);
        let agent = "kube-probe/1.33";
        assert_eq!(probe(addr, "", timeout, agent).await, Outcome::Success);
        assert_eq!(
            seen.recv().await.unwrap(),
            (
                "/grpc.health.v1.Health/Check".to_owned(),
                agent.to_owned(),
                String::new()
            )
        );
        assert_eq!(
            probe(addr, "sick", timeout, agent).await,
            Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".to_owned())
        );
        assert_eq!(seen.recv().await.unwrap().2, "sick");
        assert_eq!(
            probe(addr, "other", timeout, agent).await,
            Outcome::Failure(
                "error: this server does not implement the grpc health protocol \
                 (grpc.health.v1.Health): unknown service grpc.health.v1.Health"
                    .to_owned()
            )
        );
        assert_eq!(
            probe(addr, "slow", Duration::from_millis(300), agent).await,
            Outcome::Failure("timeout: health rpc did not complete within 300ms".to_owned())
        );
        server.abort();
        let _ = server.await;
        // A port that answers, but not in HTTP/2.
        let http1 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http1_addr = http1.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let (mut socket, _) = http1.accept().await.unwrap();
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
                .await;
        });
        match probe(http1_addr, "", timeout, agent).await {
            Outcome::Failure(message) => assert!(
                message
                    .starts_with("error: health rpc probe failed: rpc error: code = Unavailable"),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
        // Nothing listens there any more.
        assert_eq!(
            probe(addr, "", timeout, agent).await,
            Outcome::Failure(format!(
                "error: failed to connect service at \"{addr}\": connection error: desc = \
                 \"transport: Error while dialing: dial tcp {addr}: connect: connection refused\""
            ))
        );
    }
}
