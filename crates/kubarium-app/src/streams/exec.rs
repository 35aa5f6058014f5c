//! Exec sessions (`kubectl exec -i [-t]`): a command in a container with its standard
//! streams over the API server's WebSocket channel protocol. Output goes to the UI in chunks
//! at most 16 ms apart (a terminal must feel immediate, but one message per byte would not
//! keep up); typed input and terminal sizes come back through [`Streams`] by session id.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::{AttachParams, TerminalSize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Streams, lock, send_to};
use crate::ipc::resources::StreamId;
use crate::ipc::streams::ExecOutput;
use crate::{Error, Result, Tasks};

/// How long output waits for more before it is sent.
const COALESCE: Duration = Duration::from_millis(16);

/// Buffer between the WebSocket and this side, per stream (kube's default is 1 KiB).
const PIPE: usize = 64 * 1024;

/// How a running session is reached: its input and its terminal's size.
pub struct ExecSession {
    input: mpsc::UnboundedSender<Vec<u8>>,
    resize: mpsc::UnboundedSender<TerminalSize>,
}

impl Streams {
    /// Starts `command` in `container` (`None`: the pod's only container) of `pod`, with
    /// standard input attached and, with `tty`, a terminal (stdout and stderr are then one
    /// stream). Output and the exit go to `send` until it returns false. Fails when the
    /// session cannot start (no such pod or container, the container is not running).
    #[allow(clippy::too_many_arguments)] // the exec request's own parameters
    pub async fn exec_start(
        &self,
        tasks: &Tasks,
        client: kube::Client,
        namespace: &str,
        pod: &str,
        container: Option<String>,
        command: Vec<String>,
        tty: bool,
        send: impl FnMut(ExecOutput) -> bool + Send + 'static,
    ) -> Result<StreamId> {
        if command.is_empty() {
            return Err(Error::Local(
                "No command to run; enter one, such as sh.".to_owned(),
            ));
        }
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let params = AttachParams {
            container,
            stdin: true,
            stdout: true,
            stderr: !tty,
            tty,
            max_stdin_buf_size: Some(PIPE),
            max_stdout_buf_size: Some(PIPE),
            max_stderr_buf_size: Some(PIPE),
        };
        let process = api.exec(pod, command, &params).await?;
        let (input, input_rx) = mpsc::unbounded_channel();
        let (resize, resize_rx) = mpsc::unbounded_channel();
        let id = tasks.spawn(run(process, input_rx, resize_rx, send));
        let mut sessions = lock(&self.exec);
        sessions.retain(|_, session| !session.input.is_closed());
        sessions.insert(id, ExecSession { input, resize });
        Ok(id)
    }

    /// Types `data` into session `id`.
    pub fn exec_input(&self, id: StreamId, data: Vec<u8>) -> Result<()> {
        send_to(&self.exec, id, |session| &session.input, data)
    }

    /// Tells session `id`'s terminal its new size; ignored without a terminal.
    pub fn exec_resize(&self, id: StreamId, cols: u16, rows: u16) -> Result<()> {
        let size = TerminalSize {
            width: cols,
            height: rows,
        };
        send_to(&self.exec, id, |session| &session.resize, size)
    }
}

/// The session's task: input and resizes in, output out, then the exit.
async fn run(
    mut process: kube::api::AttachedProcess,
    mut input: mpsc::UnboundedReceiver<Vec<u8>>,
    mut resize: mpsc::UnboundedReceiver<TerminalSize>,
    mut send: impl FnMut(ExecOutput) -> bool + Send,
) {
    let stdin = process.stdin();
    let stdout = process.stdout();
    let stderr = process.stderr();
    let status = process.take_status();
    let mut terminal = process.terminal_size();
    // Input is written beside the output pump, never in its way: a full stdin pipe must not
    // stop output from being read (the process may be waiting for its output to drain).
    let pump_in = async move {
        if let Some(mut stdin) = stdin {
            let mut sizes_open = true;
            loop {
                tokio::select! {
                    data = input.recv() => match data {
                        Some(data) => {
                            if stdin.write_all(&data).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    size = resize.recv(), if sizes_open => match (size, terminal.as_mut()) {
                        // A full queue of sizes means a newer one follows: drop this.
                        (Some(size), Some(terminal)) => { let _ = terminal.try_send(size); }
                        (Some(_), None) => {}
                        (None, _) => sizes_open = false,
                    },
                }
            }
            let _ = stdin.shutdown().await;
        }
        std::future::pending::<()>().await;
    };
    let pump_out = async {
        if !pump_output(stdout, stderr, &mut send).await {
            return;
        }
        let status = match status {
            Some(status) => status.await,
            None => None,
        };
        let (code, message) = exit_of(status.as_ref());
        send(ExecOutput::Exit { code, message });
    };
    tokio::select! {
        () = pump_in => {}
        () = pump_out => {}
    }
    drop(process);
}

/// Copies stdout and stderr to `send` until both end; false when `send` refused (nobody
/// listens).
async fn pump_output(
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
    send: &mut impl FnMut(ExecOutput) -> bool,
) -> bool {
    let (mut stdout, mut stderr) = (stdout, stderr);
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut out_buf = vec![0u8; 16 * 1024];
    let mut err_buf = vec![0u8; 16 * 1024];
    let mut deadline: Option<Instant> = None;
    loop {
        if stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            read = read_some(stdout.as_mut(), &mut out_buf) => match read {
                Some(n) => out.extend_from_slice(&out_buf[..n]),
                None => stdout = None,
            },
            read = read_some(stderr.as_mut(), &mut err_buf) => match read {
                Some(n) => err.extend_from_slice(&err_buf[..n]),
                None => stderr = None,
            },
            () = sleep_until(deadline), if deadline.is_some() => {
                deadline = None;
                if !flush(&mut out, &mut err, send) {
                    return false;
                }
                continue;
            }
        }
        if deadline.is_none() && !(out.is_empty() && err.is_empty()) {
            deadline = Some(Instant::now() + COALESCE);
        }
    }
    flush(&mut out, &mut err, send)
}

/// Reads what is there; `None` at the end (or with no stream: then never returns).
async fn read_some(stream: Option<&mut (impl AsyncRead + Unpin)>, buf: &mut [u8]) -> Option<usize> {
    match stream {
        Some(stream) => match stream.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

fn flush(out: &mut Vec<u8>, err: &mut Vec<u8>, send: &mut impl FnMut(ExecOutput) -> bool) -> bool {
    if !out.is_empty()
        && !send(ExecOutput::Stdout {
            data: std::mem::take(out),
        })
    {
        return false;
    }
    if !err.is_empty()
        && !send(ExecOutput::Stderr {
            data: std::mem::take(err),
        })
    {
        return false;
    }
    true
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// The exit code and a sentence from the Status the server sends at the end, read as
/// kubectl reads it: `Success` is 0; `NonZeroExitCode` carries the code in an `ExitCode`
/// cause; any other failure has no code, only its message.
pub(crate) fn exit_of(status: Option<&Status>) -> (Option<i32>, String) {
    let Some(status) = status else {
        return (
            None,
            "The session closed without an exit status (the container or the connection went away). Reconnect to start a new one.".to_owned(),
        );
    };
    if status.status.as_deref() == Some("Success") {
        return (Some(0), "The command exited with code 0.".to_owned());
    }
    let code = (status.reason.as_deref() == Some("NonZeroExitCode"))
        .then(|| {
            status
                .details
                .iter()
                .flat_map(|details| details.causes.iter().flatten())
                .find(|cause| cause.reason.as_deref() == Some("ExitCode"))
                .and_then(|cause| cause.message.as_deref()?.trim().parse::<i32>().ok())
        })
        .flatten();
    match code {
        Some(code) => (Some(code), format!("The command exited with code {code}.")),
        None => {
            let message = status.message.clone().unwrap_or_default();
            let message = if message.is_empty() {
                "The command failed; the server gave no reason.".to_owned()
            } else {
                format!("The command failed: {message}")
            };
            (None, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    use super::*;

    #[test]
    fn success_is_code_zero() {
        let status = Status {
            status: Some("Success".to_owned()),
            ..Status::default()
        };
        assert_eq!(exit_of(Some(&status)).0, Some(0));
    }

    #[test]
    fn a_non_zero_exit_code_is_read_from_its_cause() {
        let status = Status {
            status: Some("Failure".to_owned()),
            reason: Some("NonZeroExitCode".to_owned()),
            message: Some("command terminated with non-zero exit code: exit status 3".to_owned()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".to_owned()),
                    message: Some("3".to_owned()),
                    field: None,
                }]),
                ..StatusDetails::default()
            }),
            ..Status::default()
        };
        assert_eq!(
            exit_of(Some(&status)),
            (Some(3), "The command exited with code 3.".to_owned())
        );
    }

    #[test]
    fn other_failures_and_a_missing_status_have_no_code() {
        let status = Status {
            status: Some("Failure".to_owned()),
            message: Some("executable file not found".to_owned()),
            ..Status::default()
        };
        let (code, message) = exit_of(Some(&status));
        assert_eq!(code, None);
        assert!(message.contains("executable file not found"), "{message}");
        assert_eq!(exit_of(None).0, None);
    }
}
