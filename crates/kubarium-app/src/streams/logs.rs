//! A container's log as lines (`kubectl logs`): read from the API server's log stream, cut at
//! newlines and sent in batches at most 50 ms apart, so a chatty container costs the UI a
//! few messages a second rather than one per line.

use std::time::Duration;

use futures_util::AsyncReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use tokio::time::Instant;

use crate::Error;
use crate::ipc::AppError;
use crate::ipc::streams::{LogBatch, LogOptions};

/// How long lines wait for company before they are sent.
const COALESCE: Duration = Duration::from_millis(50);

/// Streams the log of `container` (`None`: the pod's only container) of `pod` to `send`
/// until the log ends, the stream breaks (a [`LogBatch::Error`]) or `send` returns false
/// (nobody listens any more). Run it as a task; dropping it closes the stream.
pub async fn stream_logs(
    client: kube::Client,
    namespace: String,
    pod: String,
    container: Option<String>,
    options: LogOptions,
    mut send: impl FnMut(LogBatch) -> bool + Send,
) {
    let api: Api<Pod> = Api::namespaced(client, &namespace);
    let params = LogParams {
        container: container.clone(),
        follow: options.follow,
        previous: options.previous,
        timestamps: options.timestamps,
        tail_lines: options.tail_lines,
        since_seconds: options.since_seconds,
        ..LogParams::default()
    };
    let mut reader = match api.log_stream(&pod, &params).await {
        Ok(reader) => Box::pin(reader),
        Err(error) => {
            send(LogBatch::Error {
                error: AppError::from(Error::Kube(error)),
            });
            return;
        }
    };
    let mut splitter = LineSplitter::default();
    let mut lines = Vec::new();
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) => break,
                Ok(n) => {
                    splitter.push(&buf[..n], &mut lines);
                    if !lines.is_empty() && deadline.is_none() {
                        deadline = Some(Instant::now() + COALESCE);
                    }
                }
                Err(error) => {
                    splitter.finish(&mut lines);
                    if !lines.is_empty() {
                        send(LogBatch::Lines { lines: std::mem::take(&mut lines) });
                    }
                    send(LogBatch::Error {
                        error: AppError::new(
                            crate::ipc::ErrorCode::Unreachable,
                            format!("The log stream of {pod} broke: {error}. Reopen the log to continue."),
                        ),
                    });
                    return;
                }
            },
            () = sleep_until(deadline), if deadline.is_some() => {
                deadline = None;
                if !send(LogBatch::Lines { lines: std::mem::take(&mut lines) }) {
                    return;
                }
            }
        }
    }
    splitter.finish(&mut lines);
    if !lines.is_empty() && !send(LogBatch::Lines { lines }) {
        return;
    }
    let reason = end_reason(&api, &pod, container.as_deref(), &options).await;
    send(LogBatch::End { reason });
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Why a log stream ended, looked up after it did.
async fn end_reason(
    api: &Api<Pod>,
    pod: &str,
    container: Option<&str>,
    options: &LogOptions,
) -> String {
    if !options.follow {
        return "End of the log. Turn on follow to keep receiving new lines.".to_owned();
    }
    let named = container.map_or_else(|| "The container".to_owned(), |c| format!("Container {c}"));
    match api.get_opt(pod).await {
        Ok(None) => format!("Pod {pod} was deleted; its log ends here."),
        Ok(Some(_)) => format!(
            "{named} of pod {pod} stopped, so its log ended. Reopen the log once it runs again."
        ),
        Err(_) => format!("The log of pod {pod} ended. Reopen it to continue."),
    }
}

/// Cuts bytes into lines at `\n` (a `\r` before it goes too), holding a partial line until its
/// newline arrives. Invalid UTF-8 is replaced, not refused: a log is shown as well as it can
/// be.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Appends `bytes`; every line they complete goes to `lines`.
    pub fn push(&mut self, bytes: &[u8], lines: &mut Vec<String>) {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let mut line = std::mem::take(&mut self.partial);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        self.partial.extend_from_slice(rest);
    }

    /// The stream ended: a last line without a newline goes to `lines`.
    pub fn finish(&mut self, lines: &mut Vec<String>) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut lines);
        }
        splitter.finish(&mut lines);
        lines
    }

    #[test]
    fn lines_are_cut_at_newlines_across_chunks() {
        assert_eq!(
            split(&[b"one\ntw", b"o\r\nthr", b"ee\n"]),
            ["one", "two", "three"]
        );
    }

    #[test]
    fn a_partial_line_waits_for_its_newline_and_is_flushed_at_the_end() {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        splitter.push(b"half", &mut lines);
        assert!(lines.is_empty());
        splitter.push(b" a line\nlast", &mut lines);
        assert_eq!(lines, ["half a line"]);
        splitter.finish(&mut lines);
        assert_eq!(lines, ["half a line", "last"]);
    }

    #[test]
    fn empty_lines_are_kept_and_invalid_utf8_is_replaced() {
        assert_eq!(split(&[b"\n\xffok\n"]), ["", "\u{fffd}ok"]);
    }
}
