//! The Docker runtime's streams: a container's log (`kubectl logs`), a command run in it
//! with its stdio connected (`kubectl exec`, `cp`), and its own process's stdio (`kubectl
//! attach`), through the engine's logs, exec and attach endpoints.
//!
//! Docker multiplexes stdout and stderr on one connection (unless there is a TTY); they are
//! split here into the two streams the API server frames on their own channels. An exec's
//! exit code is read from the engine once its output has ended.

use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig as DockerExec;
use bollard::query_parameters::{
    AttachContainerOptions, LogsOptions, ResizeContainerTTYOptions, ResizeExecOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::runtime::{ByteStream, ExecConfig, ExecSession, LogOptions, Resize};
use crate::{Error, Result};

/// How many output chunks wait for the client per stream before the engine is read slower.
const BUFFERED: usize = 64;

fn failed(what: &str) -> impl FnOnce(bollard::errors::Error) -> Error + '_ {
    move |error| Error::Runtime {
        reason: format!("{what}: {error}"),
    }
}

/// A container's log, stdout and stderr interleaved as written.
pub(super) fn logs(docker: &Docker, id: &str, options: LogOptions) -> ByteStream {
    let since = options
        .since
        .map(|at| i32::try_from(at.as_second()).unwrap_or(i32::MAX))
        .unwrap_or(0);
    let query = LogsOptions {
        follow: options.follow,
        stdout: true,
        stderr: true,
        since,
        until: 0,
        timestamps: options.timestamps,
        tail: options
            .tail_lines
            .map_or_else(|| "all".to_owned(), |n| n.max(0).to_string()),
    };
    Box::pin(docker.logs(id, Some(query)).map(|chunk| {
        chunk
            .map(LogOutput::into_bytes)
            .map_err(std::io::Error::other)
    }))
}

/// Runs `config.command` in container `id`, or attaches to its process when the command is
/// empty.
pub(super) async fn exec(docker: &Docker, id: &str, config: ExecConfig) -> Result<ExecSession> {
    if config.command.is_empty() {
        return attach(docker, id, config).await;
    }
    let created = docker
        .create_exec(
            id,
            DockerExec {
                attach_stdin: Some(config.stdin),
                attach_stdout: Some(config.stdout),
                attach_stderr: Some(config.stderr),
                tty: Some(config.tty),
                cmd: Some(config.command.clone()),
                ..DockerExec::default()
            },
        )
        .await
        .map_err(failed("could not create the exec"))?;
    let started = docker
        .start_exec(
            &created.id,
            Some(StartExecOptions {
                detach: false,
                tty: config.tty,
                output_capacity: None,
            }),
        )
        .await
        .map_err(failed("could not start the exec"))?;
    let StartExecResults::Attached { output, input } = started else {
        return Err(Error::Runtime {
            reason: "the engine started the exec detached".to_owned(),
        });
    };
    let (stdout, stderr, ended) = split(output, &config);
    let (code_tx, code_rx) = oneshot::channel();
    let engine = docker.clone();
    let exec_id = created.id.clone();
    tokio::spawn(async move {
        let _ = ended.await;
        let _ = code_tx.send(exit_code(&engine, &exec_id).await);
    });
    let resize: Option<Resize> = config.tty.then(|| {
        let engine = docker.clone();
        let exec_id = created.id.clone();
        Box::new(move |width: u16, height: u16| {
            let engine = engine.clone();
            let exec_id = exec_id.clone();
            Box::pin(async move {
                engine
                    .resize_exec(
                        &exec_id,
                        ResizeExecOptions {
                            h: i32::from(height),
                            w: i32::from(width),
                        },
                    )
                    .await
                    .map_err(failed("could not resize the exec's terminal"))
            }) as crate::runtime::BoxFuture<'static, Result<()>>
        }) as Resize
    });
    Ok(ExecSession {
        stdin: config.stdin.then_some(input),
        stdout,
        stderr,
        resize,
        exit: Box::pin(async move {
            code_rx.await.map_err(|_| Error::Runtime {
                reason: "the exec ended without an exit code".to_owned(),
            })?
        }),
    })
}

/// The exec's exit code once the engine says it has ended.
async fn exit_code(docker: &Docker, exec_id: &str) -> Result<Option<i32>> {
    // The output ends as the process does; the engine records the exit a moment later.
    for _ in 0..100 {
        let inspected = docker
            .inspect_exec(exec_id)
            .await
            .map_err(failed("could not inspect the exec"))?;
        if inspected.running != Some(true) {
            return Ok(inspected.exit_code.and_then(|c| i32::try_from(c).ok()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(None)
}

/// Attaches to container `id`'s own process.
async fn attach(docker: &Docker, id: &str, config: ExecConfig) -> Result<ExecSession> {
    let attached = docker
        .attach_container(
            id,
            Some(AttachContainerOptions {
                detach_keys: None,
                logs: false,
                stream: true,
                stdin: config.stdin,
                stdout: config.stdout,
                stderr: config.stderr,
            }),
        )
        .await
        .map_err(failed("could not attach to the container"))?;
    let (stdout, stderr, ended) = split(attached.output, &config);
    let resize: Option<Resize> = config.tty.then(|| {
        let engine = docker.clone();
        let id = id.to_owned();
        Box::new(move |width: u16, height: u16| {
            let engine = engine.clone();
            let id = id.clone();
            Box::pin(async move {
                engine
                    .resize_container_tty(
                        &id,
                        ResizeContainerTTYOptions {
                            h: i32::from(height),
                            w: i32::from(width),
                        },
                    )
                    .await
                    .map_err(failed("could not resize the container's terminal"))
            }) as crate::runtime::BoxFuture<'static, Result<()>>
        }) as Resize
    });
    Ok(ExecSession {
        stdin: config.stdin.then_some(attached.input),
        stdout,
        stderr,
        resize,
        exit: Box::pin(async move {
            let _ = ended.await;
            Ok(None)
        }),
    })
}

type Output = std::pin::Pin<
    Box<dyn Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>> + Send>,
>;

/// Splits the engine's multiplexed output into stdout and stderr (a TTY's output is all
/// stdout); the receiver resolves when the output has ended.
fn split(
    mut output: Output,
    config: &ExecConfig,
) -> (
    Option<ByteStream>,
    Option<ByteStream>,
    oneshot::Receiver<()>,
) {
    let (out_tx, out_rx) = mpsc::channel::<std::io::Result<Bytes>>(BUFFERED);
    let (err_tx, err_rx) = mpsc::channel::<std::io::Result<Bytes>>(BUFFERED);
    let (ended_tx, ended_rx) = oneshot::channel();
    let (want_out, want_err) = (config.stdout, config.stderr);
    tokio::spawn(async move {
        while let Some(chunk) = output.next().await {
            let (sender, message) = match chunk {
                Ok(LogOutput::StdErr { message }) => (&err_tx, Ok(message)),
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::Console { message }
                    | LogOutput::StdIn { message },
                ) => (&out_tx, Ok(message)),
                Err(error) => (&out_tx, Err(std::io::Error::other(error))),
            };
            let failed = message.is_err();
            // A stream nobody reads is dropped; the other keeps going.
            let _ = sender.send(message).await;
            if failed {
                break;
            }
        }
        let _ = ended_tx.send(());
    });
    let stream = |mut receiver: mpsc::Receiver<std::io::Result<Bytes>>| -> ByteStream {
        Box::pin(futures_util::stream::poll_fn(move |cx| {
            receiver.poll_recv(cx)
        }))
    };
    (
        want_out.then(|| stream(out_rx)),
        want_err.then(|| stream(err_rx)),
        ended_rx,
    )
}
