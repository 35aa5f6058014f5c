//! UDP: one thread receives on each listening port. A flow is one client address:port; its
//! first datagram picks an endpoint and opens a socket connected to it, and a thread per flow
//! sends the endpoint's replies back to the client from the listening socket (so the client
//! sees them come from the address it wrote to). A flow idle for [`IDLE`] is forgotten; so is
//! one whose endpoint left the configuration (the next datagram starts a new flow), as
//! kube-proxy clears conntrack entries of removed UDP endpoints. No endpoints: dropped.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{BUFFER, STACK, Slot};
use crate::sys;

/// How long a flow lives without a datagram either way (shorter in tests, to see it expire).
pub(super) const IDLE: Duration = if cfg!(test) {
    Duration::from_secs(1)
} else {
    Duration::from_secs(30)
};

struct Flow {
    endpoint: SocketAddr,
    upstream: UdpSocket,
    /// Milliseconds since the listener's `epoch` of the last datagram either way.
    last: AtomicU64,
    closed: AtomicBool,
}

type Flows = Mutex<HashMap<SocketAddr, Arc<Flow>>>;

/// Receives until `stop` is set (and the socket shut down to wake this thread); then closes
/// every flow and waits for their threads, so the port is free when this returns.
pub(super) fn receive(socket: &Arc<UdpSocket>, slot: &Slot, stop: &AtomicBool) {
    let epoch = Instant::now();
    let flows: Arc<Flows> = Arc::default();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let received = socket.recv_from(&mut buffer);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok((n, client)) = received else {
            continue; // e.g. ECONNREFUSED left by an ICMP error: nothing to do
        };
        let balancer = slot.current();
        let mut table = lock(&flows);
        let existing = table.get(&client).cloned();
        let flow = match existing {
            Some(flow) if balancer.endpoints().contains(&flow.endpoint) => {
                flow.last.store(millis(epoch), Ordering::Relaxed);
                flow
            }
            stale => {
                if let Some(stale) = stale {
                    close(&stale);
                }
                let Some(endpoint) = balancer.candidates(client.ip()).next() else {
                    continue; // no endpoints: drop
                };
                let Ok(upstream) = connect(endpoint) else {
                    continue;
                };
                balancer.used(client.ip(), endpoint);
                let flow = Arc::new(Flow {
                    endpoint,
                    upstream,
                    last: AtomicU64::new(millis(epoch)),
                    closed: AtomicBool::new(false),
                });
                let (socket, flows, reply_flow) =
                    (Arc::clone(socket), Arc::clone(&flows), Arc::clone(&flow));
                let spawned = std::thread::Builder::new()
                    .name("proxy-udp-flow".into())
                    .stack_size(STACK)
                    .spawn(move || reply(&socket, client, &reply_flow, &flows, epoch));
                let Ok(thread) = spawned else {
                    continue;
                };
                threads.retain(|thread| !thread.is_finished());
                threads.push(thread);
                table.insert(client, Arc::clone(&flow));
                flow
            }
        };
        drop(table);
        let _ = flow.upstream.send(&buffer[..n]);
    }
    for flow in lock(&flows).values() {
        close(flow);
    }
    for thread in threads {
        let _ = thread.join();
    }
}

/// A socket connected to `endpoint`, from an ephemeral port of the same family.
fn connect(endpoint: SocketAddr) -> io::Result<UdpSocket> {
    let any: IpAddr = if endpoint.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let socket = UdpSocket::bind((any, 0))?;
    socket.connect(endpoint)?;
    Ok(socket)
}

/// Marks a flow closed and wakes its thread.
fn close(flow: &Flow) {
    flow.closed.store(true, Ordering::SeqCst);
    sys::shutdown_read(&flow.upstream);
}

/// The flow's thread: endpoint replies → client, until the flow is idle or closed.
fn reply(socket: &UdpSocket, client: SocketAddr, flow: &Arc<Flow>, flows: &Flows, epoch: Instant) {
    let mut buffer = vec![0u8; BUFFER];
    // Idleness is checked at a quarter of the idle time, not re-armed per datagram: a flow is
    // forgotten between IDLE and 1.25 × IDLE after its last datagram.
    if flow.upstream.set_read_timeout(Some(IDLE / 4)).is_ok() {
        loop {
            let received = flow.upstream.recv(&mut buffer);
            if flow.closed.load(Ordering::SeqCst) {
                return;
            }
            match received {
                Ok(n) => {
                    flow.last.store(millis(epoch), Ordering::Relaxed);
                    let _ = socket.send_to(&buffer[..n], client);
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // Forgotten only under the table's lock, so a datagram that just found this
                    // flow (and renewed `last` under the same lock) is never sent into the void.
                    let mut table = lock(flows);
                    let idle = millis(epoch).saturating_sub(flow.last.load(Ordering::Relaxed));
                    if Duration::from_millis(idle) >= IDLE {
                        if table.get(&client).is_some_and(|f| Arc::ptr_eq(f, flow)) {
                            table.remove(&client);
                        }
                        return;
                    }
                }
                // The endpoint's port is closed (ICMP port unreachable): the datagram is lost, as
                // it would be without a proxy; the flow stays for the next one.
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    let mut table = lock(flows);
    if table.get(&client).is_some_and(|f| Arc::ptr_eq(f, flow)) {
        table.remove(&client);
    }
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn wake(socket: &Arc<UdpSocket>) {
    sys::shutdown_read(&**socket);
}
