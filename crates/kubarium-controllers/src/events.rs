//! Events as kube-controller-manager records them: core/v1 `Event`s (what `kubectl describe`
//! and `kubectl get events` read), named `<object>.<nanoseconds in hex>`, with a repeat of
//! the same reason and message on the same object counted on the first one instead of
//! written anew (client-go's event correlator). As client-go's recorder, an event's
//! `reportingController` is its `source.component` and its `reportingInstance` its
//! `source.host`: a node's name for a kubelet's events ([`Recorder::on_host`]), none for a
//! controller's.
//!
//! Recording never blocks a loop: events queue for one writer task, and when the queue is
//! full they are dropped, as client-go's broadcaster does under load.

use std::collections::HashMap;
use std::sync::Arc;

use crate::objects::Objects;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde_json::json;
use tokio::sync::mpsc;

/// Events waiting to be written before new ones are dropped.
const QUEUE: usize = 1000;
/// Distinct (object, reason, message) kept for counting repeats.
const REMEMBERED: usize = 4096;

/// `Normal` or `Warning`, the two event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something a person may need to act on.
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

struct Pending {
    host: Option<Arc<str>>,
    object: ObjectReference,
    kind: EventType,
    reason: String,
    message: String,
}

/// Records events for one component (`source.component`, `reportingComponent`), e.g.
/// `deployment-controller` or `default-scheduler`. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Pending>,
    /// The node the events come from (`source.host`), for a kubelet's.
    host: Option<Arc<str>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder whose writer task runs until every clone is dropped. Must be called
    /// inside a Tokio runtime.
    pub fn new(client: Client, component: &str) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_events(client, component.to_owned(), pending));
        Self { queue, host: None }
    }

    /// This recorder for the events of node `host`, as the kubelet on it records them: its
    /// name is their `source.host` and `reportingInstance`. Events still queue for the one
    /// writer.
    pub fn on_host(&self, host: &str) -> Self {
        Self {
            queue: self.queue.clone(),
            host: Some(host.into()),
        }
    }

    /// Records a `Normal` event about `object`.
    pub fn normal<K: Resource<DynamicType = ()>>(&self, object: &K, reason: &str, message: String) {
        self.record(object.object_ref(&()), EventType::Normal, reason, message);
    }

    /// Records a `Warning` event about `object`.
    pub fn warning<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        reason: &str,
        message: String,
    ) {
        self.record(object.object_ref(&()), EventType::Warning, reason, message);
    }

    /// Records an event about the object `object` refers to.
    pub fn record(&self, object: ObjectReference, kind: EventType, reason: &str, message: String) {
        let pending = Pending {
            host: self.host.clone(),
            object,
            kind,
            reason: reason.to_owned(),
            message,
        };
        if self.queue.try_send(pending).is_err() {
            tracing::debug!(reason, "event queue full; event dropped");
        }
    }
}

/// Key of an event that repeats: the same source host, object, type, reason and message.
type Repeat = (
    Option<Arc<str>>,
    String,
    String,
    &'static str,
    String,
    String,
);

async fn write_events(client: Client, component: String, mut pending: mpsc::Receiver<Pending>) {
    // The first event of each repeat: its name and count so far.
    let mut seen: HashMap<Repeat, (String, i32)> = HashMap::new();
    while let Some(event) = pending.recv().await {
        let namespace = event
            .object
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let involved = event.object.name.clone().unwrap_or_default();
        let key: Repeat = (
            event.host.clone(),
            event.object.uid.clone().unwrap_or_else(|| involved.clone()),
            namespace.clone(),
            event.kind.as_str(),
            event.reason.clone(),
            event.message.clone(),
        );
        let api = Objects::<Event>::namespaced(client.clone(), &namespace);
        let now = jiff::Timestamp::now();
        if let Some((name, count)) = seen.get(&key).cloned() {
            let patch = json!({"count": count + 1, "lastTimestamp": Time(now)});
            if api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
                .is_ok()
            {
                seen.insert(key, (name, count + 1));
                continue;
            }
        }
        let name = format!("{involved}.{:x}", now.as_nanosecond());
        let record = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            involved_object: event.object,
            reason: Some(event.reason),
            message: Some(event.message),
            type_: Some(event.kind.as_str().to_owned()),
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: None::<MicroTime>,
            source: Some(EventSource {
                component: Some(component.clone()),
                host: event.host.as_deref().map(str::to_owned),
            }),
            reporting_component: Some(component.clone()),
            reporting_instance: event.host.as_deref().map(str::to_owned),
            ..Event::default()
        };
        match api.create(&PostParams::default(), &record).await {
            Ok(_) => {
                if seen.len() >= REMEMBERED {
                    seen.clear();
                }
                seen.insert(key, (name, 1));
            }
            Err(error) => tracing::debug!(%error, "could not record an event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use http::{Request, Response, StatusCode};
    use http_body_util::BodyExt;
    use kube::client::Body;
    use serde_json::Value;

    use super::*;

    /// A test double of the API server: keeps each event created and answers with it.
    fn server() -> (Client, Arc<Mutex<Vec<Value>>>) {
        let created = Arc::new(Mutex::new(Vec::new()));
        let log = created.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let log = log.clone();
            async move {
                let body = request.into_body().collect().await.unwrap().to_bytes();
                log.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                Ok::<_, tower::BoxError>(
                    Response::builder()
                        .status(StatusCode::CREATED)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Body::from(body.to_vec()))
                        .unwrap(),
                )
            }
        });
        (Client::new(service, "default"), created)
    }

    #[tokio::test]
    async fn a_kubelets_events_come_from_its_node_and_a_controllers_from_no_instance() {
        let (client, created) = server();
        let pod = ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Pod".to_owned()),
            name: Some("web".to_owned()),
            namespace: Some("shop".to_owned()),
            uid: Some("u-1".to_owned()),
            ..ObjectReference::default()
        };
        Recorder::new(client.clone(), "kubelet")
            .on_host("kubarium-worker")
            .record(
                pod.clone(),
                EventType::Normal,
                "Pulled",
                "present".to_owned(),
            );
        Recorder::new(client, "deployment-controller").record(
            pod,
            EventType::Normal,
            "ScalingReplicaSet",
            "Scaled up".to_owned(),
        );
        // The writers run on their own; wait (boundedly) until both wrote.
        for _ in 0..1000 {
            if created.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let created = created.lock().unwrap();
        let by = |reason: &str| {
            created
                .iter()
                .find(|event| event["reason"] == reason)
                .cloned()
                .unwrap_or_else(|| panic!("no {reason} event in {created:?}"))
        };
        let kubelet = by("Pulled");
        assert_eq!(
            kubelet["source"],
            json!({"component": "kubelet", "host": "kubarium-worker"})
        );
        assert_eq!(kubelet["reportingComponent"], "kubelet");
        assert_eq!(kubelet["reportingInstance"], "kubarium-worker");
        let controller = by("ScalingReplicaSet");
        assert_eq!(
            controller["source"],
            json!({"component": "deployment-controller"})
        );
        assert_eq!(controller["reportingComponent"], "deployment-controller");
        assert_eq!(controller.get("reportingInstance"), None);
    }
}
