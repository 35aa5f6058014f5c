//! `serve`: the demo web server for lessons and tests. HTTP/1.1 on `$PORT` (default 8080),
//! a thread per connection; one log line per request on stdout, so `kubectl logs` shows the
//! traffic. On SIGTERM it stops taking requests, lets those in flight finish (for up to five
//! seconds) and exits 0, as a well-behaved app does during a rolling update.
//!
//! | path | answer |
//! |---|---|
//! | `/` | an HTML page: pod, namespace, node, pod IP, version in its colour, request count |
//! | `/api` | the same as JSON |
//! | `/name` | the pod's name and a newline, for `hit` and `wget -qO-` |
//! | `/healthz` | 200 `ok` |
//! | `/readyz` | 200 `ok`, or 503 while `/tmp/unready` exists |
//! | `/crash` | answers, then the process exits with code 1 |
//!
//! The page and `/api` also show what a lesson gives the pod (see [`content`]): the files in
//! `$DEMO_FILES` (default `/etc/demo`), the `DEMO_*` variables, and `$DEMO_DATA/created`,
//! which the server writes at start when the volume has none yet.

mod app;
mod content;
mod http;

use std::io::{BufReader, BufWriter};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::sys::{self, Signal};
use app::{After, App, PodInfo};
use content::Content;
use http::{Request, Response};

/// The data marker, as the log names it.
const CREATED_NOTE: &str = "$DEMO_DATA/created";
/// How long an idle keep-alive connection is kept.
const IDLE: Duration = Duration::from_secs(30);
/// How long requests in flight may take to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(5);

/// What the connection threads share.
struct Server {
    app: App,
    stopping: AtomicBool,
    in_flight: AtomicUsize,
}

pub(crate) fn run() -> std::io::Result<()> {
    let signals = sys::Signals::block()?;
    let port = crate::port()?;
    let listener = listen(port)?;
    let info = PodInfo::from_environment();
    let content = Content::from_environment();
    let owner = if info.uid.is_empty() {
        &info.hostname
    } else {
        &info.uid
    };
    let line = content::created_line(&info.pod, owner, &timestamp(SystemTime::now()));
    match content.ensure_created(&line) {
        Ok(None) => {}
        Ok(Some(true)) => println!(
            "{} wrote {CREATED_NOTE}: {line}",
            timestamp(SystemTime::now())
        ),
        Ok(Some(false)) => println!(
            "{} {CREATED_NOTE} was there already: {}",
            timestamp(SystemTime::now()),
            content.data().unwrap_or_default()
        ),
        Err(error) => println!(
            "{} cannot write {CREATED_NOTE}: {error}",
            timestamp(SystemTime::now())
        ),
    }
    let server = Arc::new(Server {
        app: App::new(info, PathBuf::from(app::UNREADY_MARKER), content),
        stopping: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
    });
    let info = server.app.info();
    println!(
        "{} serving {} version {} on port {port} (pod {}, node {}, IP {})",
        timestamp(SystemTime::now()),
        info.namespace,
        info.version,
        info.pod,
        info.node,
        info.pod_ip
    );
    let accepting = Arc::clone(&server);
    std::thread::spawn(move || accept(&listener, &accepting));
    while signals.wait()? != Signal::Terminate {
        sys::reap_children();
    }
    server.stopping.store(true, Ordering::SeqCst);
    println!(
        "{} received SIGTERM: finishing requests in flight",
        timestamp(SystemTime::now())
    );
    let deadline = Instant::now() + DRAIN;
    while server.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("{} stopped", timestamp(SystemTime::now()));
    Ok(())
}

/// Both address families where the kernel allows, else IPv4 only.
fn listen(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        .or_else(|_| TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))))
}

fn accept(listener: &TcpListener, server: &Arc<Server>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let server = Arc::clone(server);
        std::thread::spawn(move || {
            let _ = connection(stream, &server);
        });
    }
}

fn connection(stream: TcpStream, server: &Server) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    loop {
        let Some(head) = http::read_head(&mut reader)? else {
            return Ok(());
        };
        let _busy = InFlight::enter(&server.in_flight);
        let request = head.and_then(|head| Request::parse(&head));
        let request = match request.and_then(|r| r.body_length().map(|len| (r, len))) {
            Ok((request, length)) => {
                http::skip_body(&mut reader, length)?;
                request
            }
            Err(malformed) => {
                let response = Response::text(malformed.status(), malformed.message());
                response.write_to(&mut writer, http::Version::Http11, false, false)?;
                log(peer, "-", malformed.status(), response.body.len());
                return Ok(());
            }
        };
        let (response, after) = server.app.respond(&request);
        let keep_alive = request.keep_alive()
            && after == After::Continue
            && !server.stopping.load(Ordering::SeqCst);
        let head_only = request.method == "HEAD";
        response.write_to(&mut writer, request.version, head_only, keep_alive)?;
        log(
            peer,
            &format!(
                "{} {} {}",
                request.method,
                request.target,
                request.version.as_str()
            ),
            response.status,
            if head_only { 0 } else { response.body.len() },
        );
        if after == After::Crash {
            println!(
                "{} /crash requested: exiting with code 1",
                timestamp(SystemTime::now())
            );
            std::process::exit(1);
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Counts a request as in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One line per request, like a web server's access log.
fn log(peer: SocketAddr, request_line: &str, status: u16, bytes: usize) {
    println!(
        "{} {} \"{request_line}\" {status} {bytes}",
        timestamp(SystemTime::now()),
        peer.ip().to_canonical()
    );
}

/// RFC 3339 UTC with milliseconds, from the civil calendar (no time zone database needed).
fn timestamp(at: SystemTime) -> String {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = |secs: u64, millis: u64| {
            timestamp(SystemTime::UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_869_296, 120), "2026-11-28T12:34:56.120Z");
    }
}
