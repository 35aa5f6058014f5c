//! A one-request HTTP/1.1 client for `wget` and `hit`: `GET` on a new connection with
//! `Connection: close`, the whole answer read (Content-Length, chunked or until close) and
//! returned with its status line. Names resolve through the libc resolver (static glibc has
//! its `files` and `dns` sources built in), so `http://web/name` finds a Service the way a
//! pod's other programs do; `localhost` is loopback even where the image has no /etc/hosts.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long connecting and each read or write may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) io: Duration,
}

impl Timeouts {
    /// For one request a person waits for (`wget`).
    pub(crate) const PATIENT: Self = Self {
        connect: Duration::from_secs(5),
        io: Duration::from_secs(10),
    };
}
/// The largest answer read (head and body); more is an error rather than a full memory.
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// The host as written (brackets kept for IPv6), for the `Host` header.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The path and query, `/` when the URL has none.
    pub(crate) path: String,
}

impl Url {
    /// Parses `http://host[:port][/path]`; other schemes are refused with a reason.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "{scheme}:// is not supported, only http:// URLs ({url:?})"
                ));
            }
            // busybox wget accepts a bare host too.
            None => url,
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_owned()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("{port:?} is not a port number in {url:?}"))?;
                (host, port)
            }
            _ => (authority, 80),
        };
        if host.is_empty() || host.contains(['@', ' ']) {
            return Err(format!("{url:?} names no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// The `Host` header's value: the port only when it is not 80.
    fn authority(&self) -> String {
        if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The addresses to try, in the resolver's order.
    pub(crate) fn addresses(&self) -> io::Result<Vec<SocketAddr>> {
        if self.host.eq_ignore_ascii_case("localhost") {
            return Ok(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))]);
        }
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> = (host, self.port)
            .to_socket_addrs()
            .map_err(|error| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("bad address '{}': {error}", self.host),
                )
            })?
            .collect();
        if found.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("bad address '{}'", self.host),
            ));
        }
        Ok(found)
    }
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// `HTTP/1.1 503 Service Unavailable`, as the server sent it.
    pub(crate) status_line: String,
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// `GET url` on a new connection.
pub(crate) fn get(url: &Url, timeouts: Timeouts) -> io::Result<Answer> {
    let mut last = None;
    for address in url.addresses()? {
        match TcpStream::connect_timeout(&address, timeouts.connect) {
            Ok(stream) => return exchange(stream, url, timeouts.io),
            Err(error) => last = Some(error),
        }
    }
    let error = last.unwrap_or_else(|| io::ErrorKind::NotFound.into());
    Err(io::Error::new(
        error.kind(),
        format!(
            "can't connect to remote host ({}): {error}",
            url.authority()
        ),
    ))
}

fn exchange(mut stream: TcpStream, url: &Url, timeout: Duration) -> io::Result<Answer> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kubarium-infra\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        url.authority()
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.take(MAX_ANSWER + 1).read_to_end(&mut raw)?;
    if raw.len() as u64 > MAX_ANSWER {
        return Err(malformed("the answer is larger than 16 MiB"));
    }
    parse(&raw)
}

fn malformed(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// A whole response as read until the server closed the connection; interim (1xx) answers
/// are skipped.
pub(crate) fn parse(mut raw: &[u8]) -> io::Result<Answer> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(raw) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if raw.is_empty() => {
                return Err(malformed(
                    "the server closed the connection without answering",
                ));
            }
            Ok(httparse::Status::Partial) => {
                return Err(malformed("the server closed the connection mid-answer"));
            }
            Err(error) => return Err(malformed(&format!("malformed answer: {error}"))),
        };
        let status = response.code.unwrap_or_default();
        if (100..200).contains(&status) {
            raw = &raw[head_len..];
            continue;
        }
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
        };
        let status_line = format!(
            "HTTP/1.{} {status} {}",
            response.version.unwrap_or(1),
            response.reason.unwrap_or_default()
        )
        .trim_end()
        .to_owned();
        let rest = &raw[head_len..];
        let body = if header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            dechunk(rest)?
        } else if let Some(length) = header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| malformed("malformed Content-Length"))?;
            if rest.len() < length {
                return Err(malformed("the server closed the connection mid-body"));
            }
            rest[..length].to_vec()
        } else {
            rest.to_vec()
        };
        return Ok(Answer {
            status_line,
            status,
            location: header("location"),
            body,
        });
    }
}

/// A chunked body's data (trailers ignored).
fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| malformed("a chunk's size line is cut short"))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| malformed("malformed chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(malformed("the server closed the connection mid-chunk"));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server on a free loopback port answering each connection with the next of
    /// `answers`, then closing it; returns its port.
    pub(crate) fn serve(answers: Vec<&'static str>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        port
    }

    #[test]
    fn urls_parse_with_and_without_scheme_port_and_path() {
        let url = Url::parse("http://localhost:8080/name").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("localhost", 8080, "/name")
        );
        let url = Url::parse("web").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("web", 80, "/")
        );
        let url = Url::parse("http://web?x=1").unwrap();
        assert_eq!(url.path, "/?x=1");
        let url = Url::parse("http://[::1]:81/a").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("[::1]", 81));
        assert!(
            Url::parse("https://web/")
                .unwrap_err()
                .contains("only http://")
        );
        assert!(
            Url::parse("http://web:x/")
                .unwrap_err()
                .contains("not a port")
        );
        assert!(Url::parse("http:///x").is_err());
    }

    #[test]
    fn answers_are_read_by_their_framing() {
        let answer = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"abc"[..]));
        assert_eq!(answer.status_line, "HTTP/1.1 200 OK");
        let chunked = parse(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.body, b"abcde");
        let until_close = parse(b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy\n").unwrap();
        assert_eq!(until_close.status_line, "HTTP/1.0 503 Service Unavailable");
        assert_eq!(until_close.body, b"busy\n");
        assert!(parse(b"").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab").is_err());
        assert!(parse(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn a_get_goes_over_a_new_connection() {
        let port = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nLocation: /x\r\n\r\nhello\n",
        ]);
        let url = Url::parse(&format!("http://localhost:{port}/name")).unwrap();
        let answer = get(&url, Timeouts::PATIENT).unwrap();
        assert_eq!(answer.body, b"hello\n");
        assert_eq!(answer.location.as_deref(), Some("/x"));
    }

    #[test]
    fn nothing_listening_is_an_error_naming_the_host() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let error = get(&url, Timeouts::PATIENT).unwrap_err().to_string();
        assert!(error.contains("can't connect to remote host"), "{error}");
    }
}
