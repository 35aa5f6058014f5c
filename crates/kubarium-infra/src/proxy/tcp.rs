//! TCP: one thread accepts on each listening port; each connection gets a thread (from
//! [`pool`]) that connects to an endpoint (the next one on failure, every endpoint at most
//! once) and copies client → endpoint, and a second one that copies endpoint → client. EOF on one side shuts down
//! writing on the other (half-close), an error resets both. No endpoint reachable, or none at
//! all: the client's connection is reset (`SO_LINGER` 0), as kube-proxy's REJECT refuses it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{BUFFER, Slot, pool};
use crate::sys;

/// The most one splice(2) moves into the pipe (the pipe's size, when the kernel allows it).
const SPLICE_CHUNK: usize = sys::PIPE_SIZE;

/// How long one endpoint may take to accept before the next is tried. A stopped pod's
/// address answers at once (refused) or, once gone, only after ARP gives up (seconds).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Accepts until `stop` is set (and the listener shut down to wake this thread).
pub(super) fn accept(listener: &TcpListener, slot: &Slot, stop: &AtomicBool) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((client, peer)) => {
                let balancer = slot.current();
                // Out of threads: the job is dropped and the client closed.
                let _ = pool::run(move || {
                    let candidates: Vec<SocketAddr> = balancer.candidates(peer.ip()).collect();
                    for endpoint in candidates {
                        if let Ok(upstream) = TcpStream::connect_timeout(&endpoint, CONNECT_TIMEOUT)
                        {
                            balancer.used(peer.ip(), endpoint);
                            drop(balancer);
                            relay(client, upstream);
                            return;
                        }
                    }
                    reset(&client);
                });
            }
            // Out of descriptors (EMFILE) and the like: pause rather than spin.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Closes `client` with a reset rather than a FIN.
fn reset(client: &TcpStream) {
    let _ = sys::set_linger_zero(client);
}

/// Copies both ways until both sides are done.
fn relay(client: TcpStream, upstream: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client_back), Ok(upstream_back)) = (client.try_clone(), upstream.try_clone()) else {
        reset(&client);
        return;
    };
    // Each direction owns its handles: the sockets close when both are done.
    match pool::run(move || copy(upstream_back, client_back)) {
        Ok(()) => copy(client, upstream),
        Err(_) => reset(&client),
    }
}

/// Copies `from` → `to` until EOF (then shuts down writing on `to`, so the other side sees
/// EOF too while the other direction goes on) or an error (then resets both).
///
/// Through a pipe with splice(2), so the bytes never visit user space: measured on loopback,
/// half the proxy's CPU per gigabyte of bulk transfer and a third more throughput, the same
/// cost for small requests. Through a buffer when no pipe can be had (out of descriptors).
fn copy(from: TcpStream, to: TcpStream) {
    match sys::Pipe::new() {
        Ok(pipe) => splice(&pipe, from, to),
        Err(_) => buffered(from, to),
    }
}

fn splice(pipe: &sys::Pipe, from: TcpStream, to: TcpStream) {
    'copy: loop {
        match pipe.fill(&from, SPLICE_CHUNK) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(mut pending) => {
                while pending > 0 {
                    match pipe.drain(&to, pending) {
                        Ok(0) | Err(_) => break 'copy,
                        Ok(n) => pending -= n,
                    }
                }
            }
            Err(_) => break,
        }
    }
    failed(&from, &to);
}

fn buffered(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = vec![0u8; BUFFER];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    failed(&from, &to);
}

/// One side failed: reset both, which also wakes the thread copying the other way.
fn failed(from: &TcpStream, to: &TcpStream) {
    for stream in [from, to] {
        let _ = sys::set_linger_zero(stream);
        let _ = stream.shutdown(Shutdown::Both);
    }
}

pub(super) fn wake(listener: &Arc<TcpListener>) {
    sys::shutdown_read(&**listener);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ends of a fresh loopback connection.
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let near = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (far, _) = listener.accept().unwrap();
        (near, far)
    }

    #[test]
    fn both_copy_paths_carry_everything_then_eof() {
        type CopyPath = fn(TcpStream, TcpStream);
        let paths: [(&str, CopyPath); 2] = [
            ("splice", |from, to| {
                splice(&sys::Pipe::new().unwrap(), from, to)
            }),
            ("buffered", buffered),
        ];
        for (name, path) in paths {
            let (mut writer, from) = pair();
            let (to, mut reader) = pair();
            let copying = std::thread::spawn(move || path(from, to));
            let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
            let sent = payload.clone();
            let writing = std::thread::spawn(move || {
                writer.write_all(&sent).unwrap();
                writer.shutdown(Shutdown::Write).unwrap();
                writer // kept open: only the writing half is closed
            });
            let mut received = Vec::new();
            reader.read_to_end(&mut received).unwrap();
            assert!(
                received == payload,
                "{name}: {} bytes arrived",
                received.len()
            );
            copying.join().unwrap();
            drop(writing.join().unwrap());
        }
    }
}
