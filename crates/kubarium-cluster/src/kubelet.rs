//! The API server's [`Kubelet`] over the node pool: pods' `log`, `exec`, `attach` and
//! `portforward` come from [`kubarium_node::PodStreams`], with the node side's refusals
//! turned into `Status` codes (404 for a container that is not there, 400 for one that
//! cannot serve the request, 503 for a stopped agent; a runtime failure is the server's
//! own, 500). A port-forward failure's message reaches kubectl's error stream as it is.

use k8s_openapi::api::core::v1::Pod;
use kubarium_apiserver::StatusError;
use kubarium_apiserver::kubelet::{
    BoxFuture, ByteStream, Duplex, ExecRequest, Kubelet, LogRequest, Session, TerminalSize,
};
use kubarium_node::runtime::{ExecConfig, LogOptions};
use kubarium_node::{PodStreams, StreamError};

/// The node agents of this process, as the API server reaches them.
pub(crate) struct PoolKubelet {
    streams: PodStreams,
}

impl PoolKubelet {
    pub(crate) fn new(streams: PodStreams) -> Self {
        Self { streams }
    }
}

fn status(error: StreamError) -> StatusError {
    match error {
        StreamError::NotFound(message) => StatusError {
            code: http::StatusCode::NOT_FOUND,
            reason: "NotFound",
            message,
            details: None,
        },
        StreamError::BadRequest(message) => StatusError::bad_request(message),
        StreamError::Unavailable(message) => StatusError::service_unavailable(message),
        StreamError::Runtime(error) => runtime(error),
    }
}

fn runtime(error: kubarium_node::Error) -> StatusError {
    StatusError::internal(format!("the container runtime failed: {error}"))
}

impl Kubelet for PoolKubelet {
    fn logs(
        &self,
        pod: Pod,
        request: LogRequest,
    ) -> BoxFuture<'_, Result<ByteStream, StatusError>> {
        Box::pin(async move {
            let options = LogOptions {
                follow: request.follow,
                timestamps: request.timestamps,
                tail_lines: request.tail_lines,
                since: request.since,
            };
            self.streams
                .logs(&pod, &request.container, request.previous, options)
                .await
                .map_err(status)
        })
    }

    fn exec(&self, pod: Pod, request: ExecRequest) -> BoxFuture<'_, Result<Session, StatusError>> {
        Box::pin(async move {
            let config = ExecConfig {
                command: request.command,
                stdin: request.stdin,
                stdout: request.stdout,
                stderr: request.stderr,
                tty: request.tty,
            };
            let session = self
                .streams
                .exec(&pod, &request.container, config)
                .await
                .map_err(status)?;
            let resize = session.resize.map(|resize| {
                Box::new(move |size: TerminalSize| -> BoxFuture<'static, ()> {
                    let resized = resize(size.width, size.height);
                    Box::pin(async move {
                        if let Err(error) = resized.await {
                            tracing::debug!(%error, "could not resize an exec terminal");
                        }
                    })
                })
                    as Box<dyn Fn(TerminalSize) -> BoxFuture<'static, ()> + Send + Sync>
            });
            let exit = session.exit;
            Ok(Session {
                stdin: session.stdin,
                stdout: session.stdout,
                stderr: session.stderr,
                resize,
                exit: Box::pin(async move { exit.await.map_err(runtime) }),
            })
        })
    }

    fn port_forward(
        &self,
        pod: Pod,
        port: u16,
    ) -> BoxFuture<'_, Result<Box<dyn Duplex>, StatusError>> {
        Box::pin(async move {
            let uid = pod.metadata.uid.unwrap_or_default();
            // The message goes to kubectl's error stream as it is (the kubelet's wording).
            match self.streams.port_forward(&uid, port).await {
                Ok(connection) => Ok(Box::new(connection) as Box<dyn Duplex>),
                Err(kubarium_node::Error::Runtime { reason }) => Err(StatusError::internal(reason)),
                Err(error) => Err(StatusError::internal(error.to_string())),
            }
        })
    }
}
