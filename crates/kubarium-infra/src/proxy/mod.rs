//! `proxy`: one Service's data plane, kube-proxy in a container. The container's static
//! address is the Service's cluster IP; it listens on every port of its configuration file
//! (`/etc/kubarium/config`, or `$KUBARIUM_CONFIG`; see [`config`]) and forwards TCP
//! connections and UDP flows to the Service's ready endpoints, round robin or with ClientIP
//! affinity ([`balance`]).
//!
//! The file is read at start (missing = listen on nothing yet) and again on SIGHUP: listeners
//! are added and removed to match, kept ones switch to the new endpoints at once, and open
//! connections go on undisturbed. A file that does not parse is reported with its line number
//! and the previous configuration stays. SIGTERM/SIGINT exit 0.
//!
//! Asked to (the Docker plane's proxy containers are), it also forwards in the kernel: each
//! load programs nftables DNAT in the container's own network namespace ([`kernel`]), and
//! the listeners then see only what the kernel leaves them (ports without endpoints,
//! sessionAffinity ClientIP, a kernel that refuses).
//!
//! The userspace relay is built for throughput: a thread per connection direction (reused across connections, see
//! [`pool`]) moving bytes with splice(2) through a pipe, `TCP_NODELAY` on both sides; UDP
//! through one 64 KiB buffer per socket. Nothing is allocated per packet.

mod balance;
pub(crate) mod config;
mod kernel;
mod netlink;
mod nft;
mod pool;
mod tcp;
mod udp;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;

use crate::sys::{self, Signal};
use balance::Balancer;
use config::{Config, Protocol};

/// The buffer of each UDP socket, and of a TCP direction that could not have a pipe.
const BUFFER: usize = 64 * 1024;
/// Stack of the connection and flow threads: they only loop over a heap buffer.
const STACK: usize = 128 * 1024;

pub(crate) fn run() -> io::Result<()> {
    let signals = sys::Signals::block_with_reload()?;
    let path = crate::conf::path();
    let mut proxy = Proxy::new(Ipv4Addr::UNSPECIFIED.into());
    let mut kernel = kernel::Kernel::from_env();
    proxy.load(&path, &mut kernel);
    loop {
        match signals.wait()? {
            Signal::Reload => proxy.load(&path, &mut kernel),
            Signal::Terminate => return Ok(()),
            Signal::Child => sys::reap_children(),
        }
    }
}

/// The endpoints a listener forwards to: swapped whole on reload, read once per connection
/// or datagram.
#[derive(Clone)]
struct Slot(Arc<RwLock<Arc<Balancer>>>);

impl Slot {
    fn new(balancer: Arc<Balancer>) -> Self {
        Self(Arc::new(RwLock::new(balancer)))
    }

    fn current(&self) -> Arc<Balancer> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, balancer: Arc<Balancer>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = balancer;
    }
}

/// The listening sockets of the current configuration.
pub(crate) struct Proxy {
    address: IpAddr,
    listeners: HashMap<(Protocol, u16), Listener>,
}

struct Listener {
    slot: Slot,
    socket: Socket,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

enum Socket {
    Tcp(Arc<TcpListener>),
    Udp(Arc<UdpSocket>),
}

impl Proxy {
    /// A proxy listening on `address` (0.0.0.0 in a container; loopback in tests).
    pub(crate) fn new(address: IpAddr) -> Self {
        Self {
            address,
            listeners: HashMap::new(),
        }
    }

    /// Reads `path` and applies it, to the listeners and then the kernel, logging the
    /// outcome on stderr.
    fn load(&mut self, path: &Path, kernel: &mut kernel::Kernel) {
        let Some(text) = crate::conf::read("proxy", path) else {
            return;
        };
        match Config::parse(&text) {
            Ok(config) => {
                let failed = self.apply(&config);
                let endpoints: usize = config.rules.iter().map(|r| r.endpoints.len()).sum();
                let affinity = config
                    .affinity
                    .map_or_else(String::new, |t| format!(", affinity {} s", t.as_secs()));
                eprintln!(
                    "proxy: loaded {} ports ({} Service ports, {endpoints} endpoints{affinity}) from {}",
                    config.port_count(),
                    config.rules.len(),
                    path.display()
                );
                for (protocol, port, error) in failed {
                    eprintln!(
                        "proxy: cannot listen on {protocol} port {port}: {error}; retried on the next reload"
                    );
                }
                if let Some(line) = kernel.apply(&config) {
                    eprintln!("{line}");
                }
            }
            Err(error) => eprintln!(
                "proxy: {}: {error}; keeping the previous configuration",
                path.display()
            ),
        }
    }

    /// Makes the listeners match `config`; returns the ports that could not be bound.
    pub(crate) fn apply(&mut self, config: &Config) -> Vec<(Protocol, u16, io::Error)> {
        let mut failed = Vec::new();
        let mut wanted = HashMap::new();
        for rule in &config.rules {
            // The line's balancer carries on from the one serving any of its ports before.
            let previous = rule
                .ports
                .iter()
                .find_map(|&port| self.listeners.get(&(rule.protocol, port)));
            let balancer = Arc::new(match previous {
                Some(listener) => listener
                    .slot
                    .current()
                    .renewed(rule.endpoints.clone(), config.affinity),
                None => Balancer::new(rule.endpoints.clone(), config.affinity),
            });
            for &port in &rule.ports {
                wanted.insert((rule.protocol, port), Arc::clone(&balancer));
            }
        }
        let gone: Vec<_> = self
            .listeners
            .keys()
            .filter(|key| !wanted.contains_key(key))
            .copied()
            .collect();
        for key in gone {
            if let Some(listener) = self.listeners.remove(&key) {
                listener.stop();
            }
        }
        for ((protocol, port), balancer) in wanted {
            if let Some(listener) = self.listeners.get(&(protocol, port)) {
                listener.slot.set(balancer);
                continue;
            }
            match Listener::start(self.address, protocol, port, balancer) {
                Ok(listener) => {
                    self.listeners.insert((protocol, port), listener);
                }
                Err(error) => failed.push((protocol, port, error)),
            }
        }
        failed
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for (_, listener) in self.listeners.drain() {
            listener.stop();
        }
    }
}

impl Listener {
    fn start(
        address: IpAddr,
        protocol: Protocol,
        port: u16,
        balancer: Arc<Balancer>,
    ) -> io::Result<Self> {
        let slot = Slot::new(balancer);
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_slot, thread_stop) = (slot.clone(), Arc::clone(&stop));
        let name = format!("proxy-{protocol}-{port}");
        let (socket, thread) = match protocol {
            Protocol::Tcp => {
                let listener = Arc::new(TcpListener::bind((address, port))?);
                let serving = Arc::clone(&listener);
                let thread = std::thread::Builder::new()
                    .name(name)
                    .spawn(move || tcp::accept(&serving, &thread_slot, &thread_stop))?;
                (Socket::Tcp(listener), thread)
            }
            Protocol::Udp => {
                let socket = Arc::new(UdpSocket::bind((address, port))?);
                let serving = Arc::clone(&socket);
                let thread = std::thread::Builder::new()
                    .name(name)
                    .spawn(move || udp::receive(&serving, &thread_slot, &thread_stop))?;
                (Socket::Udp(socket), thread)
            }
        };
        Ok(Self {
            slot,
            socket,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops listening and waits until the port is closed; connections already accepted go on.
    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        match &self.socket {
            Socket::Tcp(listener) => tcp::wake(listener),
            Socket::Udp(socket) => udp::wake(socket),
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
