//! The sockets: UDP and TCP (each message behind a 2-byte length, RFC 1035 §4.2.2) on one
//! address, and forwarding to the upstream.
//!
//! One thread reads UDP and answers table queries inline (microseconds); a forwarded query
//! gets a thread of its own for its up to 2 s wait, at most [`MAX_FORWARDS`] at once. Each TCP
//! connection gets a thread, which serves its queries in turn until the client closes it or
//! stays idle for [`TCP_IDLE`], at most [`MAX_CONNECTIONS`] at once.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::answer::{self, Outcome, Transport, failure};
use super::config::Zone;
use super::wire::{Header, flag, rcode};

/// How long the upstream has to answer before the client gets SERVFAIL.
pub(crate) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// Forwarded UDP queries waiting at once; past this, SERVFAIL at once rather than a thread.
const MAX_FORWARDS: usize = 256;
/// An idle TCP connection is closed after this long.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Open TCP connections; past this, new ones are closed at once (clients retry, or use UDP).
const MAX_CONNECTIONS: usize = 512;

/// The zone being served, swapped whole on reload; queries in flight keep the one they took.
pub(crate) struct Table(RwLock<Arc<Zone>>);

impl Table {
    pub(crate) fn new(zone: Zone) -> Self {
        Self(RwLock::new(Arc::new(zone)))
    }

    pub(crate) fn get(&self) -> Arc<Zone> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn set(&self, zone: Zone) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(zone);
    }
}

/// The bound sockets, not yet serving.
pub(crate) struct Server {
    udp: UdpSocket,
    tcp: TcpListener,
    table: Arc<Table>,
}

impl Server {
    /// Binds UDP and TCP on `address`; port 0 picks a free UDP port and uses it for TCP too
    /// (another, if something holds that port for TCP).
    pub(crate) fn bind(address: SocketAddr, table: Arc<Table>) -> io::Result<Self> {
        let mut tries = 0;
        loop {
            let udp = UdpSocket::bind(address)?;
            let port = udp.local_addr()?.port();
            match TcpListener::bind(SocketAddr::new(address.ip(), port)) {
                Ok(tcp) => return Ok(Self { udp, tcp, table }),
                Err(error)
                    if address.port() == 0
                        && error.kind() == io::ErrorKind::AddrInUse
                        && tries < 20 =>
                {
                    tries += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Starts the serving threads; they run until the process exits.
    pub(crate) fn start(self) -> io::Result<()> {
        let udp = Arc::new(self.udp);
        let table = Arc::clone(&self.table);
        std::thread::Builder::new()
            .name("dns-udp".into())
            .spawn(move || serve_udp(&udp, &table))?;
        let table = self.table;
        let tcp = self.tcp;
        std::thread::Builder::new()
            .name("dns-tcp".into())
            .spawn(move || serve_tcp(&tcp, &table))?;
        Ok(())
    }
}

fn serve_udp(socket: &Arc<UdpSocket>, table: &Arc<Table>) {
    let forwards = Arc::new(AtomicUsize::new(0));
    let mut buffer = vec![0u8; 65_535];
    loop {
        let (len, peer) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(_) => {
                // Nothing here is fatal; a pause keeps a persistent error from spinning.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let query = &buffer[..len];
        match answer::respond(&table.get(), query, Transport::Udp) {
            Outcome::Reply(reply) => {
                let _ = socket.send_to(&reply, peer);
            }
            Outcome::Ignore => {}
            outcome @ (Outcome::Forward(_) | Outcome::Chase(_)) => {
                if forwards.fetch_add(1, Ordering::SeqCst) >= MAX_FORWARDS {
                    forwards.fetch_sub(1, Ordering::SeqCst);
                    if let Some(reply) = failure(query, rcode::SERVFAIL) {
                        let _ = socket.send_to(&reply, peer);
                    }
                    continue;
                }
                let query = query.to_vec();
                let socket = Arc::clone(socket);
                let forwards_done = Arc::clone(&forwards);
                let spawned = std::thread::Builder::new()
                    .name("dns-forward".into())
                    .spawn(move || {
                        if let Some(reply) = complete(outcome, &query, Transport::Udp) {
                            let _ = socket.send_to(&reply, peer);
                        }
                        forwards_done.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    forwards.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }
}

fn serve_tcp(listener: &TcpListener, table: &Arc<Table>) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            continue; // dropped: closed
        }
        let table = Arc::clone(table);
        let closed = Arc::clone(&open);
        let spawned = std::thread::Builder::new()
            .name("dns-tcp-conn".into())
            .spawn(move || {
                serve_connection(stream, &table);
                closed.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Answers the queries of one TCP connection, one after the other.
fn serve_connection(mut stream: TcpStream, table: &Table) {
    let _ = stream.set_read_timeout(Some(TCP_IDLE));
    let _ = stream.set_write_timeout(Some(TCP_IDLE));
    loop {
        let Ok(query) = read_framed(&mut stream) else {
            return;
        };
        let outcome = answer::respond(&table.get(), &query, Transport::Tcp);
        let Some(reply) = complete(outcome, &query, Transport::Tcp) else {
            return;
        };
        if reply.is_empty() || write_framed(&mut stream, &reply).is_err() {
            return;
        }
    }
}

fn read_framed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message)?;
    Ok(message)
}

fn write_framed(stream: &mut TcpStream, message: &[u8]) -> io::Result<()> {
    let len = u16::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "message over 65535 bytes"))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed)
}

/// The reply to send, asking the upstream first when the outcome says so (which blocks for up
/// to [`UPSTREAM_TIMEOUT`]); `None` for a query to ignore.
fn complete(outcome: Outcome, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
    match outcome {
        Outcome::Reply(reply) => Some(reply),
        Outcome::Ignore => None,
        Outcome::Forward(upstream) => Some(forward(query, upstream, transport)),
        Outcome::Chase(chase) => {
            let deadline = Instant::now() + UPSTREAM_TIMEOUT;
            let reply = ask_udp(&chase.query, chase.upstream, deadline).ok();
            Some(chase.finish(reply.as_deref()))
        }
    }
}

/// The upstream's answer to `query`, byte for byte, or SERVFAIL if it gives none in time. A
/// truncated answer for a TCP client is asked again over TCP.
fn forward(query: &[u8], upstream: SocketAddr, transport: Transport) -> Vec<u8> {
    let deadline = Instant::now() + UPSTREAM_TIMEOUT;
    match ask_udp(query, upstream, deadline) {
        Ok(reply) => {
            let truncated = Header::parse(&reply).is_some_and(|header| header.has(flag::TC));
            if transport == Transport::Tcp && truncated {
                ask_tcp(query, upstream, deadline).unwrap_or(reply)
            } else {
                reply
            }
        }
        Err(_) => failure(query, rcode::SERVFAIL).unwrap_or_default(),
    }
}

fn ask_udp(query: &[u8], upstream: SocketAddr, deadline: Instant) -> io::Result<Vec<u8>> {
    let local = match upstream {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    // A fresh socket per query: a random source port, and connect() filters other senders.
    let socket = UdpSocket::bind(local)?;
    socket.connect(upstream)?;
    socket.send(query)?;
    let mut buffer = vec![0u8; 65_535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        socket.set_read_timeout(Some(left))?;
        // An unreachable upstream fails here at once (ECONNREFUSED from the ICMP error).
        let len = socket.recv(&mut buffer)?;
        let reply = &buffer[..len];
        if len >= 12 && reply[..2] == query[..2] && reply[2] & 0x80 != 0 {
            return Ok(reply.to_vec());
        }
    }
}

fn ask_tcp(query: &[u8], upstream: SocketAddr, deadline: Instant) -> io::Result<Vec<u8>> {
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::from(io::ErrorKind::TimedOut))
        } else {
            Ok(left)
        }
    };
    let mut stream = TcpStream::connect_timeout(&upstream, left()?)?;
    stream.set_write_timeout(Some(left()?))?;
    write_framed(&mut stream, query)?;
    stream.set_read_timeout(Some(left()?))?;
    read_framed(&mut stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::wire::tests::query;
    use crate::dns::wire::{Message, RData, rtype};

    fn start(config: &str) -> (SocketAddr, Arc<Table>) {
        let table = Arc::new(Table::new(Zone::parse(config).unwrap()));
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), Arc::clone(&table)).unwrap();
        let address = server.local_addr().unwrap();
        server.start().unwrap();
        (address, table)
    }

    fn ask_over_udp(server: SocketAddr, query: &[u8]) -> Vec<u8> {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket.send_to(query, server).unwrap();
        let mut buffer = vec![0u8; 65_535];
        let (len, _) = socket.recv_from(&mut buffer).unwrap();
        buffer.truncate(len);
        buffer
    }

    fn first_address(reply: &[u8]) -> Option<Ipv4Addr> {
        Message::parse(reply)
            .unwrap()
            .answers
            .iter()
            .find_map(|record| match record.data {
                RData::A(ip) => Some(ip),
                _ => None,
            })
    }

    const CONFIG: &str = "domain cluster.local\na web.default.svc.cluster.local 10.96.0.7\n";

    #[test]
    fn udp_queries_are_answered() {
        let (server, _) = start(CONFIG);
        let reply = ask_over_udp(
            server,
            &query(1, "web.default.svc.cluster.local", rtype::A, None),
        );
        assert_eq!(first_address(&reply), Some(Ipv4Addr::new(10, 96, 0, 7)));
    }

    #[test]
    fn tcp_connections_carry_several_queries() {
        let (server, _) = start(CONFIG);
        let mut stream = TcpStream::connect(server).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        for id in 1..=3 {
            let question = query(id, "web.default.svc.cluster.local", rtype::A, None);
            write_framed(&mut stream, &question).unwrap();
            let reply = read_framed(&mut stream).unwrap();
            assert_eq!(Message::parse(&reply).unwrap().header.id, id);
            assert_eq!(first_address(&reply), Some(Ipv4Addr::new(10, 96, 0, 7)));
        }
        let nx = query(4, "nope.cluster.local", rtype::A, None);
        write_framed(&mut stream, &nx).unwrap();
        let reply = read_framed(&mut stream).unwrap();
        assert_eq!(Header::parse(&reply).unwrap().rcode(), rcode::NXDOMAIN);
    }

    #[test]
    fn other_names_are_forwarded_and_the_answer_relayed_unchanged() {
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        let upstream_address = upstream.local_addr().unwrap();
        let question = query(0x4242, "example.com", rtype::A, Some(1232));
        let expected = question.clone();
        let canned = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let (len, client) = upstream.recv_from(&mut buffer).unwrap();
            assert_eq!(
                buffer[..len],
                expected[..],
                "the query is forwarded unchanged"
            );
            // Something no local code would produce: the relay must not rewrite it.
            let mut reply = buffer[..len].to_vec();
            reply[2] |= 0x80;
            reply[3] = 0x80 | 0x20;
            reply.extend_from_slice(b"trailing bytes");
            upstream.send_to(&reply, client).unwrap();
            reply
        });
        let (server, _) = start(&format!(
            "domain cluster.local\nupstream {upstream_address}"
        ));
        let reply = ask_over_udp(server, &question);
        assert_eq!(reply, canned.join().unwrap());
    }

    #[test]
    fn an_outside_cname_target_is_resolved_through_the_upstream() {
        let upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
        let upstream_address = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let (len, client) = upstream.recv_from(&mut buffer).unwrap();
            let asked = Message::parse(&buffer[..len]).unwrap();
            assert_eq!(asked.questions[0].name.key(), "db.example.com");
            // The question, answered with one A record (owner: a pointer to the question).
            let mut reply = buffer[..len].to_vec();
            reply.truncate(12 + 16 + 4);
            reply[2] |= 0x80;
            reply[7] = 1;
            reply[11] = 0;
            reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 7]);
            upstream.send_to(&reply, client).unwrap();
        });
        let (server, _) = start(&format!(
            "domain cluster.local\nupstream {upstream_address}\n\
             cname db.default.svc.cluster.local db.example.com"
        ));
        let reply = ask_over_udp(
            server,
            &query(9, "db.default.svc.cluster.local", rtype::A, None),
        );
        let message = Message::parse(&reply).unwrap();
        assert_eq!(message.answers.len(), 2);
        assert_eq!(first_address(&reply), Some(Ipv4Addr::new(192, 0, 2, 7)));
    }

    #[test]
    fn a_truncated_upstream_answer_is_asked_again_over_tcp_for_tcp_clients() {
        // One port for both protocols: a UDP port whose TCP twin is taken is tried again.
        let (udp, tcp, address) = (0..100)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
                let address = udp.local_addr().ok()?;
                let tcp = TcpListener::bind(address).ok()?;
                Some((udp, tcp, address))
            })
            .unwrap();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let (len, client) = udp.recv_from(&mut buffer).unwrap();
            let mut truncated = buffer[..len].to_vec();
            truncated[2] |= 0x80 | 0x02;
            udp.send_to(&truncated, client).unwrap();
        });
        std::thread::spawn(move || {
            let (mut stream, _) = tcp.accept().unwrap();
            let mut full = read_framed(&mut stream).unwrap();
            full[2] |= 0x80;
            full.extend_from_slice(b"the whole answer");
            write_framed(&mut stream, &full).unwrap();
        });
        let (server, _) = start(&format!("upstream {address}"));
        let mut stream = TcpStream::connect(server).unwrap();
        write_framed(&mut stream, &query(10, "example.com", rtype::A, None)).unwrap();
        let reply = read_framed(&mut stream).unwrap();
        assert!(reply.ends_with(b"the whole answer"));
        assert!(!Header::parse(&reply).unwrap().has(flag::TC));
    }

    #[test]
    fn a_silent_upstream_is_servfail_after_two_seconds() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (server, _) = start(&format!("upstream {}", silent.local_addr().unwrap()));
        let started = Instant::now();
        let reply = ask_over_udp(server, &query(5, "example.com", rtype::A, None));
        let waited = started.elapsed();
        let message = Message::parse(&reply).unwrap();
        assert_eq!(message.header.rcode(), rcode::SERVFAIL);
        assert_eq!(message.header.id, 5);
        assert!(
            waited >= UPSTREAM_TIMEOUT - Duration::from_millis(100),
            "{waited:?}"
        );
    }

    #[test]
    fn an_unreachable_upstream_is_servfail() {
        let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = closed.local_addr().unwrap();
        drop(closed);
        let (server, _) = start(&format!("upstream {address}"));
        let mut stream = TcpStream::connect(server).unwrap();
        write_framed(&mut stream, &query(6, "example.com", rtype::A, None)).unwrap();
        let reply = read_framed(&mut stream).unwrap();
        assert_eq!(Header::parse(&reply).unwrap().rcode(), rcode::SERVFAIL);
    }

    #[test]
    fn a_new_table_changes_the_answers() {
        let (server, table) = start(CONFIG);
        let question = query(7, "web.default.svc.cluster.local", rtype::A, None);
        assert_eq!(
            first_address(&ask_over_udp(server, &question)),
            Some(Ipv4Addr::new(10, 96, 0, 7))
        );
        table.set(
            Zone::parse("domain cluster.local\na web.default.svc.cluster.local 10.96.0.8").unwrap(),
        );
        assert_eq!(
            first_address(&ask_over_udp(server, &question)),
            Some(Ipv4Addr::new(10, 96, 0, 8))
        );
    }

    #[test]
    fn garbage_datagrams_do_not_stop_the_server() {
        let (server, _) = start(CONFIG);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        for garbage in [&b""[..], b"\x00", b"hello, world", &[0xff; 600]] {
            socket.send_to(garbage, server).unwrap();
        }
        let mut stream = TcpStream::connect(server).unwrap();
        stream.write_all(&[0, 40, 1, 2, 3]).unwrap();
        drop(stream);
        let reply = ask_over_udp(
            server,
            &query(8, "web.default.svc.cluster.local", rtype::A, None),
        );
        assert_eq!(Message::parse(&reply).unwrap().header.id, 8);
    }
}
