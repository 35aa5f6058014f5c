//! The endpointslice controller: `EndpointSlice`s (discovery.k8s.io/v1) for every Service with
//! a selector, as kube-controller-manager's endpointslice controller and the staging
//! `k8s.io/endpointslice` reconciler keep them: one group of slices per distinct set of
//! resolved ports, at most 100 endpoints per slice, endpoints kept in place when they only
//! change conditions, an empty placeholder slice when there are no endpoints, labels
//! `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`, and an owner
//! reference to the Service (so the garbage collector removes them with it). Terminating pods
//! stay, with `ready: false`, `serving` as their readiness and `terminating: true`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Client;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::task::JoinSet;

use super::{
    HEADLESS, LAST_CHANGE_TRIGGER_TIME, PodFields, PodServices, TriggerTimes, find_port,
    has_cluster_ip, is_ready, pod_ips, pods_for_service, rfc3339_nano, should_be_in_endpoints,
};
use crate::objects::Objects;
use crate::{Context, Error, Result};

/// The `managed-by` label value of slices this controller owns.
pub(crate) const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
const SERVICE_NAME: &str = "kubernetes.io/service-name";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// kube-controller-manager's `--max-endpoints-per-slice` default.
pub(crate) const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// Slices to write for a service: new ones (named by the API server from `generateName`),
/// changed ones, and ones to delete.
#[derive(Debug, Default)]
pub(crate) struct SlicePlan {
    pub(crate) create: Vec<EndpointSlice>,
    pub(crate) update: Vec<EndpointSlice>,
    pub(crate) delete: Vec<EndpointSlice>,
}

impl SlicePlan {
    fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// An endpoint's identity (upstream's endpoint hash): its addresses, hostname and pod.
type EndpointKey = (Vec<String>, String, String, String);

fn endpoint_key(endpoint: &Endpoint) -> EndpointKey {
    let mut addresses = endpoint.addresses.clone();
    addresses.sort();
    let target = endpoint.target_ref.as_ref();
    (
        addresses,
        endpoint.hostname.clone().unwrap_or_default(),
        target.and_then(|t| t.namespace.clone()).unwrap_or_default(),
        target.and_then(|t| t.name.clone()).unwrap_or_default(),
    )
}

/// The identity of a set of ports: sorted, as JSON.
fn ports_key(ports: &[EndpointPort]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| (&a.name, a.port, &a.protocol).cmp(&(&b.name, b.port, &b.protocol)));
    serde_json::to_string(&ports).unwrap_or_default()
}

/// Whether two endpoints with the same key differ (upstream's `EndpointsEqualBeyondHash`).
fn same_beyond_key(a: &Endpoint, b: &Endpoint) -> bool {
    let target = |e: &Endpoint| {
        e.target_ref.clone().map(|mut t| {
            t.resource_version = None;
            t
        })
    };
    a.node_name == b.node_name
        && a.zone == b.zone
        && a.conditions == b.conditions
        && target(a) == target(b)
}

/// The ports `pod` offers for `service`, resolved per pod.
fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let spec = service.spec.clone().unwrap_or_default();
    spec.ports
        .iter()
        .flatten()
        .filter_map(|port| {
            let number = find_port(pod, port)?;
            Some(EndpointPort {
                name: Some(port.name.clone().unwrap_or_default()),
                port: Some(number),
                protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
                app_protocol: port.app_protocol.clone(),
            })
        })
        .collect()
}

/// The endpoint for `pod` (upstream's `podToEndpoint`).
fn pod_endpoint(pod: &Pod, node: Option<&Node>, service: &Service, ipv6: bool) -> Endpoint {
    let serving = is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let fields = PodFields::of(pod, service);
    Endpoint {
        addresses: pod_ips(pod)
            .into_iter()
            .filter(|ip| ip.contains(':') == ipv6)
            .collect(),
        conditions: Some(EndpointConditions {
            ready: Some(publish || (serving && !terminating)),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: fields.hostname,
        node_name: fields.node_name,
        target_ref: Some(fields.target_ref),
        zone: node
            .and_then(|n| n.metadata.labels.as_ref())
            .and_then(|l| l.get("topology.kubernetes.io/zone"))
            .filter(|z| !z.is_empty())
            .cloned(),
        ..Endpoint::default()
    }
}

/// The labels a slice of `service` carries: the service's own (reserved keys aside), the
/// headless marker, the service name and the manager.
fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = service
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !reserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !has_cluster_ip(service) {
        labels.insert(HEADLESS.into(), String::new());
    }
    labels.insert(
        SERVICE_NAME.into(),
        service.metadata.name.clone().unwrap_or_default(),
    );
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    labels
}

fn reserved(key: &str) -> bool {
    key == SERVICE_NAME || key == MANAGED_BY || key == HEADLESS
}

fn owner_reference(service: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: service.metadata.name.clone().unwrap_or_default(),
        uid: service.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn owned_by(slice: &EndpointSlice, service: &Service) -> bool {
    slice.metadata.owner_references.iter().flatten().any(|o| {
        Some(&o.uid) == service.metadata.uid.as_ref()
            && o.kind == "Service"
            && o.api_version == "v1"
    })
}

fn new_slice(service: &Service, ports: Vec<EndpointPort>, address_type: &str) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-",
                service.metadata.name.clone().unwrap_or_default()
            )),
            namespace: service.metadata.namespace.clone(),
            labels: Some(slice_labels(service)),
            owner_references: Some(vec![owner_reference(service)]),
            ..ObjectMeta::default()
        },
        address_type: address_type.into(),
        endpoints: Vec::new(),
        ports: Some(ports).filter(|p| !p.is_empty()),
    }
}

/// The address types a service's slices have: its IP families (IPv4 by default).
fn address_types(service: &Service) -> Vec<&'static str> {
    let families = service
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.clone())
        .unwrap_or_default();
    let mut types: Vec<&'static str> = families
        .iter()
        .filter_map(|f| match f.as_str() {
            "IPv4" => Some("IPv4"),
            "IPv6" => Some("IPv6"),
            _ => None,
        })
        .collect();
    if types.is_empty() {
        types.push("IPv4");
    }
    types
}

/// What to write so `existing` (the slices labelled for this service and this controller)
/// represent `pods`. `node` looks a node up in the cache.
pub(crate) fn plan(
    service: &Service,
    pods: &[Arc<Pod>],
    node: impl Fn(&str) -> Option<Arc<Node>>,
    existing: &[Arc<EndpointSlice>],
    max: usize,
) -> SlicePlan {
    let mut result = SlicePlan::default();
    let types = address_types(service);
    for slice in existing {
        if !types.contains(&slice.address_type.as_str()) {
            result.delete.push((**slice).clone());
        }
    }
    for address_type in types {
        let mine: Vec<&EndpointSlice> = existing
            .iter()
            .map(|s| s.as_ref())
            .filter(|s| s.address_type == address_type)
            .collect();
        let part = plan_address_type(service, pods, &node, &mine, address_type, max);
        result.create.extend(part.create);
        result.update.extend(part.update);
        result.delete.extend(part.delete);
    }
    result
}

fn plan_address_type(
    service: &Service,
    pods: &[Arc<Pod>],
    node: &impl Fn(&str) -> Option<Arc<Node>>,
    existing: &[&EndpointSlice],
    address_type: &str,
    max: usize,
) -> SlicePlan {
    let ipv6 = address_type == "IPv6";
    let publish = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let mut delete: Vec<EndpointSlice> = Vec::new();
    let mut existing_by_ports: BTreeMap<String, Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        if owned_by(slice, service) {
            existing_by_ports
                .entry(ports_key(slice.ports.as_deref().unwrap_or_default()))
                .or_default()
                .push(slice);
        } else {
            delete.push((*slice).clone());
        }
    }
    // Desired endpoints, grouped by their resolved ports.
    let mut desired: BTreeMap<String, (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>)> =
        BTreeMap::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(service, pod);
        let node_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let found = node(&node_name);
        if found.is_none() && !publish {
            // Upstream skips pods on nodes it cannot find (the pod garbage collector will
            // remove them) unless the service publishes not-ready addresses.
            continue;
        }
        let endpoint = pod_endpoint(pod, found.as_deref(), service, ipv6);
        if endpoint.addresses.is_empty() {
            continue;
        }
        let entry = desired
            .entry(ports_key(&ports))
            .or_insert_with(|| (ports, BTreeMap::new()));
        entry.1.insert(endpoint_key(&endpoint), endpoint);
    }
    let mut create = Vec::new();
    let mut update = Vec::new();
    for (key, (ports, mut wanted)) in desired.clone() {
        let slices = existing_by_ports.get(&key).cloned().unwrap_or_default();
        let mut unchanged: Vec<EndpointSlice> = Vec::new();
        let mut changed: Vec<EndpointSlice> = Vec::new();
        // 1. Keep wanted endpoints where they are; drop the rest.
        for slice in slices {
            let mut kept = Vec::new();
            let mut endpoint_changed = false;
            for endpoint in &slice.endpoints {
                if let Some(want) = wanted.remove(&endpoint_key(endpoint)) {
                    endpoint_changed |= !same_beyond_key(&want, endpoint);
                    kept.push(want);
                }
            }
            let labels = slice_labels(service);
            let labels_changed = slice.metadata.labels.as_ref() != Some(&labels);
            if endpoint_changed || kept.len() != slice.endpoints.len() {
                if kept.is_empty() {
                    delete.push(slice.clone());
                } else {
                    let mut next = slice.clone();
                    next.endpoints = kept;
                    next.metadata.labels = Some(labels);
                    changed.push(next);
                }
            } else if labels_changed {
                let mut next = slice.clone();
                next.metadata.labels = Some(labels);
                changed.push(next);
            } else {
                unchanged.push(slice.clone());
            }
        }
        // 2. Fill slices being updated anyway, fullest first.
        changed.sort_by_key(|s| std::cmp::Reverse(s.endpoints.len()));
        for slice in &mut changed {
            while slice.endpoints.len() < max {
                let Some((_, endpoint)) = wanted.pop_first() else {
                    break;
                };
                slice.endpoints.push(endpoint);
            }
        }
        // 3. Fit what is left into an unchanged slice with room, else new slices.
        while !wanted.is_empty() {
            let fill = (wanted.len() < max)
                .then(|| {
                    unchanged
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.endpoints.len() + wanted.len() <= max)
                        .max_by_key(|(_, s)| s.endpoints.len())
                        .map(|(i, _)| i)
                })
                .flatten();
            let mut slice = match fill {
                Some(i) => unchanged.remove(i),
                None => new_slice(service, ports.clone(), address_type),
            };
            while slice.endpoints.len() < max {
                let Some((_, endpoint)) = wanted.pop_first() else {
                    break;
                };
                slice.endpoints.push(endpoint);
            }
            if slice.metadata.name.is_some() {
                changed.push(slice);
            } else {
                create.push(slice);
            }
        }
        update.extend(changed);
    }
    // Port sets no longer wanted.
    for (key, slices) in &existing_by_ports {
        if !desired.contains_key(key) {
            delete.extend(slices.iter().map(|s| (*s).clone()));
        }
    }
    // No endpoints at all: an empty placeholder slice.
    if existing.len() == delete.len() && create.is_empty() {
        let placeholder = new_slice(service, Vec::new(), address_type);
        let keep = delete.len() == 1 && is_placeholder_of(&delete[0], &placeholder);
        if keep {
            delete.clear();
        } else {
            create.push(placeholder);
        }
    }
    // Reuse slices about to be deleted instead of creating new ones.
    while !create.is_empty() {
        let Some(i) = delete
            .iter()
            .position(|s| s.address_type == address_type && owned_by(s, service))
        else {
            break;
        };
        let old = delete.remove(i);
        let mut slice = create
            .pop()
            .unwrap_or_else(|| unreachable!("checked not empty"));
        slice.metadata.name = old.metadata.name.clone();
        slice.metadata.generate_name = None;
        slice.metadata.resource_version = old.metadata.resource_version.clone();
        slice.metadata.annotations = old.metadata.annotations.clone();
        update.push(slice);
    }
    SlicePlan {
        create,
        update,
        delete,
    }
}

/// Whether `slice` is already the placeholder `wanted` (the fields upstream compares).
fn is_placeholder_of(slice: &EndpointSlice, wanted: &EndpointSlice) -> bool {
    slice.metadata.namespace == wanted.metadata.namespace
        && slice.metadata.labels == wanted.metadata.labels
        && slice.metadata.owner_references == wanted.metadata.owner_references
        && slice.endpoints.is_empty()
        && slice.ports.as_ref().is_none_or(Vec::is_empty)
        && slice.address_type == wanted.address_type
}

struct State {
    client: Client,
    pods: Store<Pod>,
    nodes: Store<Node>,
    slices: Store<EndpointSlice>,
    triggers: TriggerTimes,
    /// Per service: what the cache must show before the next sync may trust it (upstream's
    /// EndpointSliceTracker) — slices created (names), replaced versions, deleted names.
    expected: Mutex<HashMap<(String, String), Expected>>,
}

#[derive(Default)]
struct Expected {
    created: HashSet<String>,
    replaced: HashSet<String>,
    deleted: HashSet<String>,
}

pub(super) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let services = ctx.informers.store::<Service>();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        pods: ctx.informers.store::<Pod>(),
        nodes: ctx.informers.store::<Node>(),
        slices: ctx.informers.store::<EndpointSlice>(),
        triggers: TriggerTimes::default(),
        expected: Mutex::default(),
    });
    let changed = PodServices::new(services.clone());
    let deleted = changed.clone();
    let controller = Controller::for_shared_stream(ctx.informers.subscribe::<Service>(), services)
        .with_config(ControllerConfig::default().concurrency(4))
        .watches_shared_stream(ctx.informers.subscribe::<Pod>(), move |pod| {
            changed.changed(&pod)
        })
        .watches_shared_stream(ctx.informers.deletions::<Pod>(), move |pod| {
            deleted.deleted(&pod)
        })
        .watches_shared_stream(ctx.informers.subscribe::<EndpointSlice>(), slice_service)
        .watches_shared_stream(ctx.informers.deletions::<EndpointSlice>(), slice_service);
    tasks.spawn(
        controller
            .run(reconcile, error_policy, state)
            .for_each(|_| async {}),
    );
}

/// The service a slice of this controller belongs to.
fn slice_service(slice: Arc<EndpointSlice>) -> Option<ObjectRef<Service>> {
    let labels = slice.metadata.labels.as_ref()?;
    if labels.get(MANAGED_BY).map(String::as_str) != Some(CONTROLLER_NAME) {
        return None;
    }
    let name = labels.get(SERVICE_NAME)?;
    Some(ObjectRef::new(name).within(slice.metadata.namespace.as_deref()?))
}

async fn reconcile(service: Arc<Service>, state: Arc<State>) -> Result<Action> {
    let spec = service.spec.clone().unwrap_or_default();
    if spec.type_.as_deref() == Some("ExternalName") || spec.selector.is_none() {
        return Ok(Action::await_change());
    }
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone().unwrap_or_default();
    let key = (namespace.clone(), name.clone());
    let existing: Vec<Arc<EndpointSlice>> = state
        .slices
        .state()
        .into_iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|s| {
            let labels = s.metadata.labels.as_ref();
            labels.and_then(|l| l.get(SERVICE_NAME)) == Some(&name)
                && labels.and_then(|l| l.get(MANAGED_BY)).map(String::as_str)
                    == Some(CONTROLLER_NAME)
        })
        .collect();
    if stale(&state, &key, &existing) {
        return Ok(Action::requeue(Duration::from_millis(100)));
    }
    let pods = pods_for_service(&state.pods, &service);
    let trigger = state.triggers.compute(&service, &pods);
    let nodes = state.nodes.clone();
    let plan = plan(
        &service,
        &pods,
        |name| nodes.get(&ObjectRef::new(name)),
        &existing,
        MAX_ENDPOINTS_PER_SLICE,
    );
    if plan.is_empty() {
        return Ok(Action::await_change());
    }
    write(&state, &service, &key, plan, trigger).await?;
    Ok(Action::await_change())
}

/// Whether the cache has not caught up with this controller's last writes for `key`.
fn stale(state: &State, key: &(String, String), existing: &[Arc<EndpointSlice>]) -> bool {
    let mut expected = state.expected.lock().unwrap_or_else(|e| e.into_inner());
    let Some(wait) = expected.get_mut(key) else {
        return false;
    };
    let names: HashSet<&str> = existing
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    let versions: HashSet<&str> = existing
        .iter()
        .filter_map(|s| s.metadata.resource_version.as_deref())
        .collect();
    wait.created.retain(|n| !names.contains(n.as_str()));
    wait.replaced.retain(|v| versions.contains(v.as_str()));
    wait.deleted.retain(|n| names.contains(n.as_str()));
    let stale = !(wait.created.is_empty() && wait.replaced.is_empty() && wait.deleted.is_empty());
    if !stale {
        expected.remove(key);
    }
    stale
}

fn annotate(slice: &mut EndpointSlice, trigger: Option<Timestamp>) {
    let annotations = slice.metadata.annotations.get_or_insert_with(BTreeMap::new);
    match trigger {
        Some(time) => {
            annotations.insert(LAST_CHANGE_TRIGGER_TIME.into(), rfc3339_nano(time));
        }
        None => {
            annotations.remove(LAST_CHANGE_TRIGGER_TIME);
        }
    }
}

async fn write(
    state: &State,
    service: &Service,
    key: &(String, String),
    plan: SlicePlan,
    trigger: Option<Timestamp>,
) -> Result<()> {
    let (namespace, name) = key;
    let api = Objects::<EndpointSlice>::namespaced(state.client.clone(), namespace);
    let what = format!("endpointslices for service {namespace}/{name}");
    let mut expected = Expected::default();
    let mut outcome = Ok(());
    // No new slices for a service being deleted: the garbage collector is removing them.
    if service.metadata.deletion_timestamp.is_none() {
        for mut slice in plan.create {
            annotate(&mut slice, trigger);
            match api.create(&PostParams::default(), &slice).await {
                Ok(created) => {
                    expected.created.extend(created.metadata.name);
                }
                Err(kube::Error::Api(status)) if super::subsets::terminating(&status) => {}
                Err(error) => {
                    outcome = Err(Error::api("create", what.clone())(error));
                    break;
                }
            }
        }
    }
    if outcome.is_ok() {
        for mut slice in plan.update {
            annotate(&mut slice, trigger);
            let slice_name = slice.metadata.name.clone().unwrap_or_default();
            let before = slice.metadata.resource_version.clone();
            match api
                .replace(&slice_name, &PostParams::default(), &slice)
                .await
            {
                Ok(_) => expected.replaced.extend(before),
                Err(error) => {
                    outcome = Err(Error::api("update", what.clone())(error));
                    break;
                }
            }
        }
    }
    if outcome.is_ok() {
        for slice in plan.delete {
            let slice_name = slice.metadata.name.clone().unwrap_or_default();
            match api.delete(&slice_name, &DeleteParams::default()).await {
                Ok(_) => {
                    expected.deleted.insert(slice_name);
                }
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => {
                    outcome = Err(Error::api("delete", what.clone())(error));
                    break;
                }
            }
        }
    }
    let mut all = state.expected.lock().unwrap_or_else(|e| e.into_inner());
    let wait = all.entry(key.clone()).or_default();
    wait.created.extend(expected.created);
    wait.replaced.extend(expected.replaced);
    wait.deleted.extend(expected.deleted);
    outcome
}

fn error_policy(_service: Arc<Service>, error: &Error, _state: Arc<State>) -> Action {
    tracing::debug!(%error, "endpointslice sync failed; retrying");
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

    fn node(_: &str) -> Option<Arc<Node>> {
        Some(Arc::new(Node::default()))
    }

    /// The slices as the API server would store them after `plan` is applied.
    fn apply(existing: Vec<Arc<EndpointSlice>>, plan: SlicePlan) -> Vec<Arc<EndpointSlice>> {
        let deleted: HashSet<_> = plan
            .delete
            .iter()
            .map(|s| s.metadata.name.clone())
            .collect();
        let updated: HashMap<_, _> = plan
            .update
            .into_iter()
            .map(|s| (s.metadata.name.clone(), s))
            .collect();
        let mut slices: Vec<Arc<EndpointSlice>> = existing
            .into_iter()
            .filter(|s| !deleted.contains(&s.metadata.name))
            .map(|s| {
                Arc::new(
                    updated
                        .get(&s.metadata.name)
                        .cloned()
                        .unwrap_or((*s).clone()),
                )
            })
            .collect();
        for (i, mut slice) in plan.create.into_iter().enumerate() {
            slice.metadata.name = Some(format!("web-{}{i}", slices.len()));
            slices.push(Arc::new(slice));
        }
        slices
    }

    #[test]
    fn a_service_without_pods_gets_a_placeholder_once() {
        let svc = service(IntOrString::Int(80));
        let first = plan(&svc, &[], node, &[], 100);
        assert_eq!(first.create.len(), 1);
        let placeholder = &first.create[0];
        assert!(placeholder.endpoints.is_empty());
        assert_eq!(placeholder.address_type, "IPv4");
        assert_eq!(placeholder.metadata.generate_name.as_deref(), Some("web-"));
        let labels = placeholder.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[SERVICE_NAME], "web");
        assert_eq!(labels[MANAGED_BY], CONTROLLER_NAME);
        assert_eq!(labels["team"], "a");
        let stored = apply(Vec::new(), first);
        assert!(plan(&svc, &[], node, &stored, 100).is_empty());
    }

    #[test]
    fn endpoints_follow_readiness_in_place() {
        let svc = service(IntOrString::String("http".into()));
        let pods = vec![
            Arc::new(pod("a", "10.0.0.1", true, 8080)),
            Arc::new(pod("b", "10.0.0.2", false, 8080)),
        ];
        let first = plan(&svc, &pods, node, &[], 100);
        let stored = apply(Vec::new(), first);
        assert_eq!(stored.len(), 1);
        let slice = &stored[0];
        assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(8080));
        let ready: Vec<_> = slice
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.addresses[0].as_str(),
                    e.conditions.as_ref().unwrap().ready,
                )
            })
            .collect();
        assert_eq!(ready, [("10.0.0.1", Some(true)), ("10.0.0.2", Some(false))]);
        assert!(plan(&svc, &pods, node, &stored, 100).is_empty());
        let now_ready = vec![
            Arc::new(pod("a", "10.0.0.1", true, 8080)),
            Arc::new(pod("b", "10.0.0.2", true, 8080)),
        ];
        let next = plan(&svc, &now_ready, node, &stored, 100);
        assert!(next.create.is_empty() && next.delete.is_empty());
        assert_eq!(next.update[0].metadata.name, slice.metadata.name);
        // Deleting every pod leaves the placeholder, reusing the slice.
        let stored = apply(stored, next);
        let empty = plan(&svc, &[], node, &stored, 100);
        assert!(empty.create.is_empty() && empty.delete.is_empty());
        assert!(empty.update[0].endpoints.is_empty());
    }

    #[test]
    fn terminating_pods_stay_not_ready_but_serving() {
        let svc = service(IntOrString::Int(80));
        let mut p = pod("a", "10.0.0.1", true, 80);
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            Timestamp::now(),
        ));
        let made = plan(&svc, &[Arc::new(p)], node, &[], 100);
        let conditions = made.create[0].endpoints[0].conditions.clone().unwrap();
        assert_eq!(
            (conditions.ready, conditions.serving, conditions.terminating),
            (Some(false), Some(true), Some(true))
        );
    }

    #[test]
    fn at_most_max_endpoints_per_slice() {
        let svc = service(IntOrString::Int(80));
        let pods: Vec<_> = (0..250)
            .map(|i| {
                Arc::new(pod(
                    &format!("p{i}"),
                    &format!("10.0.{}.{}", i / 200, i % 200),
                    true,
                    80,
                ))
            })
            .collect();
        let made = plan(&svc, &pods, node, &[], 100);
        let sizes: Vec<_> = made.create.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let stored = apply(Vec::new(), made);
        assert!(plan(&svc, &pods, node, &stored, 100).is_empty());
    }

    #[test]
    fn pods_on_missing_nodes_are_skipped() {
        let svc = service(IntOrString::Int(80));
        let pods = vec![Arc::new(pod("a", "10.0.0.1", true, 80))];
        let made = plan(&svc, &pods, |_| None, &[], 100);
        assert!(made.create[0].endpoints.is_empty());
    }
}
