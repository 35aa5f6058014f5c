//! `echo`: TCP and UDP echo on `$PORT` (default 8080), for Services of either protocol.
//! Each connection and datagram gets one log line.

use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

use crate::sys::{self, Signal};

pub(crate) fn run() -> io::Result<()> {
    let signals = sys::Signals::block()?;
    let port = crate::port()?;
    let tcp = TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        .or_else(|_| TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))))?;
    let udp = UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        .or_else(|_| UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], port))))?;
    println!("echoing TCP and UDP on port {port}");
    std::thread::spawn(move || {
        for stream in tcp.incoming().flatten() {
            std::thread::spawn(move || echo_stream(stream));
        }
    });
    std::thread::spawn(move || echo_datagrams(&udp));
    loop {
        match signals.wait()? {
            Signal::Child => sys::reap_children(),
            Signal::Terminate => return Ok(()),
            Signal::Reload => {} // not asked for: SIGHUP is not blocked here
        }
    }
}

fn echo_stream(mut stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut buffer = [0u8; 16 * 1024];
    let mut total = 0usize;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).is_err() {
                    break;
                }
                total += n;
            }
        }
    }
    println!("tcp {peer}: echoed {total} bytes");
}

fn echo_datagrams(socket: &UdpSocket) {
    let mut buffer = [0u8; 65_536];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let _ = socket.send_to(&buffer[..n], peer);
        println!("udp {}: echoed {n} bytes", peer.ip().to_canonical());
    }
}
