//! `send tcp|udp <ip:port> <text>`: sends `text` once and prints what comes back, for tests
//! and lessons that need a client in an image without a shell (busybox `nc` has no UDP).
//! The address is numeric: a static binary cannot load the resolver's NSS modules.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// How long to wait for the connection and the answer.
const TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn run(args: &[String]) -> io::Result<()> {
    let [protocol, address, text] = args else {
        return Err(invalid(
            "usage: kubarium-infra send tcp|udp <ip:port> <text>".to_owned(),
        ));
    };
    let address: SocketAddr = address.parse().map_err(|_| {
        invalid(format!(
            "{address:?} is not an address; give a numeric ip:port such as 10.96.0.12:53"
        ))
    })?;
    let answer = match protocol.as_str() {
        "udp" => udp(address, text.as_bytes())?,
        "tcp" => tcp(address, text.as_bytes())?,
        other => return Err(invalid(format!("{other:?} is not tcp or udp"))),
    };
    io::stdout().write_all(&answer)?;
    io::stdout().write_all(b"\n")
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// One datagram out, one back.
fn udp(address: SocketAddr, text: &[u8]) -> io::Result<Vec<u8>> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.set_read_timeout(Some(TIMEOUT))?;
    socket.connect(address)?;
    socket.send(text)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let read = socket.recv(&mut buffer).map_err(|error| {
        io::Error::new(error.kind(), format!("no answer from {address} within 2 s"))
    })?;
    buffer.truncate(read);
    Ok(buffer)
}

/// The text, then the write side closed; everything read until the peer closes.
fn tcp(address: SocketAddr, text: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.write_all(text)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_protocols_round_trip_through_echo_sockets() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let mut buffer = [0u8; 64];
            let (read, from) = server.recv_from(&mut buffer).unwrap();
            server.send_to(&buffer[..read], from).unwrap();
        });
        assert_eq!(udp(address, b"hello").unwrap(), b"hello");
        echo.join().unwrap();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut text = Vec::new();
            stream.read_to_end(&mut text).unwrap();
            stream.write_all(&text).unwrap();
        });
        assert_eq!(tcp(address, b"over tcp").unwrap(), b"over tcp");
        echo.join().unwrap();
    }

    #[test]
    fn names_and_bad_protocols_are_refused_with_a_reason() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let error = run(&args(&["udp", "web:53", "x"])).unwrap_err();
        assert!(error.to_string().contains("numeric ip:port"), "{error}");
        let error = run(&args(&["sctp", "127.0.0.1:1", "x"])).unwrap_err();
        assert!(error.to_string().contains("not tcp or udp"), "{error}");
        assert!(run(&args(&["udp"])).is_err());
    }
}
