//! HTTP/1.x message plumbing for the proxy: reading heads, header tokens, body framing
//! (RFC 9112 §6) and copying bodies with their framing intact, as they arrive.

use std::io::{self, BufRead, Read, Write};

/// The largest request or response head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
pub(crate) const MAX_HEADERS: usize = 128;

pub(crate) fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect()
}

pub(crate) fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// The comma-separated, lower-cased tokens of every `name` header.
pub(crate) fn tokens(headers: &[(String, Vec<u8>)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the sender closes (responses only).
    Close,
}

/// A request's body framing (RFC 9112 §6.3), or `None` when it is malformed.
pub(crate) fn request_framing(headers: &[(String, Vec<u8>)]) -> Option<Framing> {
    let codings = tokens(headers, "transfer-encoding");
    if !codings.is_empty() {
        return (codings.last().map(String::as_str) == Some("chunked")).then_some(Framing::Chunked);
    }
    content_length(headers).map(|length| length.map_or(Framing::None, Framing::Length))
}

/// A response's body framing, or `None` when it is malformed.
pub(crate) fn response_framing(
    head_request: bool,
    status: u16,
    headers: &[(String, Vec<u8>)],
) -> Option<Framing> {
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Some(Framing::None);
    }
    let codings = tokens(headers, "transfer-encoding");
    if !codings.is_empty() {
        return Some(if codings.last().map(String::as_str) == Some("chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    content_length(headers).map(|length| length.map_or(Framing::Close, Framing::Length))
}

/// `Some(None)`: no Content-Length; `None`: a malformed or contradictory one.
fn content_length(headers: &[(String, Vec<u8>)]) -> Option<Option<u64>> {
    let mut found: Option<u64> = None;
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for part in String::from_utf8_lossy(value).split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let length: u64 = part.parse().ok()?;
            if found.is_some_and(|f| f != length) {
                return None;
            }
            found = Some(length);
        }
    }
    Some(found)
}

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1), besides those the
/// `Connection` header names.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];

pub(crate) fn is_hop_by_hop(name: &str, named_by_connection: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    HOP_BY_HOP.contains(&lower.as_str()) || named_by_connection.contains(&lower)
}

/// Why a body copy stopped early.
pub(crate) enum CopyError {
    /// The side being read from failed or ended too soon.
    Read,
    /// The side being written to failed.
    Write,
}

fn read_err<T>(result: io::Result<T>) -> Result<T, CopyError> {
    result.map_err(|_| CopyError::Read)
}

fn write_err<T>(result: io::Result<T>) -> Result<T, CopyError> {
    result.map_err(|_| CopyError::Write)
}

pub(crate) fn copy_body(
    framing: Framing,
    from: &mut impl BufRead,
    to: &mut impl Write,
) -> Result<(), CopyError> {
    match framing {
        Framing::None => Ok(()),
        Framing::Length(n) => copy_exact(from, to, n),
        Framing::Chunked => copy_chunked(from, to),
        Framing::Close => loop {
            let chunk = read_err(from.fill_buf())?;
            if chunk.is_empty() {
                return write_err(to.flush());
            }
            let n = chunk.len();
            write_err(to.write_all(chunk))?;
            from.consume(n);
        },
    }
}

fn copy_exact(
    from: &mut impl BufRead,
    to: &mut impl Write,
    mut left: u64,
) -> Result<(), CopyError> {
    while left > 0 {
        let chunk = read_err(from.fill_buf())?;
        if chunk.is_empty() {
            return Err(CopyError::Read);
        }
        let n = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        write_err(to.write_all(&chunk[..n]))?;
        from.consume(n);
        left -= n as u64;
    }
    write_err(to.flush())
}

/// Copies a chunked body as it arrives, chunk lines and trailers unchanged.
pub(crate) fn copy_chunked(from: &mut impl BufRead, to: &mut impl Write) -> Result<(), CopyError> {
    loop {
        let line = read_line(from)?;
        let digits = line
            .split(|&b| b == b';' || b == b'\r' || b == b'\n' || b == b' ' || b == b'\t')
            .next()
            .unwrap_or_default();
        let size = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty())
            .and_then(|d| u64::from_str_radix(d, 16).ok())
            .ok_or(CopyError::Read)?;
        write_err(to.write_all(&line))?;
        if size == 0 {
            // Trailer fields, then the empty line.
            loop {
                let line = read_line(from)?;
                write_err(to.write_all(&line))?;
                if line == b"\r\n" || line == b"\n" {
                    return write_err(to.flush());
                }
            }
        }
        copy_exact(from, to, size)?;
        let end = read_line(from)?;
        if end != b"\r\n" && end != b"\n" {
            return Err(CopyError::Read);
        }
        write_err(to.write_all(&end))?;
        write_err(to.flush())?;
    }
}

/// One line including its `\n`, at most 8 KiB.
fn read_line(from: &mut impl BufRead) -> Result<Vec<u8>, CopyError> {
    let mut line = Vec::new();
    read_err((&mut *from).take(8 * 1024).read_until(b'\n', &mut line))?;
    if line.last() != Some(&b'\n') {
        return Err(CopyError::Read);
    }
    Ok(line)
}

/// Reads a message head up to and including its empty line. `Ok(None)`: the peer closed
/// (or went idle) before sending a byte.
pub(crate) fn read_head(from: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head: Vec<u8> = Vec::new();
    loop {
        let available = match from.fill_buf() {
            Ok(available) => available,
            Err(e)
                if head.is_empty()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return if head.iter().all(|b| b.is_ascii_whitespace()) {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        let start = head.len().saturating_sub(3);
        let before = head.len();
        head.extend_from_slice(available);
        let end = find_head_end(&head[start..]).map(|e| start + e);
        let used = match end {
            Some(end) => end - before,
            None => available.len(),
        };
        from.consume(used);
        if let Some(end) = end {
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
    }
}

/// The index just past the first `\r\n\r\n` (or bare `\n\n`).
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find_map(|i| {
        if bytes[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if bytes[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

pub(crate) fn push_header(head: &mut Vec<u8>, name: &str, value: &[u8]) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use super::*;

    fn headers(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn request_framing_follows_rfc_9112() {
        assert_eq!(request_framing(&headers(&[])), Some(Framing::None));
        assert_eq!(
            request_framing(&headers(&[("Content-Length", "5")])),
            Some(Framing::Length(5))
        );
        assert_eq!(
            request_framing(&headers(&[("content-length", "5, 5")])),
            Some(Framing::Length(5))
        );
        assert_eq!(
            request_framing(&headers(&[
                ("Content-Length", "5"),
                ("Content-Length", "6")
            ])),
            None
        );
        assert_eq!(request_framing(&headers(&[("Content-Length", "-1")])), None);
        assert_eq!(
            request_framing(&headers(&[
                ("Transfer-Encoding", "gzip, Chunked"),
                ("Content-Length", "5")
            ])),
            Some(Framing::Chunked)
        );
        assert_eq!(
            request_framing(&headers(&[("Transfer-Encoding", "gzip")])),
            None
        );
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        let none: Vec<(String, Vec<u8>)> = Vec::new();
        assert_eq!(response_framing(false, 200, &none), Some(Framing::Close));
        assert_eq!(
            response_framing(true, 200, &headers(&[("Content-Length", "9")])),
            Some(Framing::None)
        );
        assert_eq!(response_framing(false, 204, &none), Some(Framing::None));
        assert_eq!(
            response_framing(false, 304, &headers(&[("Content-Length", "9")])),
            Some(Framing::None)
        );
        assert_eq!(
            response_framing(false, 200, &headers(&[("Transfer-Encoding", "gzip")])),
            Some(Framing::Close)
        );
    }

    #[test]
    fn chunked_bodies_are_copied_unchanged_and_end_at_their_last_chunk() {
        let body = b"4;ext=1\r\nWiki\r\n0\r\nTrailer: x\r\n\r\nNEXT REQUEST";
        let mut from = BufReader::new(&body[..]);
        let mut to = Vec::new();
        assert!(copy_chunked(&mut from, &mut to).is_ok());
        assert_eq!(to, &body[..body.len() - 12]);
        let mut rest = String::new();
        from.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "NEXT REQUEST");
        let mut to = Vec::new();
        assert!(copy_chunked(&mut BufReader::new(&b"zz\r\n"[..]), &mut to).is_err());
        assert!(copy_chunked(&mut BufReader::new(&b"5\r\nab"[..]), &mut to).is_err());
    }

    #[test]
    fn heads_end_at_the_empty_line() {
        let mut from = BufReader::with_capacity(4, &b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"[..]);
        let head = read_head(&mut from).unwrap().unwrap();
        assert_eq!(head, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        let mut rest = Vec::new();
        from.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"body");
        assert!(read_head(&mut BufReader::new(&b""[..])).unwrap().is_none());
        assert!(read_head(&mut BufReader::new(&b"GET /"[..])).is_err());
    }
}
