//! `ingress`: the cluster's ingress controller data plane, one per cluster (class `kubarium`).
//! An HTTP/1.x reverse proxy with TLS termination, configured by the services controller
//! through `/etc/kubarium/config` (see [`config`]; `$KUBARIUM_CONFIG` overrides the path).
//!
//! - Start and every SIGHUP: the file is read, parsed and its certificates loaded into a new
//!   [`Snapshot`], which replaces the current one in one pointer swap. Connections take the
//!   current snapshot per request (and rustls per handshake), so a reload drops nothing: open
//!   keep-alive connections route their next request by the new rules. A file that does not
//!   parse is logged with its line and the previous snapshot stays. A missing file is an
//!   empty configuration: no listeners yet.
//! - Listeners follow the file's `http`/`https` ports on `$KUBARIUM_INGRESS_LISTEN_HOST`
//!   (default `0.0.0.0`); each bound address is logged (`http listening on 0.0.0.0:80`), which
//!   is how tests find port 0's choice.
//! - SIGTERM/SIGINT: exit 0.
//!
//! - Upstream connections are kept alive in a [`pool`] per endpoint, which outlives snapshots:
//!   each reload prunes the idle connections to endpoints the new file no longer names, and a
//!   sweeping thread closes those idle too long. In-flight requests keep their connection.
//!
//! A thread per connection; see [`proxy`] for what a connection does.

mod config;
mod http;
mod pool;
mod proxy;
mod routing;
mod tls;

#[cfg(test)]
mod tests;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use crate::sys::{self, Signal};
use config::Config;
use proxy::Scheme;

pub(crate) fn run() -> io::Result<()> {
    let signals = sys::Signals::block_with_reload()?;
    let path = crate::conf::path();
    let host = match std::env::var("KUBARIUM_INGRESS_LISTEN_HOST") {
        Ok(text) => text.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("KUBARIUM_INGRESS_LISTEN_HOST must be an IP address, not {text:?}"),
            )
        })?,
        Err(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let ingress = Ingress::start(path, host)?;
    loop {
        match signals.wait()? {
            Signal::Reload => ingress.reload(),
            Signal::Child => sys::reap_children(),
            Signal::Terminate => {
                eprintln!("ingress: stopping");
                return Ok(());
            }
        }
    }
}

/// One loaded configuration: what requests and handshakes consult.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) table: routing::Table,
    pub(crate) certs: tls::Certs,
}

/// The current snapshot, shared by every connection and the TLS resolver.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    current: RwLock<Arc<Snapshot>>,
    /// Idle keep-alive connections to endpoints; outlives snapshots, pruned on reload.
    pub(crate) pool: pool::Pool,
}

impl Shared {
    pub(crate) fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn swap(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
    }
}

/// A running ingress: its snapshot, its TLS configuration and its listeners.
pub(crate) struct Ingress {
    shared: Arc<Shared>,
    tls: Arc<rustls::ServerConfig>,
    path: PathBuf,
    host: IpAddr,
    /// The `http` and `https` listeners, by the port the file asked for.
    listeners: Mutex<[Option<Listener>; 2]>,
}

impl Ingress {
    /// Loads the file (missing = empty) and starts its listeners.
    pub(crate) fn start(path: PathBuf, host: IpAddr) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let tls = tls::server_config(Arc::clone(&shared)).map_err(io::Error::other)?;
        let ingress = Self {
            shared,
            tls,
            path,
            host,
            listeners: Mutex::new([None, None]),
        };
        ingress.reload();
        let weak = Arc::downgrade(&ingress.shared);
        std::thread::spawn(move || {
            // Closes idle upstream connections that outlived their time; ends with the ingress.
            loop {
                std::thread::sleep(pool::IDLE / 4);
                let Some(shared) = weak.upgrade() else { return };
                shared.pool.expire();
            }
        });
        Ok(ingress)
    }

    /// Re-reads the file; on success swaps the snapshot in and matches the listeners to it.
    /// Problems go to stderr: this runs from a signal, with no one to return them to.
    pub(crate) fn reload(&self) {
        let Some(text) = crate::conf::read("ingress", &self.path) else {
            return;
        };
        let config = match Config::parse(&text) {
            Ok(config) => config,
            Err(error) => {
                eprintln!(
                    "ingress: {} {error}; keeping the previous configuration",
                    self.path.display()
                );
                return;
            }
        };
        let (certs, problems) = tls::Certs::load(&config.certs);
        for problem in &problems {
            eprintln!("ingress: certificate left out: {problem}");
        }
        let endpoints = config
            .routes
            .iter()
            .map(|route| &route.backend)
            .chain(&config.default)
            .flat_map(|backend| backend.endpoints.iter().copied())
            .collect();
        self.shared.pool.retain(endpoints);
        self.shared.swap(Snapshot {
            table: routing::Table::new(&config),
            certs,
        });
        // Logged once in force: tests (and people) take the line as "reloaded".
        eprintln!(
            "ingress: {} from {}",
            config.summary(problems.len()),
            self.path.display()
        );
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (slot, (port, scheme)) in listeners
            .iter_mut()
            .zip([(config.http, Scheme::Http), (config.https, Scheme::Https)])
        {
            if slot.as_ref().map(|l| l.configured) == port {
                continue;
            }
            if let Some(old) = slot.take() {
                old.stop();
            }
            let Some(port) = port else { continue };
            match self.listen(port, scheme) {
                Ok(listener) => {
                    eprintln!("ingress: {} listening on {}", scheme.name(), listener.addr);
                    *slot = Some(listener);
                }
                Err(error) => eprintln!(
                    "ingress: cannot listen for {} on {}:{port}: {error}",
                    scheme.name(),
                    self.host
                ),
            }
        }
    }

    fn listen(&self, port: u16, scheme: Scheme) -> io::Result<Listener> {
        let socket = TcpListener::bind(SocketAddr::new(self.host, port))?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let shared = Arc::clone(&self.shared);
        let tls = Arc::clone(&self.tls);
        std::thread::spawn(move || {
            for stream in socket.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let stream = match stream {
                    Ok(stream) => stream,
                    Err(_) => {
                        // Out of descriptors, or a connection reset before accept: pause.
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let shared = Arc::clone(&shared);
                let tls = Arc::clone(&tls);
                std::thread::spawn(move || proxy::serve(stream, scheme, &shared, &tls));
            }
        });
        Ok(Listener {
            configured: port,
            addr,
            stop,
        })
    }

    /// The bound address of the `http` or `https` listener.
    #[cfg(test)]
    pub(crate) fn addr(&self, scheme: Scheme) -> Option<SocketAddr> {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners[scheme as usize].as_ref().map(|l| l.addr)
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for listener in listeners.iter_mut().filter_map(Option::take) {
            listener.stop();
        }
    }
}

/// An accepting thread; connections it accepted outlive it.
struct Listener {
    configured: u16,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Listener {
    /// Tells the thread to stop and wakes its `accept` with a connection of our own.
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
    }
}
