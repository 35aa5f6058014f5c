//! The endpoints and endpointslice controllers: for every Service with a selector, the
//! addresses of the pods it selects, as `Endpoints` ([`subsets`]) and as `EndpointSlice`s
//! ([`slices`]), the way kube-controller-manager's two controllers of those names keep them.
//!
//! What both share lives here: which pods belong in a service's endpoints, how a service port
//! resolves against a pod (by number, or by name through the pod's container ports), which
//! services a pod change concerns, and the `endpoints.kubernetes.io/last-change-trigger-time`
//! bookkeeping. Both read pods from the shared pod cache (one namespace's worth per sync,
//! never a list request).

mod slices;
mod subsets;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::task::JoinSet;

use crate::Context;

/// The annotation both controllers stamp with the time of the change that caused a write.
pub(crate) const LAST_CHANGE_TRIGGER_TIME: &str =
    "endpoints.kubernetes.io/last-change-trigger-time";
/// The label marking endpoints of a headless service.
pub(crate) const HEADLESS: &str = "service.kubernetes.io/headless";

/// Sets both controllers up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    subsets::start(ctx, tasks);
    slices::start(ctx, tasks);
}

/// Whether `pod` belongs in a service's endpoints at all (upstream's
/// `ShouldPodBeInEndpoints`): not finished, has an IP, and — unless terminating pods are
/// wanted — not being deleted.
pub(crate) fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    let status = pod.status.as_ref();
    if matches!(
        status.and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    ) {
        return false;
    }
    let has_ip = status.is_some_and(|s| {
        s.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty())
            || s.pod_ips.as_ref().is_some_and(|ips| !ips.is_empty())
    });
    if !has_ip {
        return false;
    }
    include_terminating || pod.metadata.deletion_timestamp.is_none()
}

/// Whether the pod's `Ready` condition is `True`.
pub(crate) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// The pod's IPs, `status.podIPs` first, `status.podIP` if that is empty.
pub(crate) fn pod_ips(pod: &Pod) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let ips: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.clone())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    status
        .pod_ip
        .iter()
        .filter(|ip| !ip.is_empty())
        .cloned()
        .collect()
}

/// Whether an endpoint for `pod` carries its hostname: the pod has one and its subdomain is
/// the service (as a StatefulSet's pods have for their governing service).
pub(crate) fn should_set_hostname(pod: &Pod, service: &Service) -> bool {
    let spec = pod.spec.as_ref();
    spec.and_then(|s| s.hostname.as_deref())
        .is_some_and(|h| !h.is_empty())
        && spec.and_then(|s| s.subdomain.as_deref()) == service.metadata.name.as_deref()
        && pod.metadata.namespace == service.metadata.namespace
}

/// The container port `port` reaches on `pod` (upstream's `FindPort`): a number as is; a
/// name through the pod's containers' named ports of the same protocol (sidecars included).
/// What an endpoint says of the pod behind it, the same in Endpoints and EndpointSlices:
/// its hostname (when the service publishes it), its node, and a reference to it.
pub(crate) struct PodFields {
    pub(crate) hostname: Option<String>,
    pub(crate) node_name: Option<String>,
    pub(crate) target_ref: ObjectReference,
}

impl PodFields {
    pub(crate) fn of(pod: &Pod, service: &Service) -> Self {
        let spec = pod.spec.as_ref();
        Self {
            hostname: should_set_hostname(pod, service)
                .then(|| spec.and_then(|s| s.hostname.clone()))
                .flatten(),
            node_name: spec
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty()),
            target_ref: ObjectReference {
                kind: Some("Pod".into()),
                namespace: pod.metadata.namespace.clone(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
                ..ObjectReference::default()
            },
        }
    }
}

pub(crate) fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match port.target_port.as_ref() {
        Some(IntOrString::Int(number)) => Some(*number),
        Some(IntOrString::String(name)) => {
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
        // The API server defaults targetPort to the port.
        None => Some(port.port),
    }
}

/// Whether the service's ClusterIP is set (not headless).
pub(crate) fn has_cluster_ip(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty() && ip != "None")
}

/// Whether `selector` (a service's, never empty here) matches `labels`.
fn selects(selector: &std::collections::BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The pods `service` selects, from the shared cache: its namespace only.
pub(crate) fn pods_for_service(pods: &Store<Pod>, service: &Service) -> Vec<Arc<Pod>> {
    let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return Vec::new();
    };
    let namespace = service.metadata.namespace.as_deref();
    let mut selected: Vec<Arc<Pod>> = pods
        .state()
        .into_iter()
        .filter(|pod| pod.metadata.namespace.as_deref() == namespace && selects(selector, pod))
        .collect();
    selected.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    selected
}

/// The services in `pod`'s namespace whose selector matches it.
fn services_for_pod(services: &Store<Service>, pod: &Pod) -> HashSet<ObjectRef<Service>> {
    services
        .state()
        .iter()
        .filter(|s| s.metadata.namespace == pod.metadata.namespace)
        .filter(|s| {
            s.spec
                .as_ref()
                .and_then(|spec| spec.selector.as_ref())
                .is_some_and(|selector| selects(selector, pod))
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Services a pod belongs to.
type ServiceSet = HashSet<ObjectRef<Service>>;

/// Maps pod changes to the services to sync: those the pod matches now and those it matched
/// when last seen (a label change leaves the old service too), as upstream's
/// `GetServicesToUpdateOnPodChange` does with the old and new pod.
#[derive(Clone)]
pub(crate) struct PodServices {
    services: Store<Service>,
    last: Arc<Mutex<HashMap<ObjectRef<Pod>, ServiceSet>>>,
}

impl PodServices {
    pub(crate) fn new(services: Store<Service>) -> Self {
        Self {
            services,
            last: Arc::default(),
        }
    }

    /// The services to sync after `pod` was added or changed.
    pub(crate) fn changed(&self, pod: &Pod) -> HashSet<ObjectRef<Service>> {
        let now = services_for_pod(&self.services, pod);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let before = last.insert(ObjectRef::from_obj(pod), now.clone());
        now.union(&before.unwrap_or_default()).cloned().collect()
    }

    /// The services to sync after `pod` was deleted.
    pub(crate) fn deleted(&self, pod: &Pod) -> HashSet<ObjectRef<Service>> {
        let now = services_for_pod(&self.services, pod);
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let before = last.remove(&ObjectRef::from_obj(pod));
        now.union(&before.unwrap_or_default()).cloned().collect()
    }
}

/// Upstream's `TriggerTimeTracker`: the time of the earliest change (a pod's Ready transition,
/// the service's creation) not yet reflected in a service's endpoints.
#[derive(Default)]
pub(crate) struct TriggerTimes {
    services: Mutex<HashMap<(String, String), Seen>>,
}

#[derive(Default, Clone)]
struct Seen {
    service: Option<Timestamp>,
    pods: HashMap<String, Timestamp>,
}

impl TriggerTimes {
    /// Records what `service` and `pods` look like now; returns the time to stamp, if any.
    pub(crate) fn compute(&self, service: &Service, pods: &[Arc<Pod>]) -> Option<Timestamp> {
        let key = (
            service.metadata.namespace.clone().unwrap_or_default(),
            service.metadata.name.clone().unwrap_or_default(),
        );
        let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        let known = services.get(&key).cloned();
        let mut earliest: Option<Timestamp> = None;
        let mut seen = Seen::default();
        for pod in pods {
            let ready_since = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t| t.0);
            if let (Some(time), Some(name)) = (ready_since, pod.metadata.name.clone()) {
                let before = known.as_ref().and_then(|k| k.pods.get(&name)).copied();
                if before.is_none_or(|b| time > b) {
                    earliest = Some(earliest.map_or(time, |e| e.min(time)));
                }
                seen.pods.insert(name, time);
            }
        }
        let created = service.metadata.creation_timestamp.as_ref().map(|t| t.0);
        if let Some(time) = created
            && known
                .as_ref()
                .and_then(|k| k.service)
                .is_none_or(|b| time > b)
        {
            earliest = Some(earliest.map_or(time, |e| e.min(time)));
        }
        seen.service = created;
        services.insert(key, seen);
        if known.is_none() {
            // A service seen for the first time: its creation.
            return created;
        }
        earliest
    }

    /// Forgets a deleted service.
    pub(crate) fn forget(&self, namespace: &str, name: &str) {
        let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        services.remove(&(namespace.to_owned(), name.to_owned()));
    }
}

/// A timestamp as Go's `time.RFC3339Nano` writes it (trailing zeros of the fraction dropped).
pub(crate) fn rfc3339_nano(time: Timestamp) -> String {
    time.to_string()
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Pods and services for the unit tests of both controllers.

    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, Pod, PodCondition, PodIP, PodSpec, PodStatus, Service,
        ServicePort, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    /// `web` in `default`, selecting `app=web`, port 80 → `target`.
    pub(crate) fn service(target: IntOrString) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("svc-uid".into()),
                labels: Some([("team".to_owned(), "a".to_owned())].into()),
                creation_timestamp: Some(Time("2026-01-01T00:00:00Z".parse().unwrap())),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                selector: Some([("app".to_owned(), "web".to_owned())].into()),
                cluster_ip: Some("10.96.0.10".into()),
                ip_families: Some(vec!["IPv4".into()]),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    protocol: Some("TCP".into()),
                    target_port: Some(target),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    /// A running pod `name` at `ip` on `node`, ready or not, serving `http` on `port`.
    pub(crate) fn pod(name: &str, ip: &str, ready: bool, port: i32) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("{name}-uid")),
                labels: Some([("app".to_owned(), "web".to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("kubarium-worker".into()),
                containers: vec![Container {
                    name: "app".into(),
                    ports: Some(vec![ContainerPort {
                        name: Some("http".into()),
                        container_port: port,
                        protocol: Some("TCP".into()),
                        ..ContainerPort::default()
                    }]),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some(ip.into()),
                pod_ips: Some(vec![PodIP { ip: ip.into() }]),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(Time("2026-01-01T00:00:05Z".parse().unwrap())),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{pod, service};
    use super::*;

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let svc = service(IntOrString::String("http".into()));
        let port = &svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(
            find_port(&pod("a", "10.0.0.1", true, 8080), port),
            Some(8080)
        );
        assert_eq!(
            find_port(&pod("b", "10.0.0.2", true, 9090), port),
            Some(9090)
        );
        let mut other = port.clone();
        other.protocol = Some("UDP".into());
        assert_eq!(find_port(&pod("a", "10.0.0.1", true, 8080), &other), None);
        let numbered = service(IntOrString::Int(7000));
        let port = &numbered.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(
            find_port(&pod("a", "10.0.0.1", true, 8080), port),
            Some(7000)
        );
    }

    #[test]
    fn pods_without_ips_or_finished_are_left_out() {
        let mut p = pod("a", "10.0.0.1", true, 80);
        assert!(should_be_in_endpoints(&p, false));
        p.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!should_be_in_endpoints(&p, true));
        let mut p = pod("a", "", true, 80);
        p.status.as_mut().unwrap().pod_ips = None;
        assert!(!should_be_in_endpoints(&p, true));
        let mut p = pod("a", "10.0.0.1", true, 80);
        p.metadata.deletion_timestamp = p.status.as_ref().unwrap().conditions.as_ref().unwrap()[0]
            .last_transition_time
            .clone();
        assert!(!should_be_in_endpoints(&p, false));
        assert!(should_be_in_endpoints(&p, true));
    }

    #[test]
    fn trigger_time_is_creation_first_then_changes_only() {
        let tracker = TriggerTimes::default();
        let svc = service(IntOrString::Int(80));
        let pods = vec![Arc::new(pod("a", "10.0.0.1", true, 80))];
        let first = tracker.compute(&svc, &pods).unwrap();
        assert_eq!(rfc3339_nano(first), "2026-01-01T00:00:00Z");
        assert_eq!(tracker.compute(&svc, &pods), None);
        let mut later = pod("a", "10.0.0.1", false, 80);
        later.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-01-01T00:01:00.5Z".parse().unwrap(),
            ));
        let changed = tracker.compute(&svc, &[Arc::new(later)]).unwrap();
        assert_eq!(rfc3339_nano(changed), "2026-01-01T00:01:00.5Z");
    }
}
