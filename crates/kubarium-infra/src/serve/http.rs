//! Just enough HTTP/1.1 for the demo server: a request head parsed from text, a body
//! skipped by its length, and responses written with a length and the keep-alive decision.

use std::io::{self, BufRead, Read, Write};

/// The largest request head accepted.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// The largest request body skipped (the server reads no bodies).
const MAX_BODY: u64 = 1024 * 1024;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The request target as sent, query included.
    pub(crate) target: String,
    pub(crate) version: Version,
    pub(crate) headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    Http10,
    Http11,
}

impl Version {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Why a request could not be read; each maps to the status the client gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// 400: not an HTTP/1.x request.
    BadRequest(&'static str),
    /// 431: the head is larger than [`MAX_HEAD`].
    HeadTooLarge,
    /// 413: a body larger than the server skips.
    BodyTooLarge,
    /// 505: HTTP/2 or later over plain text.
    Version,
}

impl Malformed {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Malformed::BadRequest(_) => 400,
            Malformed::HeadTooLarge => 431,
            Malformed::BodyTooLarge => 413,
            Malformed::Version => 505,
        }
    }

    pub(crate) fn message(&self) -> &'static str {
        match self {
            Malformed::BadRequest(why) => why,
            Malformed::HeadTooLarge => "request head too large",
            Malformed::BodyTooLarge => "request body too large",
            Malformed::Version => "only HTTP/1.0 and HTTP/1.1 are served",
        }
    }
}

impl Request {
    /// Parses a request head: the request line and header lines, CRLF or LF separated,
    /// without the blank line that ends it.
    pub(crate) fn parse(head: &str) -> Result<Self, Malformed> {
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let line = lines.next().unwrap_or_default();
        let mut parts = line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Malformed::BadRequest("malformed request line"));
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(Malformed::BadRequest("malformed method"));
        }
        if !target.starts_with('/') && target != "*" {
            return Err(Malformed::BadRequest("the target must be a path"));
        }
        let version = match version {
            "HTTP/1.1" => Version::Http11,
            "HTTP/1.0" => Version::Http10,
            v if v.starts_with("HTTP/") => return Err(Malformed::Version),
            _ => return Err(Malformed::BadRequest("malformed HTTP version")),
        };
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(Malformed::BadRequest("malformed header line"));
            };
            if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace()) {
                return Err(Malformed::BadRequest("malformed header name"));
            }
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        Ok(Self {
            method: method.to_owned(),
            target: target.to_owned(),
            version,
            headers,
        })
    }

    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path, without the query.
    pub(crate) fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or_default()
    }

    /// Whether the client wants the connection kept after the response.
    pub(crate) fn keep_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        let has = |token: &str| {
            connection
                .as_deref()
                .is_some_and(|c| c.split(',').any(|t| t.trim() == token))
        };
        match self.version {
            Version::Http11 => !has("close"),
            Version::Http10 => has("keep-alive"),
        }
    }

    /// The body's length, which the server skips; chunked bodies are refused.
    pub(crate) fn body_length(&self) -> Result<u64, Malformed> {
        if self.header("transfer-encoding").is_some() {
            return Err(Malformed::BadRequest(
                "chunked request bodies are not accepted",
            ));
        }
        let length = match self.header("content-length") {
            None => 0,
            Some(v) => v
                .parse()
                .map_err(|_| Malformed::BadRequest("malformed Content-Length"))?,
        };
        if length > MAX_BODY {
            return Err(Malformed::BodyTooLarge);
        }
        Ok(length)
    }
}

/// Reads one request head from `reader`: `Ok(None)` when the peer closed the connection
/// before sending anything.
pub(crate) fn read_head(
    reader: &mut impl BufRead,
) -> io::Result<Option<Result<String, Malformed>>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let read = reader
            .by_ref()
            .take((MAX_HEAD + 1 - head.len()) as u64)
            .read_until(b'\n', &mut head)?;
        if read == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if head.len() > MAX_HEAD {
            return Ok(Some(Err(Malformed::HeadTooLarge)));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                head.clear(); // Blank lines before a request line are allowed (RFC 9112 §2.2).
                continue;
            }
            head.truncate(before);
            return Ok(Some(
                String::from_utf8(head)
                    .map_err(|_| Malformed::BadRequest("request head is not UTF-8")),
            ));
        }
    }
}

/// Discards `length` body bytes.
pub(crate) fn skip_body(reader: &mut impl Read, length: u64) -> io::Result<()> {
    let skipped = io::copy(&mut reader.take(length), &mut io::sink())?;
    if skipped < length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// A response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
    pub(crate) extra_headers: Vec<(&'static str, String)>,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            extra_headers: Vec::new(),
        }
    }

    pub(crate) fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Self::new(status, "text/plain; charset=utf-8", body)
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra_headers.push((name, value.into()));
        self
    }

    /// Writes the response; `head_only` for HEAD requests, `keep_alive` decides the
    /// `Connection` header.
    pub(crate) fn write_to(
        &self,
        out: &mut impl Write,
        version: Version,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        let mut head = format!(
            "{} {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            version.as_str(),
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.extra_headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(match (keep_alive, version) {
            (true, Version::Http10) => "Connection: keep-alive\r\n\r\n",
            (true, Version::Http11) => "\r\n",
            (false, _) => "Connection: close\r\n\r\n",
        });
        out.write_all(head.as_bytes())?;
        if !head_only {
            out.write_all(&self.body)?;
        }
        out.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_parses() {
        let request =
            Request::parse("GET /api?x=1 HTTP/1.1\r\nHost: web\r\nUser-Agent:  curl/8 \r\n")
                .unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/api?x=1");
        assert_eq!(request.path(), "/api");
        assert_eq!(request.version, Version::Http11);
        assert_eq!(request.header("user-agent"), Some("curl/8"));
        assert_eq!(request.header("HOST"), Some("web"));
        assert!(request.keep_alive());
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        let parse = |head: &str| Request::parse(head).unwrap().keep_alive();
        assert!(!parse("GET / HTTP/1.1\nConnection: close"));
        assert!(!parse("GET / HTTP/1.1\nConnection: Upgrade, Close"));
        assert!(!parse("GET / HTTP/1.0"));
        assert!(parse("GET / HTTP/1.0\nConnection: keep-alive"));
    }

    #[test]
    fn malformed_heads_are_refused_with_their_status() {
        let status = |head: &str| Request::parse(head).unwrap_err().status();
        assert_eq!(status(""), 400);
        assert_eq!(status("GET /"), 400);
        assert_eq!(status("GET / HTTP/1.1 extra"), 400);
        assert_eq!(status("get / HTTP/1.1"), 400);
        assert_eq!(status("GET http//x HTTP/1.1"), 400);
        assert_eq!(status("GET / HTTP/2.0"), 505);
        assert_eq!(status("GET / FTP/1.0"), 400);
        assert_eq!(status("GET / HTTP/1.1\nno colon here"), 400);
        assert_eq!(status("GET / HTTP/1.1\nBad Name: x"), 400);
    }

    #[test]
    fn bodies_are_measured_and_bounded() {
        let length = |head: &str| Request::parse(head).unwrap().body_length();
        assert_eq!(length("POST /x HTTP/1.1"), Ok(0));
        assert_eq!(length("POST /x HTTP/1.1\nContent-Length: 12"), Ok(12));
        assert_eq!(
            length("POST /x HTTP/1.1\nContent-Length: 99999999"),
            Err(Malformed::BodyTooLarge)
        );
        assert!(length("POST /x HTTP/1.1\nContent-Length: twelve").is_err());
        assert!(length("POST /x HTTP/1.1\nTransfer-Encoding: chunked").is_err());
    }

    #[test]
    fn heads_are_read_off_a_stream_one_request_at_a_time() {
        let mut input: &[u8] = b"\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
        let first = read_head(&mut input).unwrap().unwrap().unwrap();
        assert_eq!(first, "GET /a HTTP/1.1\r\nHost: x\r\n");
        let second = read_head(&mut input).unwrap().unwrap().unwrap();
        assert_eq!(second, "GET /b HTTP/1.1\r\n");
        assert!(read_head(&mut input).unwrap().is_none());
    }

    #[test]
    fn an_oversized_head_is_refused() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let mut input = big.as_bytes();
        assert_eq!(
            read_head(&mut input).unwrap().unwrap(),
            Err(Malformed::HeadTooLarge)
        );
    }

    #[test]
    fn responses_carry_length_and_connection() {
        let mut out = Vec::new();
        Response::text(200, "ok")
            .with_header("Allow", "GET")
            .write_to(&mut out, Version::Http11, false, false)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\
             Cache-Control: no-store\r\nAllow: GET\r\nConnection: close\r\n\r\nok\n"
        );
        let mut head_only = Vec::new();
        Response::text(200, "ok")
            .write_to(&mut head_only, Version::Http10, true, true)
            .unwrap();
        let text = String::from_utf8(head_only).unwrap();
        assert!(text.ends_with("Connection: keep-alive\r\n\r\n"), "{text}");
    }
}
