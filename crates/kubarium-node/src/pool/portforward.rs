//! `kubectl port-forward` on the node side: the pod's sandbox, found by the pod's uid, and
//! a connection into its network namespace from the runtime.

use super::PodStreams;
use crate::runtime::Duplex;
use crate::{Error, Result};

impl PodStreams {
    /// A connection to `port` in the network namespace of the pod with uid `uid`. A failure
    /// is an [`Error::Runtime`] whose reason reads as the kubelet's, for kubectl to print
    /// after "an error occurred forwarding …": `error forwarding port 80 to pod <sandbox>,
    /// uid : dial tcp4 172.18.0.3:80: connect: connection refused`.
    pub async fn port_forward(&self, uid: &str, port: u16) -> Result<Box<dyn Duplex>> {
        let failed = |pod: &str, why: String| Error::Runtime {
            reason: format!("error forwarding port {port} to pod {pod}, uid : {why}"),
        };
        let Some(docker) = &self.shared.docker else {
            return Err(failed(
                uid,
                format!(
                    "the {} runtime runs no processes, so nothing listens in its pods; run the cluster with --runtime docker",
                    self.shared.runtime.name()
                ),
            ));
        };
        let sandbox = match docker.pod_sandbox(uid).await {
            Ok(Some(sandbox)) => sandbox,
            Ok(None) => {
                return Err(failed(
                    uid,
                    "the pod has no running sandbox; wait until the pod is Running".to_owned(),
                ));
            }
            Err(error) => return Err(failed(uid, reason(error))),
        };
        self.shared
            .runtime
            .port_forward(&sandbox, port)
            .await
            .map_err(|error| failed(&sandbox.0, reason(error)))
    }
}

/// What the runtime said, without the "container runtime:" prefix of its `Display`.
fn reason(error: Error) -> String {
    match error {
        Error::Runtime { reason } => reason,
        error => error.to_string(),
    }
}
