//! Probing a cluster's API server: `/version` every few seconds, through the same
//! `kube::Client` every other call uses, feeding the status bar's state, version and latency;
//! with each probe, this machine's CPU and memory use and, for a local cluster on Docker,
//! whether Docker answers (as its nodes report it). A remote cluster that fails is tried
//! less and less often ([`backoff`]), at once again when the user asks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kubarium_controllers::objects::Objects;
use kube::api::ListParams;
use tokio::sync::watch;

use crate::clusters::Remote;
use crate::host::Sampler;
use crate::ipc::{AppError, ClusterPhase, ClusterStatus, DockerState, ErrorCode, ServerVersion};

/// Time between probes.
const INTERVAL: Duration = Duration::from_secs(2);
/// The longest wait between tries of a remote cluster that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A probe slower than this counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What to probe.
pub(crate) enum Target {
    /// A cluster reached as its kubeconfig says, over the network, as kubectl reaches it.
    Kubeconfig(Box<kube::config::Kubeconfig>),
    /// A remote cluster, through its cached client; failures explained with its server.
    Remote(Arc<Remote>),
}

impl Target {
    async fn client(&self) -> Result<kube::Client, AppError> {
        match self {
            Target::Kubeconfig(kubeconfig) => {
                let unusable = |message: String| AppError::new(ErrorCode::Unreachable, message);
                let config = kube::Config::from_custom_kubeconfig(
                    (**kubeconfig).clone(),
                    &Default::default(),
                )
                .await
                .map_err(|e| unusable(format!("Its kubeconfig cannot be used: {e}.")))?;
                crate::retry::client(config)
                    .map_err(|e| unusable(format!("No client for it: {e}.")))
            }
            Target::Remote(remote) => remote.client().await.map_err(AppError::from),
        }
    }

    /// Waits `delay`; returns `true` early when the user asks to try again now.
    async fn wait(&self, delay: Duration) -> bool {
        match self {
            Target::Kubeconfig(_) => {
                tokio::time::sleep(delay).await;
                false
            }
            Target::Remote(remote) => tokio::select! {
                () = tokio::time::sleep(delay) => false,
                () = remote.retry_requested() => true,
            },
        }
    }

    /// A failed probe, in words.
    async fn explain(&self, error: kube::Error) -> AppError {
        match self {
            Target::Kubeconfig(_) => AppError::new(
                ErrorCode::Unreachable,
                format!("The API server answered with an error: {error}."),
            ),
            Target::Remote(remote) => AppError::from(remote.explain(error).await),
        }
    }
}

/// What runs the cluster's pods, for the Docker figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pods {
    /// Local, on Docker: its nodes say whether Docker answers.
    Docker,
    /// Local, hollow: no Docker involved.
    Hollow,
    /// Remote: its runtime is not ours to show, and this machine's load is not its.
    Remote,
}

/// How long a remote cluster that failed `failures` times in a row waits before the next
/// try: [`INTERVAL`] while it answers, then doubling from it up to [`MAX_BACKOFF`] (2 s, 4 s,
/// 8 s … 60 s).
pub(crate) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    INTERVAL.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// Probes until aborted, updating `status` after every probe. A remote cluster that fails
/// waits longer after each failure ([`backoff`]), shown as `retry_at`; success, or the user
/// asking to try again, starts over.
pub(crate) async fn run(target: Target, pods: Pods, status: watch::Sender<ClusterStatus>) {
    let mut client = None;
    let mut host = Sampler::default();
    let mut failures = 0;
    if pods == Pods::Hollow {
        status.send_modify(|status| status.docker = Some(DockerState::NotUsed));
    }
    loop {
        let answered = probe(&target, pods, &status, &mut client, &mut host).await;
        failures = if answered { 0 } else { failures + 1 };
        let delay = match pods {
            Pods::Remote => backoff(failures),
            Pods::Docker | Pods::Hollow => INTERVAL,
        };
        let retry_at = (!answered && pods == Pods::Remote).then(|| {
            let at = std::time::SystemTime::now() + delay;
            at.duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64() * 1000.0)
        });
        status.send_if_modified(|status| {
            let changed = status.retry_at != retry_at;
            status.retry_at = retry_at;
            changed
        });
        if target.wait(delay).await {
            failures = 0;
        }
    }
}

/// One probe: the client (built if there is none yet), `/version`, and for a local cluster
/// on Docker its nodes. `true` when the cluster answered.
async fn probe(
    target: &Target,
    pods: Pods,
    status: &watch::Sender<ClusterStatus>,
    client: &mut Option<kube::Client>,
    host: &mut Sampler,
) -> bool {
    if pods != Pods::Remote {
        let stats = host.sample();
        status.send_if_modified(|status| {
            let changed = status.host != stats;
            status.host = stats;
            changed
        });
    }
    if client.is_none() {
        match target.client().await {
            Ok(built) => *client = Some(built),
            Err(error) => {
                status.send_modify(|status| unreachable(status, pods, error));
                return false;
            }
        }
    }
    let Some(client) = client.as_ref() else {
        return false;
    };
    let started = Instant::now();
    let (result, waited_for_user) = patiently(status, client.apiserver_version()).await;
    let latency = started.elapsed();
    let result = match result {
        Some(Ok(info)) => Ok(info),
        Some(Err(error)) => Err(target.explain(error).await),
        None => Err(AppError::new(
            ErrorCode::Unreachable,
            format!(
                "The API server did not answer within {} s.",
                TIMEOUT.as_secs()
            ),
        )),
    };
    let answered = result.is_ok();
    status.send_modify(|status| match result {
        Ok(info) => {
            status.phase = ClusterPhase::Connected;
            status.version = Some(ServerVersion {
                git_version: info.git_version,
                platform: info.platform,
            });
            // A wait for the user is no round trip.
            status.latency_ms = (!waited_for_user).then_some(latency.as_secs_f64() * 1000.0);
            status.error = None;
        }
        Err(error) => unreachable(status, pods, error),
    });
    if pods == Pods::Docker
        && let Ok(Ok(nodes)) = tokio::time::timeout(
            TIMEOUT,
            Objects::<Node>::all(client.clone()).list(&ListParams::default()),
        )
        .await
        && let Some(docker) = docker_state(&nodes.items)
    {
        status.send_if_modified(|status| {
            let changed = status.docker.as_ref() != Some(&docker);
            status.docker = Some(docker);
            changed
        });
    }
    answered
}

/// `request`'s result, or `None` when it took longer than [`TIMEOUT`] — unless the cluster's
/// exec plugin is asking the user something (kube-rs renews a token inside a request):
/// then it waits, so the plugin is not cancelled and started again with a new question.
/// The flag says whether it waited so.
async fn patiently<T>(
    status: &watch::Sender<ClusterStatus>,
    request: impl Future<Output = T>,
) -> (Option<T>, bool) {
    let mut request = std::pin::pin!(request);
    let mut waited = false;
    loop {
        match tokio::time::timeout(TIMEOUT, &mut request).await {
            Ok(result) => return (Some(result), waited),
            Err(_) if status.borrow().prompt.is_some() => waited = true,
            Err(_) => return (None, waited),
        }
    }
}

/// Docker's state as the nodes report it: a node whose agent runs says `Ready=False` with
/// "Docker is not reachable…" when it is down, and `docker://<version>` as its runtime
/// version when it is up. `None` when no running node says either (all stopped, or none yet).
pub(crate) fn docker_state(nodes: &[Node]) -> Option<DockerState> {
    let reporting = nodes.iter().filter(|node| {
        // A stopped agent's status is stale.
        node.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubarium.dev/agent"))
            .is_none_or(|value| value != "stopped")
    });
    let mut version = None;
    for node in reporting {
        let Some(status) = &node.status else { continue };
        let down = status.conditions.iter().flatten().find(|c| {
            c.type_ == "Ready"
                && c.status == "False"
                && c.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Docker is not reachable"))
        });
        if let Some(down) = down {
            return Some(DockerState::Unreachable {
                message: down.message.clone().unwrap_or_default(),
            });
        }
        let runtime = status
            .node_info
            .as_ref()
            .and_then(|info| info.container_runtime_version.strip_prefix("docker://"));
        if let Some(v) = runtime.filter(|v| !matches!(*v, "unknown" | "unavailable" | "")) {
            version.get_or_insert_with(|| v.to_owned());
        }
    }
    version.map(|version| DockerState::Running { version })
}

fn unreachable(status: &mut ClusterStatus, pods: Pods, mut error: AppError) {
    if status.phase != ClusterPhase::Unreachable {
        tracing::warn!(cluster = %status.name, message = %error.message, "cluster unreachable");
    }
    status.phase = ClusterPhase::Unreachable;
    status.latency_ms = None;
    error.message = match pods {
        Pods::Remote => format!(
            "{} Kubarium keeps trying, less often while it fails (at most {} s apart).",
            error.message,
            MAX_BACKOFF.as_secs()
        ),
        Pods::Docker | Pods::Hollow => format!(
            "{} Kubarium keeps retrying every {} s.",
            error.message,
            INTERVAL.as_secs()
        ),
    };
    status.error = Some(error);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(annotations: serde_json::Value, ready_message: Option<&str>, runtime: &str) -> Node {
        let ready = match ready_message {
            Some(message) => serde_json::json!({"type": "Ready", "status": "False",
                "reason": "KubeletNotReady", "message": message}),
            None => serde_json::json!({"type": "Ready", "status": "True"}),
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n", "annotations": annotations},
            "status": {"conditions": [ready], "nodeInfo": {"containerRuntimeVersion": runtime,
                "architecture": "", "bootID": "", "kernelVersion": "", "kubeProxyVersion": "",
                "kubeletVersion": "", "machineID": "", "operatingSystem": "", "osImage": "",
                "systemUUID": ""}}
        }))
        .unwrap()
    }

    #[test]
    fn a_failing_remote_is_tried_less_and_less_often() {
        let waits: Vec<u64> = (0..9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [2, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn docker_state_comes_from_running_nodes() {
        let up = node(serde_json::json!({}), None, "docker://27.3.1");
        assert_eq!(
            docker_state(std::slice::from_ref(&up)),
            Some(DockerState::Running {
                version: "27.3.1".to_owned()
            })
        );
        let down_message = "Docker is not reachable at unix:///var/run/docker.sock: refused; start Docker (or run with --runtime hollow)";
        let down = node(
            serde_json::json!({}),
            Some(down_message),
            "docker://unknown",
        );
        assert_eq!(
            docker_state(&[up.clone(), down]),
            Some(DockerState::Unreachable {
                message: down_message.to_owned()
            })
        );
        // A stopped agent's report is stale, and an unknown version says nothing.
        let stopped = node(
            serde_json::json!({"kubarium.dev/agent": "stopped"}),
            Some(down_message),
            "docker://unknown",
        );
        assert_eq!(docker_state(&[stopped]), None);
        let unknown = node(serde_json::json!({}), None, "docker://unknown");
        assert_eq!(docker_state(&[unknown]), None);
        assert_eq!(docker_state(&[]), None);
    }
}
