//! [`HollowPlane`]: a data plane that only keeps records, for hollow clusters and tests.
//! LoadBalancer and Ingress status work as on Docker (host ports are granted as asked, 0
//! becomes a made-up high port), and a host port two units ask for is refused as Docker
//! refuses it, so conflicts and their events can be seen without Docker.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::Result;
use crate::network::plane::{Applied, DataPlane, PlaneError, PublishedPort, UnitKey, UnitSpec};
use crate::runtime::BoxFuture;

/// Where made-up host ports start (above Linux's default ephemeral range).
const FIRST_FAKE_PORT: u16 = 61000;

/// A unit as the hollow plane holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HollowUnit {
    /// What was last applied.
    pub spec: UnitSpec,
    /// The ports granted.
    pub published: Vec<PublishedPort>,
    /// How many times it was applied (created or updated).
    pub applies: u64,
}

#[derive(Debug, Default)]
struct State {
    units: BTreeMap<UnitKey, HollowUnit>,
    next_fake: u16,
    /// Host ports taken by something outside the plane (tests).
    occupied: Vec<u16>,
}

/// A [`DataPlane`] whose units are records in memory.
#[derive(Debug, Default)]
pub struct HollowPlane {
    state: Mutex<State>,
}

impl HollowPlane {
    /// An empty plane.
    pub fn new() -> Self {
        Self::default()
    }

    /// The units that exist, by key.
    pub fn units_now(&self) -> BTreeMap<UnitKey, HollowUnit> {
        self.lock().units.clone()
    }

    /// The unit `key`, if it exists.
    pub fn unit(&self, key: &UnitKey) -> Option<HollowUnit> {
        self.lock().units.get(key).cloned()
    }

    /// Marks host port `port` taken by another program: units asking for it get
    /// [`PlaneError::PortInUse`] until [`HollowPlane::release`].
    pub fn occupy(&self, port: u16) {
        self.lock().occupied.push(port);
    }

    /// Frees a port [`HollowPlane::occupy`] took.
    pub fn release(&self, port: u16) {
        self.lock().occupied.retain(|p| *p != port);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply_now(&self, spec: UnitSpec) -> std::result::Result<Applied, PlaneError> {
        let mut state = self.lock();
        let previous = state.units.get(&spec.key).map(|u| u.published.clone());
        let mut published = Vec::with_capacity(spec.publish.len());
        for asked in &spec.publish {
            let host = if asked.host != 0 {
                asked.host
            } else if let Some(kept) = previous
                .iter()
                .flatten()
                .find(|p| p.container == asked.container && p.protocol == asked.protocol)
            {
                kept.host
            } else {
                if state.next_fake < FIRST_FAKE_PORT {
                    state.next_fake = FIRST_FAKE_PORT;
                }
                let port = state.next_fake;
                state.next_fake = state.next_fake.checked_add(1).unwrap_or(FIRST_FAKE_PORT);
                port
            };
            let taken_elsewhere = state.units.iter().any(|(key, unit)| {
                *key != spec.key
                    && unit
                        .published
                        .iter()
                        .any(|p| p.host == host && p.protocol == asked.protocol)
            });
            if taken_elsewhere || state.occupied.contains(&host) {
                return Err(PlaneError::PortInUse {
                    port: host,
                    message: "Bind for 127.0.0.1 failed: port is already allocated".to_owned(),
                });
            }
            published.push(PublishedPort { host, ..*asked });
        }
        let applies = state.units.get(&spec.key).map_or(0, |u| u.applies) + 1;
        state.units.insert(
            spec.key.clone(),
            HollowUnit {
                spec,
                published: published.clone(),
                applies,
            },
        );
        Ok(Applied { published })
    }
}

impl DataPlane for HollowPlane {
    fn apply(&self, spec: UnitSpec) -> BoxFuture<'_, std::result::Result<Applied, PlaneError>> {
        let result = self.apply_now(spec);
        Box::pin(async move { result })
    }

    fn remove(&self, key: UnitKey) -> BoxFuture<'_, Result<()>> {
        self.lock().units.remove(&key);
        Box::pin(async { Ok(()) })
    }

    fn units(&self) -> BoxFuture<'_, Result<Vec<UnitKey>>> {
        let keys = self.lock().units.keys().cloned().collect();
        Box::pin(async move { Ok(keys) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::plane::Protocol;

    fn spec(key: UnitKey, host: u16) -> UnitSpec {
        UnitSpec {
            key,
            ip: None,
            publish: vec![PublishedPort {
                host,
                container: 80,
                protocol: Protocol::Tcp,
            }],
            files: Vec::new(),
        }
    }

    #[tokio::test]
    async fn ports_are_granted_made_up_and_refused_when_taken() {
        let plane = HollowPlane::new();
        let applied = plane.apply(spec(UnitKey::Ingress, 0)).await.unwrap();
        assert_eq!(applied.published[0].host, FIRST_FAKE_PORT);
        // The same unit keeps its made-up port.
        let again = plane.apply(spec(UnitKey::Ingress, 0)).await.unwrap();
        assert_eq!(again.published[0].host, FIRST_FAKE_PORT);
        assert_eq!(plane.unit(&UnitKey::Ingress).unwrap().applies, 2);

        plane.apply(spec(UnitKey::Dns, 8080)).await.unwrap();
        let service = UnitKey::Service {
            namespace: "default".into(),
            name: "web".into(),
            uid: "1".into(),
        };
        let refused = plane.apply(spec(service.clone(), 8080)).await.unwrap_err();
        assert!(matches!(refused, PlaneError::PortInUse { port: 8080, .. }));
        plane.occupy(9090);
        assert!(plane.apply(spec(service.clone(), 9090)).await.is_err());
        plane.release(9090);
        plane.apply(spec(service.clone(), 9090)).await.unwrap();
        assert_eq!(plane.units().await.unwrap().len(), 3);
        plane.remove(service.clone()).await.unwrap();
        assert!(plane.unit(&service).is_none());
    }
}
