//! Command adapters for Learn mode's host side (kubarium_app's `learn` module): one-shot
//! exec, the kubectl terminal on this machine, GETs through the local ingress controller.

use kubarium_app::ipc::AppError;
use kubarium_app::ipc::learn::{ExecResult, HttpAnswer};
use kubarium_app::ipc::resources::StreamId;
use kubarium_app::ipc::streams::ExecOutput;
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;

/// Runs a command once in a container and returns its output and exit code.
#[tauri::command]
pub(crate) async fn exec_run(
    desktop: State<'_, Desktop>,
    cluster: String,
    namespace: String,
    pod: String,
    container: Option<String>,
    command: Vec<String>,
) -> Result<ExecResult, AppError> {
    Ok(desktop
        .app
        .exec_run(&cluster, &namespace, &pod, container, command)
        .await?)
}

/// Starts a shell on this machine with kubectl pointed at the local cluster; output and its
/// exit arrive on `on_output`; stop it with `stop_stream`.
#[tauri::command]
pub(crate) async fn terminal_start(
    desktop: State<'_, Desktop>,
    namespace: Option<String>,
    cols: u16,
    rows: u16,
    on_output: Channel<ExecOutput>,
) -> Result<StreamId, AppError> {
    let send = move |output| on_output.send(output).is_ok();
    Ok(desktop
        .app
        .terminal_start(namespace, cols, rows, send)
        .await?)
}

/// Types bytes into the terminal.
#[tauri::command]
pub(crate) fn terminal_input(
    desktop: State<'_, Desktop>,
    id: StreamId,
    data: Vec<u8>,
) -> Result<(), AppError> {
    desktop
        .app
        .streams()
        .terminal_input(id, data)
        .map_err(Into::into)
}

/// Tells the terminal its size.
#[tauri::command]
pub(crate) fn terminal_resize(
    desktop: State<'_, Desktop>,
    id: StreamId,
    cols: u16,
    rows: u16,
) -> Result<(), AppError> {
    desktop
        .app
        .streams()
        .terminal_resize(id, cols, rows)
        .map_err(Into::into)
}

/// GETs a path with a Host header through the local cluster's ingress controller.
#[tauri::command]
pub(crate) async fn ingress_get(
    desktop: State<'_, Desktop>,
    host: String,
    path: String,
) -> Result<HttpAnswer, AppError> {
    Ok(desktop.app.ingress_get(&host, &path).await?)
}

/// The address that opens a host through the local ingress controller in a browser.
#[tauri::command]
pub(crate) async fn ingress_url(
    desktop: State<'_, Desktop>,
    host: String,
) -> Result<String, AppError> {
    Ok(desktop.app.ingress_url(&host).await?)
}
