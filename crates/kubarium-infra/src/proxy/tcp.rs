//! TCP: one thread accepts on each listening port; each connection gets a thread that connects
//! to an endpoint (the next one on failure, every endpoint at most once) and copies client →
//! endpoint, and a second thread that copies endpoint → client. EOF on one side shuts down
//! writing on the other (half-close), an error resets both. No endpoint reachable, or none at
//! all: the client's connection is reset (`SO_LINGER` 0), as kube-proxy's REJECT refuses it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{BUFFER, STACK, Slot};
use crate::sys;

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
                // Out of threads: the closure is dropped and the client closed.
                let _ = std::thread::Builder::new()
                    .name("proxy-tcp".into())
                    .stack_size(STACK)
                    .spawn(move || {
                        let candidates: Vec<SocketAddr> = balancer.candidates(peer.ip()).collect();
                        for endpoint in candidates {
                            if let Ok(upstream) =
                                TcpStream::connect_timeout(&endpoint, CONNECT_TIMEOUT)
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
    let back = std::thread::Builder::new()
        .name("proxy-tcp-back".into())
        .stack_size(STACK)
        .spawn(move || copy(upstream_back, client_back));
    match back {
        Ok(back) => {
            copy(client, upstream);
            let _ = back.join();
        }
        Err(_) => reset(&client),
    }
}

/// Copies `from` → `to` until EOF (then shuts down writing on `to`, so the other side sees
/// EOF too while the other direction goes on) or an error (then resets both).
fn copy(mut from: TcpStream, mut to: TcpStream) {
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
    // One side failed: reset both, which also wakes the thread copying the other way.
    for stream in [&from, &to] {
        let _ = sys::set_linger_zero(stream);
        let _ = stream.shutdown(Shutdown::Both);
    }
}

pub(super) fn wake(listener: &Arc<TcpListener>) {
    sys::shutdown_read(&**listener);
}
