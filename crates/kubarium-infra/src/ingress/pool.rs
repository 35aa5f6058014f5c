//! Idle keep-alive connections to endpoints, kept for the next request to the same endpoint
//! (as nginx's `keepalive` and Envoy's connection pools do).
//!
//! - Keyed by endpoint address, at most [`PER_ENDPOINT`] idle connections each (the oldest
//!   goes when a newer one arrives), each closed after [`IDLE`] unused (checked on every
//!   checkout and by [`Pool::expire`], which a sweeping thread calls).
//! - A connection is handed out most recently used first, after a non-blocking peek: one the
//!   endpoint closed (EOF, reset) or that has unexpected bytes waiting is dropped instead.
//! - [`Pool::retain`] is called on each reload with the new configuration's endpoints: idle
//!   connections to the others are closed, and connections that finish a request later to an
//!   endpoint no longer configured are not taken back.
//!
//! The proxy decides what may come back (see `proxy`): only a connection whose response was
//! read completely, with known framing, where neither side asked to close.
//!
//! Why: a new connection per request held the ingress to about 15 % of a direct connection's
//! throughput on loopback (8 keep-alive clients, `kubarium-infra load`); pooled, about 45 %.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The most idle connections kept per endpoint.
pub(crate) const PER_ENDPOINT: usize = 32;
/// How long an idle connection is kept.
pub(crate) const IDLE: Duration = Duration::from_secs(45);

#[derive(Debug, Default)]
pub(crate) struct Pool {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The endpoints of the configuration in force; `None` before the first load (anything).
    known: Option<HashSet<SocketAddr>>,
    /// Idle connections per endpoint, oldest first, with when they went idle.
    idle: HashMap<SocketAddr, Vec<(TcpStream, Instant)>>,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection to `endpoint` that still looks open, if there is one.
    pub(crate) fn take(&self, endpoint: SocketAddr) -> Option<TcpStream> {
        loop {
            let (stream, since) = {
                let mut inner = self.lock();
                let list = inner.idle.get_mut(&endpoint)?;
                let entry = list.pop();
                if list.is_empty() {
                    inner.idle.remove(&endpoint);
                }
                entry?
            };
            // Closed outside the lock: a FIN/RST costs a syscall or two.
            if since.elapsed() < IDLE && crate::sys::nothing_to_read(&stream) {
                return Some(stream);
            }
        }
    }

    /// Takes back a connection whose exchange ended cleanly.
    pub(crate) fn put(&self, endpoint: SocketAddr, stream: TcpStream) {
        let mut inner = self.lock();
        if inner.known.as_ref().is_some_and(|k| !k.contains(&endpoint)) {
            return;
        }
        let list = inner.idle.entry(endpoint).or_default();
        if list.len() >= PER_ENDPOINT {
            list.remove(0);
        }
        list.push((stream, Instant::now()));
    }

    /// Keeps only connections to `endpoints` (a reload's), now and for later returns.
    pub(crate) fn retain(&self, endpoints: HashSet<SocketAddr>) {
        let dropped: Vec<_> = {
            let mut inner = self.lock();
            let gone: Vec<SocketAddr> = inner
                .idle
                .keys()
                .filter(|e| !endpoints.contains(e))
                .copied()
                .collect();
            inner.known = Some(endpoints);
            gone.iter().filter_map(|e| inner.idle.remove(e)).collect()
        };
        drop(dropped);
    }

    /// Closes connections idle for longer than [`IDLE`].
    pub(crate) fn expire(&self) {
        let mut expired = Vec::new();
        {
            let mut inner = self.lock();
            for list in inner.idle.values_mut() {
                // Oldest first: the expired ones are a prefix.
                let keep_from = list
                    .iter()
                    .position(|(_, since)| since.elapsed() < IDLE)
                    .unwrap_or(list.len());
                expired.extend(list.drain(..keep_from));
            }
            inner.idle.retain(|_, list| !list.is_empty());
        }
        drop(expired);
    }

    /// How many idle connections there are to `endpoint`.
    #[cfg(test)]
    pub(crate) fn idle(&self, endpoint: SocketAddr) -> usize {
        self.lock().idle.get(&endpoint).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn idle_connections_are_reused_bounded_checked_and_pruned() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = listener.local_addr().unwrap();
        let pool = Pool::default();
        let mut accepted = Vec::new();
        for _ in 0..PER_ENDPOINT + 2 {
            pool.put(endpoint, TcpStream::connect(endpoint).unwrap());
            accepted.push(listener.accept().unwrap().0);
        }
        assert_eq!(pool.idle(endpoint), PER_ENDPOINT);
        // The newest first; one the endpoint closed, or wrote to unasked, is skipped.
        drop(accepted.pop());
        accepted.last_mut().unwrap().write_all(b"x").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let stream = pool.take(endpoint).unwrap();
        assert_eq!(pool.idle(endpoint), PER_ENDPOINT - 3);
        pool.put(endpoint, stream);
        pool.retain(HashSet::from([endpoint]));
        assert_eq!(pool.idle(endpoint), PER_ENDPOINT - 2);
        pool.retain(HashSet::new());
        assert_eq!(pool.idle(endpoint), 0);
        pool.put(endpoint, TcpStream::connect(endpoint).unwrap());
        assert_eq!(pool.idle(endpoint), 0, "not configured: not taken back");
        assert!(pool.take(endpoint).is_none());
    }
}
