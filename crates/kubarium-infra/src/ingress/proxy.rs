//! One client connection: HTTP/1.0 and 1.1 requests read one at a time, each routed by the
//! snapshot current when it arrives and sent to the next endpoint of its backend in round
//! robin, over a keep-alive connection from the [`pool`](super::pool) when one is idle, else
//! a new one. Upstream requests are keep-alive (HTTP/1.1's default; `Connection: keep-alive`
//! for HTTP/1.0), hop-by-hop headers still stripped. A connection goes back to the pool only
//! when its response was read completely with known framing (length, chunked, none) and
//! neither side said `close`; upgrades (tunnels) and close-delimited responses never do. A
//! pooled connection that proves dead (the write fails, or EOF/reset before any answer) is
//! retried once on a new connection when that is safe: nothing was sent yet, or the request
//! has no body and an idempotent method (as nginx and Envoy do).
//!
//! Bodies are streamed, never buffered, and keep their framing: a `Content-Length` body is
//! copied by length, a chunked one chunk by chunk as it arrives (chunk lines and trailers
//! passed as they are), a response without either until the endpoint closes — which then
//! closes the client connection too, since its end is the only delimiter. The client's
//! keep-alive is honoured otherwise. A `101 Switching Protocols` answer to an `Upgrade`
//! request turns the connection into a two-way tunnel (WebSocket).
//!
//! Answers of our own: 404 when no rule matches (naming the host and path), 503 when the
//! backend has no ready endpoints, 502 when every endpoint refuses or one breaks the exchange
//! before answering, 400/431 for requests that do not parse.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::Shared;
use super::http::{
    CopyError, Framing, MAX_HEADERS, copy_body, header, is_hop_by_hop, owned_headers, push_header,
    read_head, request_framing, response_framing, tokens,
};

/// How long a client may stay silent: idle between keep-alive requests, or mid-request.
const CLIENT_IDLE: Duration = Duration::from_secs(75);
/// How long an endpoint may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an endpoint may stay silent while answering (long polls included).
const UPSTREAM_READ: Duration = Duration::from_secs(300);
/// How long a write may block on a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Which listener a connection came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http = 0,
    Https = 1,
}

impl Scheme {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Serves one accepted connection until it closes.
pub(crate) fn serve(stream: TcpStream, scheme: Scheme, shared: &Shared, tls: &Arc<ServerConfig>) {
    let Ok(peer) = stream.peer_addr() else { return };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(CLIENT_IDLE));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    match scheme {
        Scheme::Http => Connection::new(stream, peer, scheme).run(shared),
        Scheme::Https => {
            // The handshake happens on the first read, with the certificate the resolver
            // picks from the snapshot current then.
            let Ok(tls) = ServerConnection::new(Arc::clone(tls)) else {
                return;
            };
            Connection::new(StreamOwned::new(tls, stream), peer, scheme).run(shared);
        }
    }
}

/// A client-side stream: plain TCP or TLS over TCP.
pub(crate) trait Client: Read + Write + Send + 'static {
    /// Relays bytes both ways between the client and `upstream` until both are done.
    fn tunnel(self, upstream: TcpStream);
}

impl Client for TcpStream {
    fn tunnel(self, upstream: TcpStream) {
        let (Ok(client_reader), Ok(upstream_writer)) = (self.try_clone(), upstream.try_clone())
        else {
            return;
        };
        for stream in [&self, &upstream] {
            let _ = stream.set_read_timeout(None);
        }
        let forward = std::thread::spawn(move || relay(client_reader, upstream_writer));
        relay(upstream, self);
        let _ = forward.join();
    }
}

/// Copies until EOF, then passes the half-close on.
fn relay(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

impl Client for StreamOwned<ServerConnection, TcpStream> {
    /// rustls has one state for both directions, so the two relaying threads share it under
    /// a lock; the client-reading one holds it for at most a short read timeout at a time.
    fn tunnel(self, upstream: TcpStream) {
        const POLL: Duration = Duration::from_millis(50);
        let _ = self.sock.set_read_timeout(Some(POLL));
        let _ = upstream.set_read_timeout(None);
        let Ok(upstream_writer) = upstream.try_clone() else {
            return;
        };
        let client = Arc::new(Mutex::new(self));
        let reading = Arc::clone(&client);
        let forward = std::thread::spawn(move || {
            let mut upstream = upstream_writer;
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                let read = reading
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .read(&mut buffer);
                match read {
                    Ok(0) => break,
                    Ok(n) => {
                        if upstream.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        if Arc::strong_count(&reading) == 1 {
                            break; // The other direction ended the tunnel.
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = upstream.shutdown(Shutdown::Write);
        });
        let mut upstream = upstream;
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match upstream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut client = client.lock().unwrap_or_else(PoisonError::into_inner);
                    if client
                        .write_all(&buffer[..n])
                        .and_then(|()| client.flush())
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        {
            let mut client = client.lock().unwrap_or_else(PoisonError::into_inner);
            client.conn.send_close_notify();
            let _ = client.flush();
            let _ = client.sock.shutdown(Shutdown::Both);
        }
        drop(client);
        let _ = forward.join();
    }
}

/// What to do with the connection after a request.
enum Next {
    KeepAlive,
    Close,
    /// Upgraded: relay raw bytes between the client and this endpoint connection.
    Tunnel(TcpStream),
}

/// A request head, owned.
struct Request {
    method: String,
    target: String,
    /// 0 or 1: HTTP/1.0 or HTTP/1.1.
    minor: u8,
    headers: Vec<(String, Vec<u8>)>,
}

impl Request {
    fn parse(head: &[u8]) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return None,
        }
        Some(Self {
            method: request.method?.to_owned(),
            target: request.path?.to_owned(),
            minor: request.version?,
            headers: owned_headers(request.headers),
        })
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        header(&self.headers, name)
    }

    /// Whether the client wants the connection kept after this request.
    fn keep_alive(&self) -> bool {
        let tokens = tokens(&self.headers, "connection");
        if self.minor == 0 {
            tokens.iter().any(|t| t == "keep-alive")
        } else {
            !tokens.iter().any(|t| t == "close")
        }
    }

    /// The host (with any port) and path (without query) to route by.
    fn route_key(&self) -> (String, String) {
        let host_header = self
            .header("host")
            .map(|h| String::from_utf8_lossy(h).trim().to_owned())
            .unwrap_or_default();
        let target = self.target.as_str();
        let (host, path) = match target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("https://"))
        {
            // Absolute form: the target's authority is the host (RFC 9112 §3.2.2).
            Some(rest) => {
                let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
                let authority = authority.rsplit('@').next().unwrap_or(authority);
                (authority.to_owned(), path)
            }
            None => (host_header, target),
        };
        let path = path.split(['?', '#']).next().unwrap_or(path);
        (host, path.to_owned())
    }
}

/// The 404 page's text.
pub(crate) fn not_found_text(host: &str, path: &str) -> String {
    format!(
        "404 Not Found: no Ingress rule matched host \"{host}\" and path \"{path}\".\n\n\
         This is Kubarium's ingress controller; it serves the Ingresses of class \"kubarium\" \
         (and those that name no class). Add a rule for this host and path to an Ingress, \
         or give one a defaultBackend.\n"
    )
}

struct Connection<C: Client> {
    client: BufReader<C>,
    peer: SocketAddr,
    scheme: Scheme,
}

impl<C: Client> Connection<C> {
    fn new(stream: C, peer: SocketAddr, scheme: Scheme) -> Self {
        Self {
            client: BufReader::with_capacity(16 * 1024, stream),
            peer,
            scheme,
        }
    }

    fn run(mut self, shared: &Shared) {
        loop {
            let head = match read_head(&mut self.client) {
                Ok(Some(head)) => head,
                Ok(None) => return,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.respond(
                        431,
                        "Request Header Fields Too Large",
                        false,
                        "request head too large\n",
                        false,
                    );
                    return;
                }
                Err(_) => return,
            };
            let Some(request) = Request::parse(&head) else {
                self.respond(
                    400,
                    "Bad Request",
                    false,
                    "the request does not parse as HTTP/1.x\n",
                    false,
                );
                return;
            };
            match self.handle(&request, shared) {
                Next::KeepAlive => {}
                Next::Close => return,
                Next::Tunnel(mut upstream) => {
                    // Bytes the client sent after its request head belong to the new protocol.
                    if !self.client.buffer().is_empty()
                        && upstream.write_all(self.client.buffer()).is_err()
                    {
                        return;
                    }
                    self.client.into_inner().tunnel(upstream);
                    return;
                }
            }
        }
    }

    /// Routes and proxies one request.
    fn handle(&mut self, request: &Request, shared: &Shared) -> Next {
        let head_request = request.method == "HEAD";
        let mut keep_alive = request.keep_alive();
        let Some(framing) = request_framing(&request.headers) else {
            return self.respond(
                400,
                "Bad Request",
                head_request,
                "malformed Content-Length or Transfer-Encoding\n",
                false,
            );
        };
        // An answer of our own leaves any body unread, so the connection cannot be reused.
        let own_answer_keeps = keep_alive && framing == Framing::None;
        let (host, path) = request.route_key();
        let Some(target) = shared.current().table.route(&host, &path) else {
            self.log(request, &host, &path, "no rule", 404);
            let host = super::routing::host_without_port(&host);
            return self.respond(
                404,
                "Not Found",
                head_request,
                &not_found_text(host, &path),
                own_answer_keeps,
            );
        };
        let ingress = &target.backend.ingress;
        let endpoints = target.endpoints_in_turn();
        if endpoints.is_empty() {
            self.log(request, &host, &path, ingress, 503);
            return self.respond(
                503,
                "Service Unavailable",
                head_request,
                &format!(
                    "no ready endpoints for {ingress}: the backend Service has no ready pods. \
                     Check its selector and its pods' readiness.\n"
                ),
                own_answer_keeps,
            );
        }
        let upgrade = request.header("upgrade").is_some()
            && tokens(&request.headers, "connection")
                .iter()
                .any(|t| t == "upgrade");
        let upstream_head = self.upstream_head(request, framing, upgrade);
        let expects_continue = request.minor == 1
            && tokens(&request.headers, "expect")
                .iter()
                .any(|t| t == "100-continue");
        // A request that can be sent again if a pooled connection turns out dead after it
        // went out: no body (nothing of the client's consumed) and an idempotent method.
        let replayable = framing == Framing::None
            && matches!(
                request.method.as_str(),
                "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
            );
        let mut pooled_allowed = true;
        let (mut from_upstream, endpoint, mut upstream_reusable) = loop {
            let Some((stream, endpoint, pooled)) =
                self.upstream(shared, &endpoints, pooled_allowed)
            else {
                self.log(request, &host, &path, ingress, 502);
                let list: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
                return self.respond(
                    502,
                    "Bad Gateway",
                    head_request,
                    &format!(
                        "every endpoint of {ingress} refused the connection ({}).\n",
                        list.join(", ")
                    ),
                    own_answer_keeps,
                );
            };
            // Retried at most once, on a fresh connection.
            let retry = pooled;
            pooled_allowed = false;
            if (&stream).write_all(&upstream_head).is_err() {
                if retry {
                    continue; // Nothing of the request reached the endpoint.
                }
                return self.respond(
                    502,
                    "Bad Gateway",
                    head_request,
                    &format!("{endpoint} closed the connection\n"),
                    false,
                );
            }
            if expects_continue
                && framing != Framing::None
                && self
                    .client
                    .get_mut()
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .is_err()
            {
                return Next::Close;
            }
            let mut reusable = !upgrade;
            match copy_body(framing, &mut self.client, &mut &stream) {
                Ok(()) => {}
                Err(CopyError::Read) => return Next::Close,
                // The endpoint stopped reading: it may still have answered (413, say).
                Err(CopyError::Write) => {
                    keep_alive = false;
                    reusable = false;
                }
            }
            let mut from_upstream = BufReader::with_capacity(16 * 1024, stream);
            if retry && replayable {
                // A pooled connection the endpoint closed as the request went out (its idle
                // timeout): EOF or a reset before any byte of an answer.
                let dead = match from_upstream.fill_buf() {
                    Ok(bytes) => bytes.is_empty(),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionReset
                                | io::ErrorKind::ConnectionAborted
                                | io::ErrorKind::BrokenPipe
                        ) =>
                    {
                        true
                    }
                    // Silent past the read timeout: no second wait in `read_head`.
                    Err(_) => {
                        self.log(request, &host, &path, &endpoint.to_string(), 502);
                        return self.respond(
                            502,
                            "Bad Gateway",
                            head_request,
                            &format!(
                                "{endpoint} ({ingress}) closed the connection without an answer\n"
                            ),
                            false,
                        );
                    }
                };
                if dead {
                    continue;
                }
            }
            break (from_upstream, endpoint, reusable);
        };
        let (response, status, response_version) = loop {
            let head = match read_head(&mut from_upstream) {
                Ok(Some(head)) => head,
                _ => {
                    self.log(request, &host, &path, &endpoint.to_string(), 502);
                    return self.respond(
                        502,
                        "Bad Gateway",
                        head_request,
                        &format!(
                            "{endpoint} ({ingress}) closed the connection without an answer\n"
                        ),
                        false,
                    );
                }
            };
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            let (Ok(httparse::Status::Complete(_)), Some(status)) =
                (response.parse(&head), response.code)
            else {
                return self.respond(
                    502,
                    "Bad Gateway",
                    head_request,
                    &format!("{endpoint} ({ingress}) sent an answer that does not parse\n"),
                    false,
                );
            };
            let version = response.version.unwrap_or(1);
            let status_line = format!(
                "HTTP/1.{version} {status} {}\r\n",
                response.reason.unwrap_or("")
            );
            let headers = owned_headers(response.headers);
            if (100..200).contains(&status) && status != 101 {
                // Informational answers go on to HTTP/1.1 clients as they are.
                // Our own `100 Continue` was sent already when the client asked for one.
                if request.minor == 1 && !(status == 100 && expects_continue) {
                    let mut informational = status_line.into_bytes();
                    for (name, value) in &headers {
                        push_header(&mut informational, name, value);
                    }
                    informational.extend_from_slice(b"\r\n");
                    if self.client.get_mut().write_all(&informational).is_err() {
                        return Next::Close;
                    }
                }
                continue;
            }
            break ((status_line, headers), status, version);
        };
        let endpoint_name = endpoint.to_string();
        self.log(request, &host, &path, &endpoint_name, status);
        let (status_line, headers) = response;
        if status == 101 {
            if !upgrade {
                return self.respond(
                    502,
                    "Bad Gateway",
                    head_request,
                    &format!("{endpoint} switched protocols without being asked\n"),
                    false,
                );
            }
            let mut head = status_line.into_bytes();
            for (name, value) in &headers {
                push_header(&mut head, name, value);
            }
            head.extend_from_slice(b"\r\n");
            head.extend_from_slice(from_upstream.buffer());
            if self
                .client
                .get_mut()
                .write_all(&head)
                .and_then(|()| self.client.get_mut().flush())
                .is_err()
            {
                return Next::Close;
            }
            return Next::Tunnel(from_upstream.into_inner());
        }
        let Some(response_framing) = response_framing(head_request, status, &headers) else {
            return self.respond(
                502,
                "Bad Gateway",
                head_request,
                &format!("{endpoint} ({ingress}) sent a malformed Content-Length\n"),
                false,
            );
        };
        let keep_alive = keep_alive && response_framing != Framing::Close;
        let named = tokens(&headers, "connection");
        // The endpoint keeps the connection: HTTP/1.1 unless it says `close`, HTTP/1.0 only
        // when it says `keep-alive`; and the body's end must be known.
        upstream_reusable &= response_framing != Framing::Close
            && if response_version == 0 {
                named.iter().any(|t| t == "keep-alive")
            } else {
                !named.iter().any(|t| t == "close")
            };
        let mut head = status_line.into_bytes();
        for (name, value) in &headers {
            if !is_hop_by_hop(name, &named) {
                push_header(&mut head, name, value);
            }
        }
        if !keep_alive {
            head.extend_from_slice(b"Connection: close\r\n");
        } else if request.minor == 0 {
            head.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        head.extend_from_slice(b"\r\n");
        // A body that arrived with the head (most small answers) goes out in the same write.
        let mut response_framing = response_framing;
        if let Framing::Length(length) = response_framing
            && let Ok(length) = usize::try_from(length)
            && length <= from_upstream.buffer().len()
        {
            head.extend_from_slice(&from_upstream.buffer()[..length]);
            from_upstream.consume(length);
            response_framing = Framing::None;
        }
        if self.client.get_mut().write_all(&head).is_err() {
            return Next::Close;
        }
        let copied = copy_body(response_framing, &mut from_upstream, self.client.get_mut());
        // Bytes beyond the response would be read as the next one's start: not reused.
        if copied.is_ok() && upstream_reusable && from_upstream.buffer().is_empty() {
            shared.pool.put(endpoint, from_upstream.into_inner());
        }
        if copied.is_err() || self.client.get_mut().flush().is_err() || !keep_alive {
            return Next::Close;
        }
        Next::KeepAlive
    }

    /// A connection to the first endpoint in turn that takes one: an idle pooled one when
    /// `pooled` allows and there is one, else a new one (the next endpoint on refusal).
    /// The bool says whether it came from the pool.
    fn upstream(
        &self,
        shared: &Shared,
        endpoints: &[SocketAddr],
        pooled: bool,
    ) -> Option<(TcpStream, SocketAddr, bool)> {
        if pooled && let Some(stream) = shared.pool.take(endpoints[0]) {
            return Some((stream, endpoints[0], true));
        }
        endpoints.iter().find_map(|&endpoint| {
            let stream = TcpStream::connect_timeout(&endpoint, CONNECT_TIMEOUT).ok()?;
            let _ = stream.set_nodelay(true);
            let _ = stream.set_read_timeout(Some(UPSTREAM_READ));
            let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
            Some((stream, endpoint, false))
        })
    }

    /// The request head as sent to the endpoint.
    fn upstream_head(&self, request: &Request, framing: Framing, upgrade: bool) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.{}\r\n",
            request.method, request.target, request.minor
        )
        .into_bytes();
        let named = tokens(&request.headers, "connection");
        let mut forwarded_for: Option<Vec<u8>> = None;
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "x-forwarded-for" => {
                    forwarded_for = Some(match forwarded_for {
                        None => value.clone(),
                        Some(mut earlier) => {
                            earlier.extend_from_slice(b", ");
                            earlier.extend_from_slice(value);
                            earlier
                        }
                    });
                    continue;
                }
                "x-forwarded-proto" | "x-forwarded-host" | "expect" => continue,
                // Chunked wins over a length (RFC 9112 §6.3); both would confuse the endpoint.
                "content-length" if framing == Framing::Chunked => continue,
                "upgrade" if upgrade => {}
                _ if is_hop_by_hop(&lower, &named) => continue,
                _ => {}
            }
            push_header(&mut head, name, value);
        }
        let client_ip = self.peer.ip().to_canonical().to_string();
        let forwarded_for = match forwarded_for {
            Some(mut earlier) => {
                earlier.extend_from_slice(b", ");
                earlier.extend_from_slice(client_ip.as_bytes());
                earlier
            }
            None => client_ip.into_bytes(),
        };
        push_header(&mut head, "X-Forwarded-For", &forwarded_for);
        push_header(
            &mut head,
            "X-Forwarded-Proto",
            self.scheme.name().as_bytes(),
        );
        if let Some(host) = request.header("host") {
            push_header(&mut head, "X-Forwarded-Host", host);
        }
        // Keep-alive upstream: HTTP/1.1's default, asked for explicitly in HTTP/1.0.
        head.extend_from_slice(if upgrade {
            b"Connection: upgrade\r\n\r\n".as_slice()
        } else if request.minor == 0 {
            b"Connection: keep-alive\r\n\r\n".as_slice()
        } else {
            b"\r\n".as_slice()
        });
        head
    }

    /// Sends an answer of our own.
    fn respond(
        &mut self,
        status: u16,
        reason: &str,
        head_request: bool,
        text: &str,
        keep_alive: bool,
    ) -> Next {
        let mut answer = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nCache-Control: no-store\r\n{}\r\n",
            text.len(),
            if keep_alive {
                ""
            } else {
                "Connection: close\r\n"
            }
        )
        .into_bytes();
        if !head_request {
            answer.extend_from_slice(text.as_bytes());
        }
        let client = self.client.get_mut();
        if client
            .write_all(&answer)
            .and_then(|()| client.flush())
            .is_err()
            || !keep_alive
        {
            return Next::Close;
        }
        Next::KeepAlive
    }

    /// One line per request on stderr (`docker logs` shows them).
    /// Formatted first and written whole, in one `write` to a duplicate of stderr:
    /// `eprintln!` would make a system call per piece of the line, each under stderr's lock,
    /// which every connection thread contended for. (One `write` of a line is not interleaved
    /// with others' on the pipe `docker logs` reads.)
    fn log(&self, request: &Request, host: &str, path: &str, to: &str, status: u16) {
        let line = format!(
            "ingress: {} {} {} {}{} -> {to} {status}\n",
            self.peer.ip().to_canonical(),
            self.scheme.name(),
            request.method,
            host,
            path
        );
        static STDERR: OnceLock<Option<std::fs::File>> = OnceLock::new();
        let stderr = STDERR.get_or_init(|| {
            io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(std::fs::File::from)
        });
        let _ = match stderr {
            Some(file) => (&*file).write_all(line.as_bytes()),
            None => io::stderr().write_all(line.as_bytes()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_come_from_host_or_absolute_targets() {
        let request =
            Request::parse(b"GET /a/b?x=1 HTTP/1.1\r\nHost: Web.test:8080\r\n\r\n").unwrap();
        assert_eq!(
            request.route_key(),
            ("Web.test:8080".to_owned(), "/a/b".to_owned())
        );
        let request =
            Request::parse(b"GET http://other.test/p?q HTTP/1.1\r\nHost: web.test\r\n\r\n")
                .unwrap();
        assert_eq!(
            request.route_key(),
            ("other.test".to_owned(), "/p".to_owned())
        );
        let request = Request::parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(request.route_key(), (String::new(), "/".to_owned()));
        assert!(!request.keep_alive());
        let request = Request::parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(request.keep_alive());
        let request = Request::parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!request.keep_alive());
    }
}
