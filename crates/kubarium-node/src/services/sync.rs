//! Bringing one unit in line: render it from the caches as they are now, apply it when it
//! differs from what was last applied, and report what happened (status and events).

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::reflector::ObjectRef;

use super::{Inner, dns, ensure_ingress_class, ingress, lock, proxy, status};
use crate::Result;
use crate::network::plane::{Applied, PlaneError, UnitKey, UnitSpec};

/// Brings one unit in line; `false` to retry later.
pub(super) async fn sync(inner: &Inner, key: &UnitKey) -> bool {
    let Ok(_permit) = inner.applying.acquire().await else {
        return false;
    };
    let result = match key {
        UnitKey::Service {
            namespace,
            name,
            uid,
        } => sync_service(inner, key, namespace, name, uid).await,
        UnitKey::Dns => sync_dns(inner).await,
        UnitKey::Ingress => sync_ingress(inner).await,
    };
    match result {
        Ok(()) => true,
        Err(error) => {
            tracing::debug!(?key, %error, "unit not in line; retrying");
            false
        }
    }
}

impl Inner {
    /// Applies `spec` unless it is what was last applied; remembers the outcome.
    async fn apply(&self, spec: UnitSpec) -> std::result::Result<Applied, PlaneError> {
        if let Some((last, applied)) = lock(&self.memory)
            .get(&spec.key)
            .and_then(|m| m.applied.as_ref())
            && *last == spec
        {
            return Ok(applied.clone());
        }
        let key = spec.key.clone();
        let result = self.plane.apply(spec.clone()).await;
        let mut memory = lock(&self.memory);
        let unit = memory.entry(key).or_default();
        unit.applied = result.as_ref().ok().map(|applied| (spec, applied.clone()));
        result
    }

    /// Removes a unit and forgets it; nothing to do for a unit that does not exist.
    async fn remove(&self, key: &UnitKey) -> Result<()> {
        if !lock(&self.memory).contains_key(key) {
            return Ok(());
        }
        self.plane.remove(key.clone()).await?;
        lock(&self.memory).remove(key);
        Ok(())
    }

    /// Notes a failure; `true` when it is new (not the message already reported).
    fn failed(&self, key: &UnitKey, message: &str) -> bool {
        let mut memory = lock(&self.memory);
        let unit = memory.entry(key.clone()).or_default();
        let new = unit.failing.as_deref() != Some(message);
        if new {
            tracing::warn!(unit = ?key, message, "data-plane unit failed; retrying with back-off");
        }
        unit.failing = Some(message.to_owned());
        new
    }

    /// Notes a success; `true` when the unit was failing.
    fn recovered(&self, key: &UnitKey) -> bool {
        let recovered = lock(&self.memory)
            .get_mut(key)
            .and_then(|unit| unit.failing.take())
            .is_some();
        if recovered {
            tracing::info!(unit = ?key, "data-plane unit works again");
        }
        recovered
    }

    fn is_new(&self, key: &UnitKey) -> bool {
        lock(&self.memory)
            .get(key)
            .is_none_or(|unit| unit.applied.is_none())
    }
}

/// What to tell a person when a Service's unit could not be made.
fn failure_message(service: &Service, error: &PlaneError) -> String {
    let load_balancer = proxy::service_type(service) == "LoadBalancer";
    let what = if load_balancer {
        "failed to ensure load balancer"
    } else {
        "failed to set up the Service's proxy"
    };
    match error {
        PlaneError::PortInUse { port, message } => {
            let ports = service.spec.iter().flat_map(|s| s.ports.iter().flatten());
            let field = if ports.clone().any(|p| p.node_port == Some(i32::from(*port))) {
                "its nodePort (spec.ports[].nodePort; leave it out to get a free one)"
            } else {
                "its port (spec.ports[].port)"
            };
            format!(
                "{what}: port 127.0.0.1:{port} is already in use on this machine ({message}); stop what holds it, or change {field}; Kubarium retries until the port is free"
            )
        }
        _ => format!("{what}: {error}; Kubarium retries"),
    }
}

async fn sync_service(
    inner: &Inner,
    key: &UnitKey,
    namespace: &str,
    name: &str,
    uid: &str,
) -> std::result::Result<(), String> {
    let reference = ObjectRef::new(name).within(namespace);
    let service = inner
        .services
        .get(&reference)
        .filter(|s| s.metadata.uid.as_deref() == Some(uid));
    let Some(service) = service else {
        return inner.remove(key).await.map_err(|e| e.to_string());
    };
    let spec = if proxy::has_proxy(&service) {
        let slices: Vec<Arc<EndpointSlice>> = inner
            .slices
            .state()
            .into_iter()
            .filter(|s| dns::slice_service(s) == Some((namespace, name)))
            .collect();
        proxy::render(&service, &slices)
    } else {
        None
    };
    let load_balancer = proxy::service_type(&service) == "LoadBalancer";
    let wanted = status::wanted_service_status(&service);
    let status_changes = status::current_service_status(&service) != wanted;
    if let Some(spec) = spec {
        let current = status::current_service_status(&service);
        if load_balancer && inner.is_new(key) && current.ingress.is_none() {
            inner.service_events.normal(
                &*service,
                status::ENSURING_LOAD_BALANCER,
                "Ensuring load balancer".to_owned(),
            );
        }
        match inner.apply(spec).await {
            Ok(_) => {
                // A LoadBalancer whose status is about to be written is announced then.
                if inner.recovered(key) && !(load_balancer && status_changes) {
                    let (reason, message) = if load_balancer {
                        (status::ENSURED_LOAD_BALANCER, "Ensured load balancer")
                    } else {
                        (
                            status::SYNCED_PROXY,
                            "The Service's ports are published again",
                        )
                    };
                    inner
                        .service_events
                        .normal(&*service, reason, message.to_owned());
                }
            }
            Err(error) => {
                let message = failure_message(&service, &error);
                // Repeats are counted on the first event by the recorder.
                inner.failed(key, &message);
                let reason = if load_balancer {
                    status::SYNC_LOAD_BALANCER_FAILED
                } else {
                    status::SYNC_PROXY_FAILED
                };
                inner
                    .service_events
                    .warning(&*service, reason, message.clone());
                return Err(message);
            }
        }
    } else {
        inner.remove(key).await.map_err(|e| e.to_string())?;
    }
    if status_changes {
        status::patch_service(&inner.client, namespace, name, &wanted)
            .await
            .map_err(|e| e.to_string())?;
        if wanted.ingress.is_some() {
            inner.service_events.normal(
                &*service,
                status::ENSURED_LOAD_BALANCER,
                "Ensured load balancer".to_owned(),
            );
        }
    }
    Ok(())
}

async fn sync_dns(inner: &Inner) -> std::result::Result<(), String> {
    let ip = inner.config.plan.map(|plan| plan.dns_ip());
    let spec = dns::render(
        ip,
        &inner.config.cluster_domain,
        &inner.services.state(),
        &inner.slices.state(),
    );
    let kube_dns = inner
        .services
        .get(&ObjectRef::new("kube-dns").within("kube-system"));
    match inner.apply(spec).await {
        Ok(_) => {
            if inner.recovered(&UnitKey::Dns)
                && let Some(service) = &kube_dns
            {
                inner.service_events.normal(
                    &**service,
                    status::SYNCED_PROXY,
                    "The cluster DNS server runs again".to_owned(),
                );
            }
            Ok(())
        }
        Err(error) => {
            let message = format!(
                "failed to set up the cluster DNS server: {error}; pods cannot resolve Service names until it runs; Kubarium retries"
            );
            if inner.failed(&UnitKey::Dns, &message)
                && let Some(service) = &kube_dns
            {
                inner.service_events.warning(
                    &**service,
                    status::SYNC_PROXY_FAILED,
                    message.clone(),
                );
            }
            Err(message)
        }
    }
}

async fn sync_ingress(inner: &Inner) -> std::result::Result<(), String> {
    let classes = inner.classes.state();
    if !classes
        .iter()
        .any(|c| c.metadata.name.as_deref() == Some(ingress::CLASS_NAME))
    {
        ensure_ingress_class(&inner.client)
            .await
            .map_err(|e| e.to_string())?;
    }
    let ingresses = inner.ingresses.state();
    let rendered = ingress::render(
        inner.config.plan.map(|plan| plan.ingress_ip()),
        inner.config.ingress_http_port,
        inner.config.ingress_https_port,
        &ingress::Objects {
            ingresses: &ingresses,
            classes: &classes,
            services: &inner.services.state(),
            slices: &inner.slices.state(),
            secrets: &inner.secrets.state(),
        },
    );
    let warned: HashSet<(String, String)> = rendered
        .warnings
        .iter()
        .map(|(ingress, message)| (uid(ingress), message.clone()))
        .collect();
    {
        let mut before = lock(&inner.warned);
        for (ingress, message) in &rendered.warnings {
            if !before.contains(&(uid(ingress), message.clone())) {
                inner.ingress_events.warning(
                    &**ingress,
                    status::SYNC_INGRESS_FAILED,
                    message.clone(),
                );
            }
        }
        *before = warned;
    }
    let applied = match inner.apply(rendered.spec).await {
        Ok(applied) => {
            inner.recovered(&UnitKey::Ingress);
            applied
        }
        Err(error) => {
            let message = match &error {
                PlaneError::PortInUse { port, message } => format!(
                    "the ingress controller cannot publish port 127.0.0.1:{port}, which is already in use on this machine ({message}); stop what holds it, or start Kubarium with other ports (--ingress-http-port, --ingress-https-port); Kubarium retries until the port is free"
                ),
                _ => format!("the ingress controller cannot run: {error}; Kubarium retries"),
            };
            if inner.failed(&UnitKey::Ingress, &message) {
                for ingress in &rendered.served {
                    inner.ingress_events.warning(
                        &**ingress,
                        status::SYNC_INGRESS_FAILED,
                        message.clone(),
                    );
                }
            }
            return Err(message);
        }
    };
    let wanted = status::ingress(&applied);
    let mut result = Ok(());
    let served: HashSet<String> = rendered.served.iter().map(|i| uid(i)).collect();
    for served_ingress in &rendered.served {
        let (namespace, name) = namespaced(served_ingress);
        if status::current_ingress_status(served_ingress) != wanted
            && let Err(error) = status::patch_ingress(&inner.client, namespace, name, &wanted).await
        {
            result = Err(error.to_string());
            continue;
        }
        let generation = served_ingress.metadata.generation;
        let announce =
            lock(&inner.announced).insert(uid(served_ingress), generation) != Some(generation);
        if announce {
            inner.ingress_events.normal(
                &**served_ingress,
                status::SYNC,
                "Scheduled for sync".to_owned(),
            );
        }
    }
    // Ingresses that moved to another class lose the status this controller gave them.
    for other in ingresses.iter().filter(|i| !served.contains(&uid(i))) {
        let was_ours = lock(&inner.announced).remove(&uid(other)).is_some();
        if was_ours && status::current_ingress_status(other) == wanted {
            let (namespace, name) = namespaced(other);
            if let Err(error) =
                status::patch_ingress(&inner.client, namespace, name, &Default::default()).await
            {
                result = Err(error.to_string());
            }
        }
    }
    let existing: HashSet<String> = ingresses.iter().map(|i| uid(i)).collect();
    lock(&inner.announced).retain(|uid, _| existing.contains(uid));
    result
}

fn uid(ingress: &Ingress) -> String {
    ingress.metadata.uid.clone().unwrap_or_default()
}

fn namespaced(ingress: &Ingress) -> (&str, &str) {
    (
        ingress.metadata.namespace.as_deref().unwrap_or_default(),
        ingress.metadata.name.as_deref().unwrap_or_default(),
    )
}
