//! Choosing an endpoint: round robin, or sessionAffinity ClientIP as kube-proxy does it (a
//! client IP sticks to the endpoint it last used while it comes back within the timeout;
//! every new connection or flow renews the timer).
//!
//! One [`Balancer`] serves one `tcp`/`udp` line, shared by all its listening ports (the
//! service port and the nodePort reach the same Service port, as they do through
//! kube-proxy's chains). A reload builds new balancers and carries the affinity entries over
//! for endpoints that remain.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Past this many remembered clients, expired entries are dropped on the next insert.
const PRUNE_AT: usize = 4096;

pub(crate) struct Balancer {
    endpoints: Vec<SocketAddr>,
    next: AtomicUsize,
    affinity: Option<Affinity>,
}

struct Affinity {
    timeout: Duration,
    clients: Mutex<HashMap<IpAddr, Sticky>>,
}

#[derive(Clone, Copy)]
struct Sticky {
    endpoint: SocketAddr,
    used: Instant,
}

impl Balancer {
    pub(crate) fn new(endpoints: Vec<SocketAddr>, affinity: Option<Duration>) -> Self {
        Self {
            endpoints,
            next: AtomicUsize::new(0),
            affinity: affinity.map(|timeout| Affinity {
                timeout,
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A balancer for new endpoints that keeps `self`'s round-robin position and the
    /// affinity of clients whose endpoint is still among them.
    pub(crate) fn renewed(&self, endpoints: Vec<SocketAddr>, affinity: Option<Duration>) -> Self {
        let renewed = Self::new(endpoints, affinity);
        renewed
            .next
            .store(self.next.load(Ordering::Relaxed), Ordering::Relaxed);
        if let (Some(old), Some(new)) = (&self.affinity, &renewed.affinity) {
            let old = lock(&old.clients);
            let mut clients = lock(&new.clients);
            for (client, sticky) in old.iter() {
                if renewed.endpoints.contains(&sticky.endpoint) {
                    clients.insert(*client, *sticky);
                }
            }
        }
        renewed
    }

    pub(crate) fn endpoints(&self) -> &[SocketAddr] {
        &self.endpoints
    }

    /// The endpoints to try for a new connection or flow from `client`, best first: the
    /// client's sticky endpoint or the next in the round, then the others in order. Empty
    /// when there are none.
    pub(crate) fn candidates(&self, client: IpAddr) -> impl Iterator<Item = SocketAddr> + '_ {
        let count = self.endpoints.len();
        let start = if count == 0 {
            0
        } else {
            self.sticky(client)
                .and_then(|endpoint| self.endpoints.iter().position(|e| *e == endpoint))
                .unwrap_or_else(|| self.next.fetch_add(1, Ordering::Relaxed) % count)
        };
        (0..count).map(move |offset| self.endpoints[(start + offset) % count])
    }

    /// Records that `client` now uses `endpoint` (no-op without affinity).
    pub(crate) fn used(&self, client: IpAddr, endpoint: SocketAddr) {
        let Some(affinity) = &self.affinity else {
            return;
        };
        let now = Instant::now();
        let mut clients = lock(&affinity.clients);
        if clients.len() >= PRUNE_AT {
            clients.retain(|_, sticky| now.duration_since(sticky.used) < affinity.timeout);
        }
        clients.insert(
            client,
            Sticky {
                endpoint,
                used: now,
            },
        );
    }

    fn sticky(&self, client: IpAddr) -> Option<SocketAddr> {
        let affinity = self.affinity.as_ref()?;
        let clients = lock(&affinity.clients);
        let sticky = clients.get(&client)?;
        (sticky.used.elapsed() < affinity.timeout).then_some(sticky.endpoint)
    }
}

/// A poisoned lock only means another connection's thread panicked; the map is still sound.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(n: u16) -> Vec<SocketAddr> {
        (1..=n)
            .map(|i| SocketAddr::from(([10, 0, 0, 1], 8000 + i)))
            .collect()
    }

    fn client(last: u8) -> IpAddr {
        IpAddr::from([192, 168, 0, last])
    }

    fn first(balancer: &Balancer, from: IpAddr) -> Option<SocketAddr> {
        balancer.candidates(from).next()
    }

    #[test]
    fn round_robin_walks_the_endpoints_and_lists_the_rest_after() {
        let all = endpoints(3);
        let balancer = Balancer::new(all.clone(), None);
        let picks: Vec<_> = (0..6).map(|_| first(&balancer, client(1))).collect();
        let expected: Vec<_> = [0, 1, 2, 0, 1, 2].iter().map(|&i| Some(all[i])).collect();
        assert_eq!(picks, expected);
        let order: Vec<_> = balancer.candidates(client(1)).collect();
        assert_eq!(order, vec![all[0], all[1], all[2]]);
        let order: Vec<_> = balancer.candidates(client(1)).collect();
        assert_eq!(order, vec![all[1], all[2], all[0]]);
    }

    #[test]
    fn no_endpoints_no_candidates() {
        let balancer = Balancer::new(vec![], Some(Duration::from_secs(10)));
        assert_eq!(first(&balancer, client(1)), None);
    }

    #[test]
    fn affinity_sticks_until_the_timeout() {
        let all = endpoints(3);
        let balancer = Balancer::new(all.clone(), Some(Duration::from_millis(200)));
        let a = first(&balancer, client(1)).unwrap_or(all[0]);
        balancer.used(client(1), a);
        let b = first(&balancer, client(2)).unwrap_or(all[0]);
        balancer.used(client(2), b);
        assert_ne!(a, b);
        for _ in 0..5 {
            assert_eq!(first(&balancer, client(1)), Some(a));
            assert_eq!(first(&balancer, client(2)), Some(b));
        }
        std::thread::sleep(Duration::from_millis(250));
        // Expired: client 1 takes the next in the round (the third endpoint), not its old one.
        assert_ne!(first(&balancer, client(1)), Some(a));
    }

    #[test]
    fn a_reload_keeps_affinity_to_endpoints_that_remain() {
        let all = endpoints(3);
        let balancer = Balancer::new(all.clone(), Some(Duration::from_secs(60)));
        balancer.used(client(1), all[1]);
        balancer.used(client(2), all[2]);
        let renewed = balancer.renewed(vec![all[0], all[1]], Some(Duration::from_secs(60)));
        assert_eq!(first(&renewed, client(1)), Some(all[1]));
        assert_eq!(renewed.endpoints(), &[all[0], all[1]]);
        let other = first(&renewed, client(2));
        assert!(other == Some(all[0]) || other == Some(all[1]));
    }
}
