//! The endpoints controller: one `Endpoints` object per Service with a selector, named after
//! it, its subsets holding ready pods in `addresses` and the others in `notReadyAddresses`
//! (all in `addresses` when the service publishes not-ready addresses), packed into subsets
//! of pods that share the same ports, at most 1,000 addresses (over that, the
//! `endpoints.kubernetes.io/over-capacity: truncated` annotation), as upstream's
//! `pkg/controller/endpoint` does. Services without a selector are left to whoever writes
//! their endpoints; an `Endpoints` whose service is deleted goes with it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};
use tokio::task::JoinSet;

use super::{
    HEADLESS, LAST_CHANGE_TRIGGER_TIME, PodFields, PodServices, TriggerTimes, find_port,
    has_cluster_ip, is_ready, pod_ips, pods_for_service, rfc3339_nano, should_be_in_endpoints,
};
use crate::events::Recorder;
use crate::objects::Objects;
use crate::{Context, Error, Result};

/// Upstream's `maxCapacity`: addresses kept in one Endpoints object.
const MAX_CAPACITY: usize = 1000;
const OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// The subsets `service` should have for `pods` (already those its selector matches).
pub(crate) fn desired_subsets(service: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let spec = service.spec.clone().unwrap_or_default();
    let publish = spec.publish_not_ready_addresses.unwrap_or(false);
    let ports = spec.ports.clone().unwrap_or_default();
    let headless = spec.cluster_ip.as_deref() == Some("None");
    // (port, or none for a headless service without ports) → address key → (address, ready)
    let mut by_port: BTreeMap<Option<PortKey>, Addresses> = BTreeMap::new();
    let family_v6 = spec
        .ip_families
        .as_ref()
        .and_then(|f| f.first())
        .is_some_and(|f| f == "IPv6");
    for pod in pods {
        if !should_be_in_endpoints(pod, publish) {
            continue;
        }
        let Some(ip) = pod_ips(pod)
            .into_iter()
            .find(|ip| ip.contains(':') == family_v6)
        else {
            continue;
        };
        let fields = PodFields::of(pod, service);
        let address = EndpointAddress {
            ip: ip.clone(),
            hostname: fields.hostname,
            node_name: fields.node_name,
            target_ref: Some(fields.target_ref),
        };
        let ready = publish || is_ready(pod);
        let key = (ip, pod.metadata.uid.clone().unwrap_or_default());
        let mut add = |port: Option<PortKey>| {
            let entry = by_port
                .entry(port)
                .or_default()
                .entry(key.clone())
                .or_insert_with(|| (address.clone(), ready));
            // Not ready trumps ready.
            entry.1 = entry.1 && ready;
        };
        if ports.is_empty() {
            if headless {
                add(None);
            }
            continue;
        }
        for port in &ports {
            if let Some(number) = find_port(pod, port) {
                add(Some(PortKey {
                    name: port.name.clone().unwrap_or_default(),
                    port: number,
                    protocol: port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    app_protocol: port.app_protocol.clone(),
                }));
            }
        }
    }
    // Pods offering the same ports share a subset (upstream's RepackSubsets).
    let mut by_addresses: BTreeMap<Vec<AddressKey>, Subset> = BTreeMap::new();
    for (port, addresses) in by_port {
        let key: Vec<_> = addresses
            .iter()
            .map(|(k, (_, r))| (k.clone(), *r))
            .collect();
        let entry = by_addresses.entry(key).or_insert_with(|| {
            let (ready, not_ready): (Vec<_>, Vec<_>) =
                addresses.values().cloned().partition(|(_, r)| *r);
            (
                ready.into_iter().map(|(a, _)| a).collect(),
                not_ready.into_iter().map(|(a, _)| a).collect(),
                Vec::new(),
            )
        });
        if let Some(port) = port {
            entry.2.push(EndpointPort {
                name: Some(port.name).filter(|n| !n.is_empty()),
                port: port.port,
                protocol: Some(port.protocol),
                app_protocol: port.app_protocol,
            });
        }
    }
    let mut subsets: Vec<EndpointSubset> = by_addresses
        .into_values()
        .map(|(ready, not_ready, ports)| EndpointSubset {
            addresses: Some(ready).filter(|a| !a.is_empty()),
            not_ready_addresses: Some(not_ready).filter(|a| !a.is_empty()),
            ports: Some(ports).filter(|p| !p.is_empty()),
        })
        .collect();
    subsets.sort_by_key(|s| {
        s.ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone(), p.port, p.protocol.clone()))
            .collect::<Vec<_>>()
    });
    subsets
}

/// Addresses by (ip, pod uid), with whether each is ready.
type Addresses = BTreeMap<(String, String), (EndpointAddress, bool)>;
/// An address's identity and readiness, for grouping ports by the addresses that offer them.
type AddressKey = ((String, String), bool);
/// A subset being built: ready addresses, not-ready addresses, ports.
type Subset = (
    Vec<EndpointAddress>,
    Vec<EndpointAddress>,
    Vec<EndpointPort>,
);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PortKey {
    name: String,
    port: i32,
    protocol: String,
    app_protocol: Option<String>,
}

/// Keeps at most [`MAX_CAPACITY`] addresses, ready ones first, spread over the subsets in
/// proportion (upstream's `truncateEndpoints`). Returns whether anything was cut.
fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let ready: usize = subsets
        .iter()
        .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
        .sum();
    let not_ready: usize = subsets
        .iter()
        .map(|s| s.not_ready_addresses.as_ref().map_or(0, Vec::len))
        .sum();
    if ready + not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready {
        (MAX_CAPACITY, ready)
    } else {
        (MAX_CAPACITY - ready, not_ready)
    };
    let mut left = max;
    for subset in subsets.iter_mut() {
        let list = if truncate_ready {
            subset.not_ready_addresses = None;
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let Some(addresses) = list.as_mut() else {
            continue;
        };
        let share = (addresses.len() * max).div_ceil(total).min(left);
        addresses.truncate(share);
        left -= addresses.len();
    }
    true
}

/// What the controller should write for `service`: `None` when `current` is up to date.
pub(crate) fn plan(
    service: &Service,
    pods: &[Arc<Pod>],
    current: Option<&Endpoints>,
    trigger: Option<Timestamp>,
) -> Option<Endpoints> {
    let mut subsets = desired_subsets(service, pods);
    let service_labels = service.metadata.labels.clone().unwrap_or_default();
    if let Some(current) = current {
        let mut labels = current.metadata.labels.clone().unwrap_or_default();
        labels.remove(HEADLESS);
        let count: usize = current
            .subsets
            .iter()
            .flatten()
            .map(|s| {
                s.addresses.as_ref().map_or(0, Vec::len)
                    + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
            })
            .sum();
        let capacity_ok = count <= MAX_CAPACITY
            && !current
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(OVER_CAPACITY));
        if normalized(current.subsets.clone().unwrap_or_default()) == subsets
            && labels == service_labels
            && capacity_ok
        {
            return None;
        }
    }
    let mut endpoints = current.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: service.metadata.name.clone(),
            namespace: service.metadata.namespace.clone(),
            ..ObjectMeta::default()
        },
        ..Endpoints::default()
    });
    let annotations = endpoints
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    match trigger {
        Some(time) => {
            annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), rfc3339_nano(time));
        }
        None => {
            annotations.remove(LAST_CHANGE_TRIGGER_TIME);
        }
    }
    if truncate(&mut subsets) {
        annotations.insert(OVER_CAPACITY.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY);
    }
    let mut labels = service_labels;
    if has_cluster_ip(service) {
        labels.remove(HEADLESS);
    } else {
        labels.insert(HEADLESS.into(), String::new());
    }
    endpoints.metadata.labels = Some(labels);
    endpoints.subsets = Some(subsets).filter(|s| !s.is_empty());
    Some(endpoints)
}

/// Stored subsets with empty lists as absent, for comparing with [`desired_subsets`].
fn normalized(subsets: Vec<EndpointSubset>) -> Vec<EndpointSubset> {
    subsets
        .into_iter()
        .map(|mut s| {
            s.addresses = s.addresses.filter(|a| !a.is_empty());
            s.not_ready_addresses = s.not_ready_addresses.filter(|a| !a.is_empty());
            s.ports = s.ports.filter(|p| !p.is_empty());
            for address in s
                .addresses
                .iter_mut()
                .flatten()
                .chain(s.not_ready_addresses.iter_mut().flatten())
            {
                if let Some(target) = address.target_ref.as_mut() {
                    target.resource_version = None;
                }
            }
            s
        })
        .collect()
}

struct State {
    client: Client,
    pods: Store<Pod>,
    endpoints: Store<Endpoints>,
    triggers: TriggerTimes,
    recorder: Recorder,
    /// Resource versions this controller replaced: a cache still holding one is stale
    /// (upstream's staleEndpointsTracker).
    replaced: Mutex<HashMap<(String, String), String>>,
}

pub(super) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let services = ctx.informers.store::<Service>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        pods: ctx.informers.store::<Pod>(),
        endpoints: ctx.informers.store::<Endpoints>(),
        triggers: TriggerTimes::default(),
        recorder: ctx.recorder("endpoint-controller"),
        replaced: Mutex::default(),
    });
    let changed = PodServices::new(services.clone());
    let deleted = changed.clone();
    let controller =
        Controller::for_shared_stream(ctx.informers.subscribe::<Service>(), services.clone())
            .with_config(ControllerConfig::default().concurrency(4))
            .watches_shared_stream(ctx.informers.subscribe::<Pod>(), move |pod| {
                changed.changed(&pod)
            })
            .watches_shared_stream(ctx.informers.deletions::<Pod>(), move |pod| {
                deleted.deleted(&pod)
            })
            .watches_shared_stream(ctx.informers.deletions::<Endpoints>(), |endpoints| {
                same_name(&endpoints.metadata)
            });
    let deleted_services = ctx.informers.deletions::<Service>();
    tasks.spawn(
        controller
            .run(reconcile, error_policy, state.clone())
            .for_each(|_| async {}),
    );
    tasks.spawn(follow_deletions(
        state.clone(),
        services.clone(),
        deleted_services,
    ));
    tasks.spawn(remove_leftovers(state));
}

/// The service an object named after one belongs to.
pub(super) fn same_name(meta: &ObjectMeta) -> Option<ObjectRef<Service>> {
    let name = meta.name.as_deref()?;
    let namespace = meta.namespace.as_deref()?;
    Some(ObjectRef::new(name).within(namespace))
}

/// Deletes the endpoints of each service as it goes.
async fn follow_deletions(
    state: Arc<State>,
    services: Store<Service>,
    deleted: impl futures_util::Stream<Item = Arc<Service>> + Send,
) {
    futures_util::pin_mut!(deleted);
    while let Some(service) = deleted.next().await {
        if let Some(key) = same_name(&service.metadata)
            && services.get(&key).is_none()
        {
            delete_endpoints(&state, &key).await;
        }
    }
}

/// Deletes endpoints left from services deleted before a start (upstream's
/// `checkLeftoverEndpoints`), from one list of each taken at start. (The shared caches'
/// `wait_until_ready` wakes only one of several waiters, so it cannot be relied on here.)
async fn remove_leftovers(state: Arc<State>) {
    let lists = || async {
        let services = Api::<Service>::all(state.client.clone())
            .list_metadata(&Default::default())
            .await?;
        let endpoints = Api::<Endpoints>::all(state.client.clone())
            .list_metadata(&Default::default())
            .await?;
        Ok::<_, kube::Error>((services.items, endpoints.items))
    };
    let (services, endpoints) = loop {
        match lists().await {
            Ok(lists) => break lists,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let existing: std::collections::HashSet<_> = services
        .iter()
        .filter_map(|s| same_name(&s.metadata))
        .collect();
    for endpoints in endpoints {
        let leader = endpoints
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("control-plane.alpha.kubernetes.io/leader"));
        if let Some(service) = same_name(&endpoints.metadata)
            && !leader
            && !existing.contains(&service)
        {
            delete_endpoints(&state, &service).await;
        }
    }
}

async fn delete_endpoints(state: &State, service: &ObjectRef<Service>) {
    let namespace = service.namespace.clone().unwrap_or_default();
    state.triggers.forget(&namespace, &service.name);
    let api = Objects::<Endpoints>::namespaced(state.client.clone(), &namespace);
    match api.delete(&service.name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(error) => tracing::warn!(%error, service = %service, "could not delete endpoints"),
    }
}

async fn reconcile(service: Arc<Service>, state: Arc<State>) -> Result<Action> {
    let spec = service.spec.clone().unwrap_or_default();
    if spec.type_.as_deref() == Some("ExternalName") || spec.selector.is_none() {
        // Not ours: such services get endpoints from elsewhere, or none.
        return Ok(Action::await_change());
    }
    let Some(key) = same_name(&service.metadata) else {
        return Ok(Action::await_change());
    };
    let namespace = key.namespace.clone().unwrap_or_default();
    let pods = pods_for_service(&state.pods, &service);
    let endpoints_key = ObjectRef::<Endpoints>::new(&key.name).within(&namespace);
    let current = state.endpoints.get(&endpoints_key);
    if let Some(current) = current.as_ref() {
        let replaced = state.replaced.lock().unwrap_or_else(|e| e.into_inner());
        if replaced.get(&(namespace.clone(), key.name.clone()))
            == current.metadata.resource_version.as_ref()
        {
            // Our last write has not reached the cache yet.
            return Ok(Action::requeue(Duration::from_millis(100)));
        }
    }
    // Only now: the trigger times are recorded as seen, so a pass that goes back to wait
    // for the cache must not take them (the next pass would then stamp none).
    let trigger = state.triggers.compute(&service, &pods);
    let Some(endpoints) = plan(&service, &pods, current.as_deref(), trigger) else {
        return Ok(Action::await_change());
    };
    let api = Objects::<Endpoints>::namespaced(state.client.clone(), &namespace);
    let what = format!("endpoints {namespace}/{}", key.name);
    let result = match current.as_ref() {
        None => api
            .create(&PostParams::default(), &endpoints)
            .await
            .map(|_| ()),
        Some(current) => api
            .replace(&key.name, &PostParams::default(), &endpoints)
            .await
            .map(|_| {
                if let Some(version) = current.metadata.resource_version.clone() {
                    let mut replaced = state.replaced.lock().unwrap_or_else(|e| e.into_inner());
                    replaced.insert((namespace.clone(), key.name.clone()), version);
                }
            }),
    };
    match result {
        Ok(()) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if current.is_none() && terminating(&status) => {
            // Creates keep failing in a terminating namespace: drop it.
            Ok(Action::await_change())
        }
        Err(error) => {
            let (reason, message) = if current.is_none() {
                (
                    "FailedToCreateEndpoint",
                    format!(
                        "Failed to create endpoint for service {namespace}/{}: {error}",
                        key.name
                    ),
                )
            } else {
                (
                    "FailedToUpdateEndpoint",
                    format!(
                        "Failed to update endpoint {namespace}/{}: {error}",
                        key.name
                    ),
                )
            };
            state.recorder.warning(&endpoints, reason, message);
            Err(Error::api(
                if current.is_none() {
                    "create"
                } else {
                    "update"
                },
                what,
            )(error))
        }
    }
}

/// Whether the API server refused a create because the namespace is being terminated.
pub(super) fn terminating(status: &kube::core::Status) -> bool {
    status.code == 403 && status.message.contains("because it is being terminated")
}

fn error_policy(_service: Arc<Service>, error: &Error, _state: Arc<State>) -> Action {
    tracing::debug!(%error, "endpoints sync failed; retrying");
    if error.is_conflict() {
        Action::requeue(Duration::from_millis(200))
    } else {
        Action::requeue(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::super::fixtures::{pod, service};
    use super::*;

    fn ips(addresses: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        addresses.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_pods_split() {
        let svc = service(IntOrString::Int(8080));
        let pods = vec![
            Arc::new(pod("b", "10.0.0.2", false, 8080)),
            Arc::new(pod("a", "10.0.0.1", true, 8080)),
        ];
        let subsets = desired_subsets(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.0.0.2"]);
        let port = &subsets[0].ports.as_ref().unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("http"), 8080));
        let address = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(address.node_name.as_deref(), Some("kubarium-worker"));
        assert_eq!(
            address.target_ref.as_ref().unwrap().name.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn publish_not_ready_puts_every_pod_in_addresses() {
        let mut svc = service(IntOrString::Int(8080));
        svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        let pods = vec![Arc::new(pod("b", "10.0.0.2", false, 8080))];
        let subsets = desired_subsets(&svc, &pods);
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.2"]);
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn named_ports_differing_per_pod_make_two_subsets() {
        let svc = service(IntOrString::String("http".into()));
        let pods = vec![
            Arc::new(pod("a", "10.0.0.1", true, 8080)),
            Arc::new(pod("b", "10.0.0.2", true, 9090)),
        ];
        let subsets = desired_subsets(&svc, &pods);
        let summary: Vec<_> = subsets
            .iter()
            .map(|s| (ips(&s.addresses), s.ports.as_ref().unwrap()[0].port))
            .collect();
        assert_eq!(
            summary,
            [(vec!["10.0.0.1"], 8080), (vec!["10.0.0.2"], 9090)]
        );
    }

    #[test]
    fn headless_without_ports_keeps_addresses() {
        let mut svc = service(IntOrString::Int(80));
        let spec = svc.spec.as_mut().unwrap();
        spec.ports = None;
        spec.cluster_ip = Some("None".into());
        let mut p = pod("web-0", "10.0.0.1", true, 80);
        let pod_spec = p.spec.as_mut().unwrap();
        pod_spec.hostname = Some("web-0".into());
        pod_spec.subdomain = Some("web".into());
        let planned = plan(&svc, &[Arc::new(p)], None, None).unwrap();
        let subsets = planned.subsets.unwrap();
        assert!(subsets[0].ports.is_none());
        let address = &subsets[0].addresses.as_ref().unwrap()[0];
        assert_eq!(address.hostname.as_deref(), Some("web-0"));
        assert_eq!(
            planned
                .metadata
                .labels
                .unwrap()
                .get(HEADLESS)
                .map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn unchanged_endpoints_are_not_written_again() {
        let svc = service(IntOrString::Int(8080));
        let pods = vec![Arc::new(pod("a", "10.0.0.1", true, 8080))];
        let first = plan(&svc, &pods, None, Timestamp::now().into()).unwrap();
        let mut stored = first.clone();
        stored.metadata.resource_version = Some("7".into());
        assert!(plan(&svc, &pods, Some(&stored), None).is_none());
        let unready = vec![Arc::new(pod("a", "10.0.0.1", false, 8080))];
        let next = plan(&svc, &unready, Some(&stored), None).unwrap();
        assert_eq!(
            ips(&next.subsets.unwrap()[0].not_ready_addresses),
            ["10.0.0.1"]
        );
        assert!(
            !next
                .metadata
                .annotations
                .unwrap()
                .contains_key(LAST_CHANGE_TRIGGER_TIME)
        );
    }

    #[test]
    fn over_capacity_truncates_not_ready_first() {
        let svc = service(IntOrString::Int(80));
        let pods: Vec<_> = (0..1100)
            .map(|i| {
                let ip = format!("10.1.{}.{}", i / 250, i % 250);
                Arc::new(pod(&format!("p{i}"), &ip, i < 950, 80))
            })
            .collect();
        let planned = plan(&svc, &pods, None, None).unwrap();
        let subsets = planned.subsets.unwrap();
        assert_eq!(subsets[0].addresses.as_ref().unwrap().len(), 950);
        assert_eq!(subsets[0].not_ready_addresses.as_ref().unwrap().len(), 50);
        assert_eq!(
            planned
                .metadata
                .annotations
                .unwrap()
                .get(OVER_CAPACITY)
                .map(String::as_str),
            Some("truncated")
        );
    }
}
