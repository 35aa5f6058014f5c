//! Probing a cluster's API server: `/version` every few seconds, through the same
//! `kube::Client` every other call uses, feeding the status bar's state, version and latency.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::ipc::{AppError, ClusterPhase, ClusterStatus, ErrorCode, ServerVersion};

/// Time between probes.
const INTERVAL: Duration = Duration::from_secs(2);
/// A probe slower than this counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What to probe.
pub(crate) enum Target {
    /// A cluster reached as its kubeconfig says, over the network, as kubectl reaches it.
    Kubeconfig(kube::config::Kubeconfig),
}

impl Target {
    async fn client(&self) -> Result<kube::Client, String> {
        match self {
            Target::Kubeconfig(kubeconfig) => {
                let config =
                    kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &Default::default())
                        .await
                        .map_err(|e| format!("Its kubeconfig cannot be used: {e}."))?;
                kube::Client::try_from(config).map_err(|e| format!("No client for it: {e}."))
            }
        }
    }
}

/// Probes until aborted, updating `status` after every probe.
pub(crate) async fn run(target: Target, status: watch::Sender<ClusterStatus>) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut client = None;
    loop {
        ticks.tick().await;
        if client.is_none() {
            match target.client().await {
                Ok(built) => client = Some(built),
                Err(message) => {
                    status.send_modify(|status| unreachable(status, message));
                    continue;
                }
            }
        }
        let Some(client) = &client else { continue };
        let started = Instant::now();
        let result = tokio::time::timeout(TIMEOUT, client.apiserver_version()).await;
        let latency = started.elapsed();
        status.send_modify(|status| match result {
            Ok(Ok(info)) => {
                status.phase = ClusterPhase::Connected;
                status.version = Some(ServerVersion {
                    git_version: info.git_version,
                    platform: info.platform,
                });
                status.latency_ms = Some(latency.as_secs_f64() * 1000.0);
                status.error = None;
            }
            Ok(Err(error)) => unreachable(
                status,
                format!("The API server answered with an error: {error}."),
            ),
            Err(_) => unreachable(
                status,
                format!(
                    "The API server did not answer within {} s.",
                    TIMEOUT.as_secs()
                ),
            ),
        });
    }
}

fn unreachable(status: &mut ClusterStatus, message: String) {
    if status.phase != ClusterPhase::Unreachable {
        tracing::warn!(cluster = %status.name, %message, "cluster unreachable");
    }
    status.phase = ClusterPhase::Unreachable;
    status.latency_ms = None;
    status.error = Some(AppError::new(
        ErrorCode::Unreachable,
        format!(
            "{message} Kubarium keeps retrying every {} s.",
            INTERVAL.as_secs()
        ),
    ));
}
