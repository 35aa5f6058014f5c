//! The proxy with real sockets on 127.0.0.1: backends that say who they are, then echo.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use super::*;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP backend: each connection first gets `<name>\n`, then its bytes echoed until EOF.
fn tcp_backend(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.write_all(format!("{name}\n").as_bytes());
                let mut buffer = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buffer) {
                    if stream.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    address
}

/// A UDP backend: answers each datagram with `<name>:<datagram>`.
fn udp_backend(name: &'static str) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 2048];
        while let Ok((n, peer)) = socket.recv_from(&mut buffer) {
            let mut answer = format!("{name}:").into_bytes();
            answer.extend_from_slice(&buffer[..n]);
            let _ = socket.send_to(&answer, peer);
        }
    });
    address
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    // Also free for UDP, so a test can use the port for both.
    drop(UdpSocket::bind(("127.0.0.1", port)));
    port
}

fn proxy(text: &str) -> Proxy {
    let mut proxy = Proxy::new(Ipv4Addr::LOCALHOST.into());
    apply(&mut proxy, text);
    proxy
}

fn apply(proxy: &mut Proxy, text: &str) {
    let config = Config::parse(text).unwrap();
    let failed = proxy.apply(&config);
    assert!(failed.is_empty(), "{failed:?}");
}

/// A connection through the proxy and the name of the backend that took it.
fn connect(port: u16) -> (BufReader<TcpStream>, String) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut reader = BufReader::new(stream);
    let mut name = String::new();
    reader.read_line(&mut name).unwrap();
    (reader, name.trim_end().to_string())
}

fn echo(connection: &mut BufReader<TcpStream>, text: &str) -> String {
    connection
        .get_mut()
        .write_all(format!("{text}\n").as_bytes())
        .unwrap();
    let mut line = String::new();
    connection.read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

fn is_reset(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return true; // refused outright
    };
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buffer = [0u8; 16];
    match stream.read(&mut buffer) {
        Err(error) => error.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_n) => false,
    }
}

#[test]
fn tcp_connections_take_turns_and_half_close_reaches_both_sides() {
    let (a, b) = (tcp_backend("a"), tcp_backend("b"));
    let port = free_port();
    let _proxy = proxy(&format!("tcp {port} -> {a} {b}\n"));
    let names: Vec<String> = (0..4).map(|_| connect(port).1).collect();
    assert_eq!(names, ["a", "b", "a", "b"]);

    // Half-close: the client stops writing, the backend sees EOF, finishes and closes, and
    // the client reads everything up to that EOF.
    let (mut connection, _) = connect(port);
    let payload = "x".repeat(300_000);
    connection.get_mut().write_all(payload.as_bytes()).unwrap();
    connection.get_ref().shutdown(Shutdown::Write).unwrap();
    let mut rest = String::new();
    connection.read_to_string(&mut rest).unwrap();
    assert_eq!(rest.len(), payload.len());
}

#[test]
fn affinity_keeps_a_client_on_its_endpoint() {
    let (a, b) = (tcp_backend("a"), tcp_backend("b"));
    let port = free_port();
    let _proxy = proxy(&format!("affinity 60\ntcp {port} -> {a} {b}\n"));
    let first = connect(port).1;
    for _ in 0..5 {
        assert_eq!(connect(port).1, first);
    }
}

#[test]
fn no_endpoints_means_reset() {
    let port = free_port();
    let _proxy = proxy(&format!("tcp {port} ->\n"));
    assert!(is_reset(port));
}

#[test]
fn a_refused_endpoint_is_skipped_and_all_refused_means_reset() {
    let live = tcp_backend("live");
    let dead = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dead_too = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (port, all_dead) = (free_port(), free_port());
    let _proxy = proxy(&format!(
        "tcp {port} -> {dead} {live} {dead_too}\ntcp {all_dead} -> {dead} {dead_too}\n"
    ));
    for _ in 0..4 {
        assert_eq!(connect(port).1, "live");
    }
    assert!(is_reset(all_dead));
}

#[test]
fn reload_adds_and_removes_listeners_and_switches_endpoints_without_dropping_connections() {
    let (a, b) = (tcp_backend("a"), tcp_backend("b"));
    let (kept, removed, added) = (free_port(), free_port(), free_port());
    let mut proxy = proxy(&format!("tcp {kept} -> {a}\ntcp {removed} -> {a}\n"));
    let (mut open, name) = connect(kept);
    assert_eq!(name, "a");
    assert_eq!(connect(removed).1, "a");

    apply(
        &mut proxy,
        &format!("tcp {kept} -> {b}\ntcp {added} -> {b}\nudp {removed} -> {b}\n"),
    );
    assert_eq!(echo(&mut open, "still there"), "still there");
    assert_eq!(connect(kept).1, "b");
    assert_eq!(connect(added).1, "b");
    assert!(TcpStream::connect(("127.0.0.1", removed)).is_err());

    // The UDP listener goes too, and its port is free again at once.
    apply(&mut proxy, &format!("tcp {kept} -> {a}\n"));
    assert!(UdpSocket::bind(("127.0.0.1", removed)).is_ok());
    assert_eq!(echo(&mut open, "and still"), "and still");
    assert_eq!(connect(kept).1, "a");
    drop(proxy);
    assert!(TcpStream::connect(("127.0.0.1", kept)).is_err());
    assert_eq!(echo(&mut open, "after the proxy"), "after the proxy");
}

#[test]
fn udp_flows_round_trip_from_the_listening_address() {
    let (a, b) = (udp_backend("a"), udp_backend("b"));
    let port = free_port();
    let mut proxy = proxy(&format!("udp {port} -> {a} {b}\n"));
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let ask = |client: &UdpSocket, text: &str| {
        client.send_to(text.as_bytes(), listen).unwrap();
        let mut buffer = [0u8; 2048];
        let (n, from) = client.recv_from(&mut buffer).unwrap();
        assert_eq!(from, listen, "the reply comes from the service address");
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    let clients: Vec<UdpSocket> = (0..2)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_read_timeout(Some(TIMEOUT)).unwrap();
            socket
        })
        .collect();
    let first = ask(&clients[0], "one");
    let second = ask(&clients[1], "two");
    assert_eq!(
        [first.as_str(), second.as_str()],
        ["a:one", "b:two"],
        "each new flow takes the next endpoint"
    );
    for _ in 0..3 {
        assert_eq!(
            ask(&clients[0], "again"),
            "a:again",
            "a flow keeps its endpoint"
        );
    }

    // Endpoint a leaves: its flow starts over on b.
    apply(&mut proxy, &format!("udp {port} -> {b}\n"));
    assert_eq!(ask(&clients[0], "moved"), "b:moved");
}

#[test]
fn an_idle_udp_flow_is_forgotten_and_the_next_datagram_starts_a_new_one() {
    let (a, b) = (udp_backend("a"), udp_backend("b"));
    let port = free_port();
    let _proxy = proxy(&format!("udp {port} -> {a} {b}\n"));
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let ask = |text: &str| {
        client
            .send_to(text.as_bytes(), ("127.0.0.1", port))
            .unwrap();
        let mut buffer = [0u8; 64];
        let (n, _) = client.recv_from(&mut buffer).unwrap();
        String::from_utf8_lossy(&buffer[..n]).into_owned()
    };
    assert_eq!(ask("first"), "a:first");
    assert_eq!(ask("same flow"), "a:same flow");
    std::thread::sleep(udp::IDLE + Duration::from_millis(500));
    assert_eq!(
        ask("new flow"),
        "b:new flow",
        "the expired flow's successor takes the next endpoint"
    );
}
