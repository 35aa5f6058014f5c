//! `load <http://host:port/path> <connections> <seconds> [--new-connection]`: an HTTP/1.1 load
//! generator for the Service benchmarks (a Service against direct pod access). Each
//! connection sends GETs back to back on one keep-alive connection (or, with
//! `--new-connection`, one connection per request, as a client that must notice an endpoint
//! going away) until the time is up, then prints one JSON line:
//!
//! ```text
//! {"requests":51234,"errors":0,"seconds":5.001,"rps":10244.7,"p50_us":180,"p99_us":950,"max_us":4210}
//! ```
//!
//! `requests` counts answers with a 2xx or 3xx status, and the latencies are theirs; `errors`
//! counts everything else (refused or reset connections, timeouts, malformed answers, 4xx and
//! 5xx). Responses are read by their framing (Content-Length, chunked or until close), so
//! keep-alive works with any server. The host is an IP address or a name the libc resolver
//! knows.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long one connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one read or write may take: the run ends at most this long after its time.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// A pause after a failure, so a refused port is not hammered in a tight loop.
const BACKOFF: Duration = Duration::from_millis(10);
/// The read buffer; a response head must fit in it.
const BUFFER: usize = 64 * 1024;

pub(crate) const USAGE: &str =
    "kubarium-infra load <http://host:port/path> <connections> <seconds> [--new-connection]";

/// Parses the arguments after `load`, runs, prints the JSON line.
pub(crate) fn run(args: &[String]) -> io::Result<()> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let new_connection = args.iter().any(|arg| arg == "--new-connection");
    let positional: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    if let Some(flag) = args
        .iter()
        .find(|arg| arg.starts_with("--") && *arg != "--new-connection")
    {
        return Err(invalid(format!("unknown option {flag}; usage: {USAGE}")));
    }
    let [url, connections, seconds] = positional[..] else {
        return Err(invalid(format!("usage: {USAGE}")));
    };
    let target = Target::parse(url).map_err(invalid)?;
    let connections: usize = match connections.parse() {
        Ok(n) if n > 0 => n,
        _ => {
            return Err(invalid(format!(
                "connections must be a positive number, not {connections:?}"
            )));
        }
    };
    let seconds: f64 = match seconds.parse() {
        Ok(s) if s > 0.0 && s <= 3600.0 => s,
        _ => {
            return Err(invalid(format!(
                "seconds must be a number from 0 to 3600, not {seconds:?}"
            )));
        }
    };
    let mut report = measure(
        &target,
        connections,
        Duration::from_secs_f64(seconds),
        new_connection,
    );
    println!("{}", report.json());
    Ok(())
}

/// Where the requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    address: SocketAddr,
    /// The `Host` header: the URL's authority as written.
    host: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("only http:// URLs are supported, not {url:?}"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let address = with_port
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve {authority:?}: {error}"))?
            .next()
            .ok_or_else(|| format!("{authority:?} resolves to no address"))?;
        Ok(Self {
            address,
            host: authority.to_string(),
            path: path.to_string(),
        })
    }
}

#[derive(Debug, Default)]
struct Report {
    requests: u64,
    errors: u64,
    seconds: f64,
    /// Of the successful requests, in microseconds.
    latencies: Vec<u32>,
}

impl Report {
    fn json(&mut self) -> String {
        self.latencies.sort_unstable();
        let rps = if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        };
        format!(
            "{{\"requests\":{},\"errors\":{},\"seconds\":{:.3},\"rps\":{rps:.1},\"p50_us\":{},\"p99_us\":{},\"max_us\":{}}}",
            self.requests,
            self.errors,
            self.seconds,
            percentile(&self.latencies, 50),
            percentile(&self.latencies, 99),
            self.latencies.last().copied().unwrap_or(0),
        )
    }
}

/// Nearest rank of sorted values; 0 when there are none.
fn percentile(sorted: &[u32], percent: usize) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

fn measure(
    target: &Target,
    connections: usize,
    duration: Duration,
    new_connection: bool,
) -> Report {
    let started = Instant::now();
    let deadline = started + duration;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kubarium-infra-load\r\n{}\r\n",
        target.path,
        target.host,
        if new_connection {
            "Connection: close\r\n"
        } else {
            ""
        }
    );
    let mut report = Report::default();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                scope.spawn(|| worker(target.address, request.as_bytes(), deadline, new_connection))
            })
            .collect();
        for worker in workers {
            if let Ok(part) = worker.join() {
                report.requests += part.requests;
                report.errors += part.errors;
                report.latencies.extend(part.latencies);
            }
        }
    });
    report.seconds = started.elapsed().as_secs_f64();
    report
}

fn worker(address: SocketAddr, request: &[u8], deadline: Instant, new_connection: bool) -> Report {
    let mut report = Report::default();
    let mut connection: Option<Connection<TcpStream>> = None;
    while Instant::now() < deadline {
        let start = Instant::now();
        let outcome = match connection.as_mut() {
            Some(open) => open.get(request),
            None => open(address).and_then(|open| {
                let open = connection.insert(open);
                open.get(request)
            }),
        };
        match outcome {
            Ok(answer) => {
                if (200..400).contains(&answer.status) {
                    report.requests += 1;
                    let micros = start.elapsed().as_micros();
                    report
                        .latencies
                        .push(u32::try_from(micros).unwrap_or(u32::MAX));
                } else {
                    report.errors += 1;
                }
                if !answer.keep_alive || new_connection {
                    connection = None;
                }
            }
            Err(_) => {
                report.errors += 1;
                connection = None;
                std::thread::sleep(BACKOFF);
            }
        }
    }
    report
}

fn open(address: SocketAddr) -> io::Result<Connection<TcpStream>> {
    let stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(Connection::new(stream))
}

/// What a response said, once its body is read.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    keep_alive: bool,
}

/// One HTTP/1.x client connection with its read buffer.
struct Connection<S> {
    stream: S,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

fn malformed(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

impl<S: Read + Write> Connection<S> {
    fn new(stream: S) -> Self {
        Self {
            stream,
            buffer: vec![0; BUFFER],
            start: 0,
            end: 0,
        }
    }

    /// Sends `request` and reads the whole response.
    fn get(&mut self, request: &[u8]) -> io::Result<Answer> {
        self.stream.write_all(request)?;
        self.response()
    }

    fn response(&mut self) -> io::Result<Answer> {
        loop {
            let head = self.head()?;
            if (100..200).contains(&head.status) && head.status != 101 {
                continue; // interim (100 Continue): the real answer follows
            }
            let keep_alive = match head.body {
                Body::None => head.keep_alive,
                Body::Length(length) => {
                    self.skip(length)?;
                    head.keep_alive
                }
                Body::Chunked => {
                    self.skip_chunks()?;
                    head.keep_alive
                }
                Body::UntilClose => {
                    while self.fill()? > 0 {
                        self.start = self.end;
                    }
                    false
                }
            };
            return Ok(Answer {
                status: head.status,
                keep_alive,
            });
        }
    }

    /// Reads more into the buffer (moving what is unread to its front first); 0 at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buffer.len() {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buffer.len() {
            return Err(malformed("response line or head too long"));
        }
        loop {
            match self.stream.read(&mut self.buffer[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn fill_or_eof(&mut self) -> io::Result<()> {
        if self.fill()? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection mid-response",
            ));
        }
        Ok(())
    }

    /// Reads up to and including `\r\n` (or `\n`); returns the line without it.
    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(at) = self.buffer[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let line = &self.buffer[self.start..self.start + at];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let text = String::from_utf8_lossy(line).into_owned();
                self.start += at + 1;
                return Ok(text);
            }
            self.fill_or_eof()?;
        }
    }

    fn head(&mut self) -> io::Result<Head> {
        let status_line = self.line()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status: u16 = parts
            .next()
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| malformed("bad status line"))?;
        let http11 = match version {
            "HTTP/1.1" => true,
            "HTTP/1.0" => false,
            _ => return Err(malformed("not an HTTP/1.x response")),
        };
        let mut length = None;
        let mut chunked = false;
        let mut connection_close = false;
        let mut connection_keep_alive = false;
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(malformed("bad header line"));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| malformed("bad Content-Length"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value
                    .rsplit(',')
                    .next()
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',') {
                    let token = token.trim();
                    connection_close |= token.eq_ignore_ascii_case("close");
                    connection_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
                }
            }
        }
        let body = if (100..200).contains(&status) || status == 204 || status == 304 {
            Body::None
        } else if chunked {
            Body::Chunked
        } else if let Some(length) = length {
            Body::Length(length)
        } else {
            Body::UntilClose
        };
        Ok(Head {
            status,
            keep_alive: !connection_close && (http11 || connection_keep_alive),
            body,
        })
    }

    fn skip(&mut self, mut length: u64) -> io::Result<()> {
        loop {
            let available = (self.end - self.start) as u64;
            let taken = available.min(length);
            self.start += usize::try_from(taken).unwrap_or(0);
            length -= taken;
            if length == 0 {
                return Ok(());
            }
            self.fill_or_eof()?;
        }
    }

    fn skip_chunks(&mut self) -> io::Result<()> {
        loop {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| malformed("bad chunk size"))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !self.line()?.is_empty() {}
                return Ok(());
            }
            self.skip(size)?;
            if !self.line()?.is_empty() {
                return Err(malformed("chunk not followed by CRLF"));
            }
        }
    }
}

struct Head {
    status: u16,
    keep_alive: bool,
    body: Body,
}

enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    /// A fake stream: reads come from `input`, writes are kept.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Three bytes at a time, so every parser path sees split input.
            let n = buf.len().min(3);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn connection(input: &str) -> Connection<Script> {
        Connection::new(Script {
            input: io::Cursor::new(input.as_bytes().to_vec()),
            written: Vec::new(),
        })
    }

    #[test]
    fn responses_are_read_by_their_framing() {
        let mut connection = connection(concat!(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n",
            "4;ext=1\r\nnot \r\n5\r\nready\r\n0\r\nTrailer: x\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.0 200 OK\r\n\r\nuntil the end",
        ));
        let answers: Vec<_> = (0..6)
            .map(|_| connection.get(b"GET / HTTP/1.1\r\n\r\n").unwrap())
            .collect();
        let summary: Vec<(u16, bool)> = answers.iter().map(|a| (a.status, a.keep_alive)).collect();
        assert_eq!(
            summary,
            [
                (200, true),
                (503, true),
                (204, true),
                (200, false),
                (200, true),
                (200, false)
            ]
        );
        assert_eq!(connection.stream.written.len(), 6 * 18);
        assert!(
            connection.get(b"GET / HTTP/1.1\r\n\r\n").is_err(),
            "nothing more to read"
        );
    }

    #[test]
    fn truncated_and_malformed_responses_are_errors() {
        for input in [
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            "",
        ] {
            assert!(connection(input).get(b"GET /").is_err(), "{input:?}");
        }
    }

    #[test]
    fn targets_parse_with_and_without_port_and_path() {
        let target = Target::parse("http://127.0.0.1:8080/api?x=1").unwrap();
        assert_eq!(target.address, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(
            (target.host.as_str(), target.path.as_str()),
            ("127.0.0.1:8080", "/api?x=1")
        );
        let target = Target::parse("http://127.0.0.1").unwrap();
        assert_eq!(target.address.port(), 80);
        assert_eq!(target.path, "/");
        assert!(Target::parse("https://127.0.0.1/").is_err());
        assert!(Target::parse("http:///x").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), 50);
        assert_eq!(percentile(&values, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    /// A keep-alive server alternating chunked and Content-Length answers; it closes after
    /// answering a request that asked for `Connection: close`.
    fn server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    let mut count = 0u64;
                    loop {
                        let mut close = false;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            close |= line.eq_ignore_ascii_case("connection: close\r\n");
                            if line == "\r\n" {
                                break;
                            }
                        }
                        count += 1;
                        let answer = if count.is_multiple_of(2) {
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                        } else {
                            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
                        };
                        if writer.write_all(answer.as_bytes()).is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    #[test]
    fn a_short_run_counts_requests_on_kept_and_new_connections() {
        let target = Target::parse(&format!("http://{}/", server())).unwrap();
        for new_connection in [false, true] {
            let mut report = measure(&target, 2, Duration::from_millis(300), new_connection);
            assert!(report.requests > 10, "{new_connection}: {report:?}");
            assert_eq!(report.errors, 0, "{new_connection}");
            assert!(report.seconds >= 0.3 && report.seconds < 2.0);
            let json = report.json();
            assert!(
                json.starts_with("{\"requests\":") && json.contains("\"p99_us\":"),
                "{json}"
            );
        }
        // Nothing listening: every attempt is an error, and the run still ends on time.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target = Target::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let report = measure(&target, 1, Duration::from_millis(100), false);
        assert_eq!(report.requests, 0);
        assert!(report.errors > 0);
    }
}
