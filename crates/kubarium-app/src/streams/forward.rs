//! Port-forwards (`kubectl port-forward`): a listener on 127.0.0.1 whose every connection
//! gets its own port-forward stream to the pod, copied both ways. A Service is resolved as
//! kubectl resolves it, once, when the forward starts: its selector to a running, ready pod,
//! the Service port to that pod's port (a number, or a name looked up in its containers).

use std::sync::{Arc, Weak};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::ListParams;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::{Streams, lock};
use crate::ipc::resources::StreamId;
use crate::ipc::streams::{Forward, ForwardTarget, TargetKind};
use crate::{Error, Result, Tasks};

/// A forward as listed, and whether its task still runs.
pub struct RunningForward {
    forward: Forward,
    /// Dead once the forward's task ended or was stopped.
    alive: Weak<()>,
}

impl Streams {
    /// Starts forwarding `127.0.0.1:<local_port>` (`None` or 0: a free port) to `remote_port`
    /// of `target`. Fails when the target cannot be resolved or the local port is taken.
    #[allow(clippy::too_many_arguments)] // the forward's own parameters
    pub async fn port_forward_start(
        &self,
        tasks: &Tasks,
        client: kube::Client,
        cluster: &str,
        namespace: &str,
        target: ForwardTarget,
        remote_port: u16,
        local_port: Option<u16>,
    ) -> Result<Forward> {
        let (pod, pod_port) = resolve(&client, namespace, &target, remote_port).await?;
        let wanted = local_port.unwrap_or(0);
        let listener = TcpListener::bind(("127.0.0.1", wanted))
            .await
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::AddrInUse => Error::Local(format!(
                    "127.0.0.1:{wanted} is already in use; choose another port or leave it empty to pick a free one."
                )),
                _ => Error::Local(format!(
                    "Cannot listen on 127.0.0.1:{wanted}: {error}. Choose another port or leave it empty to pick a free one."
                )),
            })?;
        let local_port = listener
            .local_addr()
            .map_err(|error| Error::Local(format!("The new listener has no address: {error}.")))?
            .port();
        let alive = Arc::new(());
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let id = tasks.spawn(serve(
            listener,
            api,
            pod.clone(),
            pod_port,
            Arc::clone(&alive),
        ));
        let forward = Forward {
            id,
            cluster: cluster.to_owned(),
            namespace: namespace.to_owned(),
            target,
            remote_port,
            pod,
            pod_port,
            local_port,
            url: format!("http://127.0.0.1:{local_port}/"),
        };
        let mut forwards = lock(&self.forwards);
        forwards.retain(|_, running| running.alive.strong_count() > 0);
        forwards.insert(
            id,
            RunningForward {
                forward: forward.clone(),
                alive: Arc::downgrade(&alive),
            },
        );
        Ok(forward)
    }

    /// The forwards that run, oldest first.
    pub fn port_forwards(&self) -> Vec<Forward> {
        let mut forwards = lock(&self.forwards);
        forwards.retain(|_, running| running.alive.strong_count() > 0);
        let mut list: Vec<Forward> = forwards.values().map(|r| r.forward.clone()).collect();
        list.sort_by_key(|forward| forward.id);
        list
    }

    /// Stops forward `id` and closes its listener; stopping one that ended is not an error.
    pub fn port_forward_stop(&self, tasks: &Tasks, id: StreamId) {
        tasks.stop(id);
        lock(&self.forwards).remove(&id);
    }
}

/// Accepts connections until the task is dropped (which closes the listener and every
/// connection with it).
async fn serve(listener: TcpListener, api: Api<Pod>, pod: String, port: u16, _alive: Arc<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => {
                    connections.spawn(connect(socket, api.clone(), pod.clone(), port));
                }
                Err(error) => {
                    tracing::warn!(%error, "port-forward listener failed");
                    return;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One connection: its own stream to the pod's port, copied both ways until either side
/// closes.
async fn connect(mut socket: TcpStream, api: Api<Pod>, pod: String, port: u16) {
    let mut forwarder = match api.portforward(&pod, &[port]).await {
        Ok(forwarder) => forwarder,
        Err(error) => {
            tracing::warn!(%error, pod, port, "port-forward could not reach the pod");
            return;
        }
    };
    let Some(mut upstream) = forwarder.take_stream(port) else {
        return;
    };
    if let Err(error) = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await {
        tracing::debug!(%error, pod, port, "port-forward connection ended");
    }
    drop(upstream);
    forwarder.abort();
}

/// The pod and its port that `remote_port` of `target` reaches.
async fn resolve(
    client: &kube::Client,
    namespace: &str,
    target: &ForwardTarget,
    remote_port: u16,
) -> Result<(String, u16)> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match target.kind {
        TargetKind::Pod => {
            let pod = pods.get(&target.name).await?;
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if phase != Some("Running") {
                return Err(Error::Local(format!(
                    "Pod {} is not running (it is {}); wait until it runs, then forward again.",
                    target.name,
                    phase.unwrap_or("without a phase")
                )));
            }
            Ok((target.name.clone(), remote_port))
        }
        TargetKind::Service => {
            let services: Api<Service> = Api::namespaced(client.clone(), namespace);
            let service = services.get(&target.name).await?;
            let spec = service.spec.unwrap_or_default();
            let selector = spec.selector.unwrap_or_default();
            if selector.is_empty() {
                return Err(Error::Local(format!(
                    "Service {} has no selector, so it has no pods to forward to; forward to a pod instead.",
                    target.name
                )));
            }
            let ports = spec.ports.unwrap_or_default();
            let Some(service_port) = ports.iter().find(|p| p.port == i32::from(remote_port)) else {
                let known: Vec<String> = ports.iter().map(|p| p.port.to_string()).collect();
                return Err(Error::Local(format!(
                    "Service {} has no port {remote_port}; its ports are {}.",
                    target.name,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let labels = labels.join(",");
            let mut candidates = pods
                .list(&ListParams::default().labels(&labels))
                .await?
                .items;
            candidates.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            let Some(pod) = candidates.into_iter().find(running_and_ready) else {
                return Err(Error::Local(format!(
                    "No running, ready pod backs Service {} (selector {labels}); wait for one, then forward again.",
                    target.name
                )));
            };
            let name = pod.metadata.name.clone().unwrap_or_default();
            let port = match &service_port.target_port {
                None => remote_port,
                Some(IntOrString::Int(port)) => u16::try_from(*port).map_err(|_| {
                    Error::Local(format!("Service {} targets port {port}, which is not a port number.", target.name))
                })?,
                Some(IntOrString::String(named)) => named_port(&pod, named).ok_or_else(|| {
                    Error::Local(format!(
                        "Pod {name} of Service {} has no container port named {named}; fix the Service's targetPort or the pod's ports.",
                        target.name
                    ))
                })?,
            };
            Ok((name, port))
        }
    }
}

fn running_and_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The container port named `name` in `pod`.
fn named_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec
        .iter()
        .flat_map(|spec| spec.containers.iter())
        .flat_map(|container| container.ports.iter().flatten())
        .find(|port| port.name.as_deref() == Some(name))
        .and_then(|port| u16::try_from(port.container_port).ok())
}

/// Whether [`open_url`] opens `url`: http(s) to 127.0.0.1 or localhost only, since the app
/// opens what its own forwards serve and nothing else.
pub fn url_allowed(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return false,
        None => authority,
    };
    host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost")
}

/// Opens `url` in the desktop's browser; only local http(s) URLs (see [`url_allowed`]).
pub fn open_url(url: &str) -> Result<()> {
    if !url_allowed(url) {
        return Err(Error::Local(format!(
            "Kubarium opens only http(s) addresses on 127.0.0.1 or localhost, not {url:?}; copy it into your browser instead."
        )));
    }
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(target_os = "windows") {
        let mut start = std::process::Command::new("cmd");
        start.args(["/C", "start", ""]);
        start
    } else {
        std::process::Command::new("xdg-open")
    };
    command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        // Reaped beside the app so no zombie is left; the opener's own result is the
        // desktop's business.
        .map(|mut child| drop(std::thread::spawn(move || child.wait())))
        .map_err(|error| {
            Error::Local(format!(
                "Could not open a browser ({error}); copy {url} into your browser instead."
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_http_urls_are_opened() {
        for ok in [
            "http://127.0.0.1:8080/",
            "https://localhost/",
            "http://LOCALHOST:1",
            "http://127.0.0.1",
            "http://127.0.0.1:9/path?q#f",
        ] {
            assert!(url_allowed(ok), "{ok}");
        }
        for refused in [
            "file:///etc/passwd",
            "http://example.com/",
            "http://127.0.0.1.example.com/",
            "http://127.0.0.1@evil.com/",
            "http://localhost:80@evil.com/",
            "javascript:alert(1)",
            "http://127.0.0.1:x/",
            "ftp://127.0.0.1/",
        ] {
            assert!(!url_allowed(refused), "{refused}");
        }
    }
}
