//! Resource amounts as the scheduler counts them: quantities parsed to integers (millicores
//! for CPU, bytes or units for the rest), a pod's effective request (containers, init
//! containers and sidecars, overhead) and its "non-zero" request for scoring, as upstream's
//! `framework.Resource` and `resourcehelper.PodRequests` compute them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity::Quantity as Amount;

/// CPU assumed for a container that requests none, when scoring (100m).
pub(crate) const DEFAULT_MILLI_CPU: i64 = 100;
/// Memory assumed for a container that requests none, when scoring (200 MiB).
pub(crate) const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// Amounts of CPU (millicores), memory and ephemeral storage (bytes), pods, and scalar
/// resources (extended resources and hugepages, in units).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resources {
    pub(crate) milli_cpu: i64,
    pub(crate) memory: i64,
    pub(crate) ephemeral_storage: i64,
    pub(crate) pods: i64,
    pub(crate) scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// From a resource list (requests, allocatable, overhead).
    pub(crate) fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Self {
        let mut r = Resources::default();
        for (name, quantity) in list.into_iter().flatten() {
            match name.as_str() {
                "cpu" => r.milli_cpu = milli_value(&quantity.0),
                "memory" => r.memory = value(&quantity.0),
                "ephemeral-storage" => r.ephemeral_storage = value(&quantity.0),
                "pods" => r.pods = value(&quantity.0),
                other if is_scalar(other) => {
                    r.scalar.insert(other.to_owned(), value(&quantity.0));
                }
                _ => {}
            }
        }
        r
    }

    pub(crate) fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
        for (name, v) in &other.scalar {
            *self.scalar.entry(name.clone()).or_default() += v;
        }
    }

    pub(crate) fn sub(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
        for (name, v) in &other.scalar {
            *self.scalar.entry(name.clone()).or_default() -= v;
        }
    }

    fn max(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_default();
            *entry = (*entry).max(*v);
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

/// Extended resources (a domain outside `kubernetes.io/`), hugepages and attachable volumes
/// are counted; other names are not.
fn is_scalar(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("kubernetes.io/"))
}

/// A pod's effective request: the larger of its containers' sum and each init container's
/// need (restartable sidecars run alongside and add up), plus the pod overhead.
/// `non_zero` applies the scoring defaults to containers that request no CPU or memory.
pub(crate) fn pod_requests(spec: &PodSpec, non_zero: bool) -> Resources {
    let request = |c: &Container| {
        let mut r = Resources::from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
        if non_zero {
            let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
            if !requests.is_some_and(|r| r.contains_key("cpu")) {
                r.milli_cpu = DEFAULT_MILLI_CPU;
            }
            if !requests.is_some_and(|r| r.contains_key("memory")) {
                r.memory = DEFAULT_MEMORY;
            }
        }
        r
    };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&request(c));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = request(c);
        let mut need = r.clone();
        if c.restart_policy.as_deref() == Some("Always") {
            total.add(&r);
            sidecars.add(&r);
            need = sidecars.clone();
        } else {
            need.add(&sidecars);
        }
        init_peak.max(&need);
    }
    total.max(&init_peak);
    total.add(&Resources::from_list(spec.overhead.as_ref()));
    total.pods = 0;
    total
}

/// A quantity in thousandths, rounded up (`Quantity.MilliValue`); 0 if it does not parse.
pub(crate) fn milli_value(quantity: &str) -> i64 {
    Amount::parse(quantity).map_or(0, Amount::milli)
}

/// A quantity in units, rounded up (`Quantity.Value`); 0 if it does not parse.
pub(crate) fn value(quantity: &str) -> i64 {
    Amount::parse(quantity).map_or(0, Amount::value)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ResourceRequirements;

    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(milli_value("100m"), 100);
        assert_eq!(milli_value("1.5"), 1500);
        assert_eq!(milli_value("100"), 100_000);
        assert_eq!(value("1Gi"), 1 << 30);
        assert_eq!(value("128974848"), 128_974_848);
        assert_eq!(value("129e6"), 129_000_000);
        assert_eq!(value("123Mi"), 123 * (1 << 20));
        assert_eq!(value("1k"), 1000);
        assert_eq!(value("0.1"), 1);
        assert_eq!(milli_value("1u"), 1);
        assert_eq!(value("garbage"), 0);
    }

    fn container(cpu: &str, memory: &str, sidecar: bool) -> Container {
        let mut requests = BTreeMap::new();
        if !cpu.is_empty() {
            requests.insert("cpu".to_owned(), Quantity(cpu.to_owned()));
        }
        if !memory.is_empty() {
            requests.insert("memory".to_owned(), Quantity(memory.to_owned()));
        }
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(requests),
                ..ResourceRequirements::default()
            }),
            restart_policy: sidecar.then(|| "Always".to_owned()),
            ..Container::default()
        }
    }

    #[test]
    fn pod_requests_count_init_containers_sidecars_and_overhead() {
        let spec = PodSpec {
            containers: vec![
                container("100m", "100Mi", false),
                container("200m", "", false),
            ],
            init_containers: Some(vec![
                container("1", "50Mi", false),
                container("50m", "10Mi", true),
                container("100m", "1Gi", false),
            ]),
            overhead: Some(BTreeMap::from([("cpu".to_owned(), Quantity("10m".into()))])),
            ..PodSpec::default()
        };
        let r = pod_requests(&spec, false);
        // max(300m + 50m sidecar, 1 core init, 50m + 100m) + 10m overhead
        assert_eq!(r.milli_cpu, 1010);
        // max(100Mi + 10Mi, 50Mi, 10Mi + 1Gi)
        assert_eq!(r.memory, (10 << 20) + (1 << 30));
        let non_zero = pod_requests(
            &PodSpec {
                containers: vec![container("", "", false)],
                ..PodSpec::default()
            },
            true,
        );
        assert_eq!((non_zero.milli_cpu, non_zero.memory), (100, 200 << 20));
    }
}
