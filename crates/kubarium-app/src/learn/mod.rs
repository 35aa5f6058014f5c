//! Learn mode's host side: a one-shot exec that collects its output (checks and widgets read
//! files and send requests from inside pods with it), a kubectl terminal on this machine
//! pointed at the local cluster, and GETs through the local cluster's ingress controller.
//! Lessons run on the local cluster only, so the terminal and the ingress are its.

mod exec_run;
mod ingress;
#[cfg(unix)]
mod terminal;

use std::path::PathBuf;

pub use exec_run::exec_run;

use crate::ipc::learn::{ExecResult, HttpAnswer};
use crate::ipc::resources::StreamId;
use crate::ipc::streams::ExecOutput;
use crate::{App, Result};

impl App {
    /// Runs `command` once in a container of `cluster` and collects its output
    /// ([`exec_run`]).
    pub async fn exec_run(
        &self,
        cluster: &str,
        namespace: &str,
        pod: &str,
        container: Option<String>,
        command: Vec<String>,
    ) -> Result<ExecResult> {
        let client = self.upgrading_client(cluster).await?;
        exec_run(client, namespace, pod, container, command).await
    }

    /// Starts the user's shell on a terminal of `cols` × `rows`, kubectl pointed at the
    /// local cluster in `namespace`. Output and the exit go to `send`; `stop_stream` ends it.
    pub async fn terminal_start(
        &self,
        namespace: Option<String>,
        cols: u16,
        rows: u16,
        send: impl FnMut(ExecOutput) -> bool + Send + 'static,
    ) -> Result<StreamId> {
        self.terminal_start_with(None, namespace, cols, rows, send)
            .await
    }

    /// [`App::terminal_start`] running `shell` (`None`: the user's).
    pub(crate) async fn terminal_start_with(
        &self,
        shell: Option<PathBuf>,
        namespace: Option<String>,
        cols: u16,
        rows: u16,
        send: impl FnMut(ExecOutput) -> bool + Send + 'static,
    ) -> Result<StreamId> {
        #[cfg(not(unix))]
        {
            let _ = (shell, namespace, cols, rows, send);
            Err(crate::streams::terminal_not_available())
        }
        #[cfg(unix)]
        {
            let command = terminal::command(self.local(), namespace.as_deref(), shell).await?;
            self.streams()
                .terminal_start(self.tasks(), command, cols, rows, send)
        }
    }

    /// GETs `path` with `Host: host` through the local cluster's ingress controller.
    pub async fn ingress_get(&self, host: &str, path: &str) -> Result<HttpAnswer> {
        let port = ingress::ingress_port(self.local()).await?;
        ingress::get(port, host, path).await
    }

    /// `http://host:port/` through the local cluster's ingress controller, for a browser.
    pub async fn ingress_url(&self, host: &str) -> Result<String> {
        ingress::url(host, ingress::ingress_port(self.local()).await?)
    }
}

#[cfg(all(test, unix))]
mod tests;
