//! The process's watches: kube-runtime's `watcher`, through one watcher over [`Lean`]
//! objects, shared by the loops' and node agents' typed watches ([`Watched::watch`]) and the
//! app's untyped ones ([`lean`]).
//!
//! kube-runtime's watcher is generic over the kind it watches, so every kind watched through
//! it carries its own copy of the watcher's state machine, its list and watch requests and
//! its decoders of list pages and watch events: over the two dozen kinds the process's loops
//! and node agents watch, well over a megabyte of the binary. Every kind is therefore watched
//! as `Lean` objects and decoded into its type as they arrive, from the JSON tree `Lean`
//! holds, with the decoder from a JSON tree that the API server has for every kind anyway.
//! That costs a tree per object: a pod decodes in about 1.45 times the time it takes straight
//! from the text (`lean_page` in `lean.rs`), a few per cent of the control plane's time at
//! its busiest, for no decoder of any kind from text in the binary (with [`crate::objects`]).
//!
//! Every watch made here drops `metadata.managedFields`, as client-go's
//! `TransformStripManagedFields` does for informers: no loop reads them, and they are most of
//! a cached object's memory (a hollow pod's typed copy is about twice as big with them). An
//! update sent from such an object keeps the stored entries, as the field manager does when a
//! request leaves `managedFields` out.

mod lean;

pub use lean::Lean;

use std::fmt::Debug;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
    Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::ApiResource;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

/// What one of the process's watches reports.
pub type Watch<K> = BoxStream<'static, watcher::Result<watcher::Event<K>>>;

/// The kinds the process's loops and node agents watch: k8s-openapi's built-in types, all
/// watched through the one `Lean` watcher (a kind not listed below is not watchable).
pub trait Watched:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
    /// Every object of the kind (all namespaces) that `config` selects, as kube-runtime's
    /// `watcher` reports them, with its default backoff and without managed fields, through
    /// the one `Lean` watcher. An object that does not decode as the kind is
    /// reported as the watch's error and skipped, as it is by a typed watcher.
    fn watch(client: Client, config: watcher::Config) -> Watch<Self> {
        let api = Api::<Lean>::all_with(client, &ApiResource::erase::<Self>(&()));
        lean(api, config).map(|event| event.and_then(typed)).boxed()
    }
}

/// The objects `api` reaches, as kube-runtime's `watcher` reports them, with its default
/// backoff: the one watcher behind every watch of the process.
pub fn lean(api: Api<Lean>, config: watcher::Config) -> Watch<Lean> {
    watcher(api, config).default_backoff().boxed()
}

macro_rules! through_lean {
    ($($kind:ty),* $(,)?) => {
        $(impl Watched for $kind {})*
    };
}

through_lean!(
    ConfigMap,
    ControllerRevision,
    CronJob,
    DaemonSet,
    Deployment,
    EndpointSlice,
    Endpoints,
    Ingress,
    IngressClass,
    Job,
    Lease,
    Namespace,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    ReplicaSet,
    Secret,
    Service,
    ServiceAccount,
    StatefulSet,
    StorageClass,
);

/// `event` with its object decoded into `K`.
fn typed<K: Watched>(event: watcher::Event<Lean>) -> watcher::Result<watcher::Event<K>> {
    use watcher::Event;
    Ok(match event {
        Event::Apply(object) => Event::Apply(decode(object)?),
        Event::Delete(object) => Event::Delete(decode(object)?),
        Event::InitApply(object) => Event::InitApply(decode(object)?),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    })
}

/// `object` as a `K`, its decoding error the watch's.
fn decode<K: Watched>(object: Lean) -> watcher::Result<K> {
    crate::objects::decode(object).map_err(watcher::Error::WatchFailed)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::{Value, json};

    use super::*;

    fn lean(object: Value) -> Lean {
        serde_json::from_value(object).expect("an object decodes as a lean object")
    }

    #[test]
    fn an_object_decodes_into_its_kind_as_a_typed_decoder_reads_it_less_managed_fields() {
        let object = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7",
                         "labels": {"app": "web"},
                         "managedFields": [{"manager": "kubectl", "operation": "Update",
                                            "fieldsType": "FieldsV1", "fieldsV1": {}}]},
            "spec": {"nodeName": "worker-1", "containers": [{
                "name": "web", "image": "nginx",
                "resources": {"requests": {"cpu": "250m"}},
                "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "podIP": "10.244.1.5"},
        });
        let mut typed: Pod = serde_json::from_value(object.clone()).unwrap();
        assert!(typed.metadata.managed_fields.is_some());
        typed.metadata.managed_fields = None;
        let through: Pod = decode(lean(object)).unwrap();
        assert_eq!(through, typed);
        let requests = through.spec.unwrap().containers[0]
            .resources
            .clone()
            .unwrap();
        assert_eq!(
            requests.requests.unwrap()["cpu"],
            Quantity("250m".to_owned())
        );
    }

    #[test]
    fn bytes_and_fields_outside_spec_and_status_decode_too() {
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
            "type": "kubernetes.io/tls", "data": {"tls.crt": "aGk="},
        });
        let decoded: Secret = decode(lean(secret)).unwrap();
        assert_eq!(decoded.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(decoded.data.unwrap()["tls.crt"].0, b"hi");
        assert_eq!(decoded.metadata.name.as_deref(), Some("tls"));
    }

    #[test]
    fn an_object_that_is_not_of_the_kind_is_an_error_not_a_default() {
        let object = lean(json!({"metadata": {"name": "x"}, "data": ["not", "a", "map"]}));
        let error = decode::<ConfigMap>(object).unwrap_err();
        assert!(
            matches!(
                error,
                watcher::Error::WatchFailed(kube::Error::SerdeError(_))
            ),
            "{error}"
        );
    }

    #[test]
    fn each_event_keeps_its_kind_of_change() {
        let object = lean(json!({"metadata": {"name": "a"}, "data": {"k": "v"}}));
        let event = typed::<ConfigMap>(watcher::Event::Delete(object)).unwrap();
        let watcher::Event::Delete(map) = event else {
            panic!("a deletion stays a deletion: {event:?}");
        };
        assert_eq!(map.data.unwrap()["k"], "v");
        assert!(matches!(
            typed::<ConfigMap>(watcher::Event::InitDone),
            Ok(watcher::Event::InitDone)
        ));
    }
}
