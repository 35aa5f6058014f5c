//! One-shot exec (`kubectl exec pod -- cat /etc/web/greeting`): a command in a container
//! without a terminal or input, its output collected until it ends. Lessons use it to read
//! a file or send a request from inside a pod; a time limit keeps a command that never ends
//! (`sleep infinity`, a server) from holding a check forever.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::ipc::learn::ExecResult;
use crate::{Error, Result};

/// The most of each stream kept; the rest is read and dropped, so the command never blocks
/// on a full pipe.
pub(crate) const CAP: usize = 64 * 1024;

/// How long the command may run before it is cancelled.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// Runs `command` in `container` (`None`: the pod's only one) of `pod` and collects what
/// it prints. Fails only when it cannot start (no such pod or container, not running); a
/// command that fails, or runs past [`LIMIT`], is an [`ExecResult`] that says so.
pub async fn exec_run(
    client: kube::Client,
    namespace: &str,
    pod: &str,
    container: Option<String>,
    command: Vec<String>,
) -> Result<ExecResult> {
    if command.is_empty() {
        return Err(Error::Local(
            "No command to run; give one, such as cat /etc/hostname.".to_owned(),
        ));
    }
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let params = AttachParams {
        container,
        stdin: false,
        stdout: true,
        stderr: true,
        tty: false,
        max_stdin_buf_size: None,
        max_stdout_buf_size: Some(CAP),
        max_stderr_buf_size: Some(CAP),
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let run = async {
        let mut process = api.exec(pod, command, &params).await?;
        let status = process.take_status();
        tokio::join!(
            collect(process.stdout(), &mut stdout),
            collect(process.stderr(), &mut stderr)
        );
        let status = match status {
            Some(status) => status.await,
            None => None,
        };
        Ok::<_, Error>(crate::streams::exit_of(status.as_ref()))
    };
    let (exit_code, message) = match tokio::time::timeout(LIMIT, run).await {
        Ok(ended) => ended?,
        // Dropping the session closes its connection, which ends the command on the node.
        Err(_) => (None, timed_out(LIMIT)),
    };
    Ok(ExecResult {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit_code,
        message,
    })
}

/// Reads `stream` to its end into `into`, keeping at most [`CAP`] bytes.
async fn collect(stream: Option<impl AsyncRead + Unpin>, into: &mut Vec<u8>) {
    let Some(mut stream) = stream else {
        return;
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => keep(into, &buf[..n]),
        }
    }
}

/// Appends what still fits under [`CAP`].
fn keep(into: &mut Vec<u8>, data: &[u8]) {
    let room = CAP.saturating_sub(into.len());
    into.extend_from_slice(&data[..data.len().min(room)]);
}

fn timed_out(limit: Duration) -> String {
    format!(
        "The command did not end within {} s, so it was cancelled. Run commands that finish on their own (not sleep or a server); use the terminal for long ones.",
        limit.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::actions::testing::{Hollow, eventually};

    #[test]
    fn output_is_capped() {
        let mut into = Vec::new();
        keep(&mut into, &vec![b'a'; CAP - 1]);
        keep(&mut into, b"bcd");
        assert_eq!(into.len(), CAP);
        assert_eq!(into.last(), Some(&b'b'));
        keep(&mut into, b"e");
        assert_eq!(into.len(), CAP);
    }

    /// Hollow containers run nothing: the exec starts, and its result says why nothing ran
    /// (no exit code). A pod that does not exist fails to start.
    #[tokio::test]
    async fn a_hollow_pod_answers_with_why_and_a_missing_pod_fails() {
        let hollow = Hollow::start().await;
        hollow
            .create::<Pod>(json!({
                "metadata": {"name": "web"},
                "spec": {"containers": [{"name": "web", "image": "kubarium.dev/demo:1"}]},
            }))
            .await;
        let pods = Api::<Pod>::default_namespaced(hollow.client.clone());
        eventually("web to run", || async {
            let phase = pods.get("web").await.ok()?.status?.phase?;
            (phase == "Running").then_some(())
        })
        .await;
        let network = hollow.local.network_client().await.unwrap();
        let command = vec!["cat".to_owned(), "/etc/hostname".to_owned()];
        let result = exec_run(network.clone(), "default", "web", None, command.clone())
            .await
            .unwrap();
        assert_eq!(result.exit_code, None, "{result:?}");
        assert!(result.message.contains("hollow"), "{}", result.message);

        let missing = exec_run(network.clone(), "default", "nope", None, command)
            .await
            .unwrap_err();
        let error = crate::ipc::AppError::from(missing);
        assert_eq!(error.code, crate::ipc::ErrorCode::NotFound, "{error:?}");
        assert!(
            exec_run(network, "default", "web", None, Vec::new())
                .await
                .is_err()
        );
        hollow.stop().await;
    }

    #[test]
    fn the_time_limit_says_what_happened() {
        let message = timed_out(LIMIT);
        assert!(message.contains("20 s"), "{message}");
        assert!(message.contains("cancelled"), "{message}");
    }
}
