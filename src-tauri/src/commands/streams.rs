//! Command adapters for kubarium_app::streams: pod logs, exec sessions, port-forwards.

use kubarium_app::ipc::AppError;
use kubarium_app::ipc::resources::StreamId;
use kubarium_app::ipc::streams::{ExecOutput, Forward, ForwardTarget, LogBatch, LogOptions};
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;

/// Streams a container's log as batches of lines; stop it with `stop_stream`.
#[tauri::command]
pub(crate) async fn stream_logs(
    desktop: State<'_, Desktop>,
    cluster: String,
    namespace: String,
    pod: String,
    container: Option<String>,
    options: LogOptions,
    on_lines: Channel<LogBatch>,
) -> Result<StreamId, AppError> {
    let client = desktop.app.client(&cluster).await?;
    let logs = kubarium_app::streams::stream_logs(
        client,
        namespace,
        pod,
        container,
        options,
        move |batch| on_lines.send(batch).is_ok(),
    );
    Ok(desktop.app.tasks().spawn(logs))
}

/// Starts a command in a container; output and its exit arrive on `on_output`.
#[tauri::command]
#[allow(clippy::too_many_arguments)] // the exec request's own parameters
pub(crate) async fn exec_start(
    desktop: State<'_, Desktop>,
    cluster: String,
    namespace: String,
    pod: String,
    container: Option<String>,
    command: Vec<String>,
    tty: bool,
    on_output: Channel<ExecOutput>,
) -> Result<StreamId, AppError> {
    let client = desktop.app.upgrading_client(&cluster).await?;
    let send = move |output| on_output.send(output).is_ok();
    let app = &desktop.app;
    Ok(app
        .streams()
        .exec_start(
            app.tasks(),
            client,
            &namespace,
            &pod,
            container,
            command,
            tty,
            send,
        )
        .await?)
}

/// Types bytes into an exec session.
#[tauri::command]
pub(crate) fn exec_input(
    desktop: State<'_, Desktop>,
    id: StreamId,
    data: Vec<u8>,
) -> Result<(), AppError> {
    desktop
        .app
        .streams()
        .exec_input(id, data)
        .map_err(Into::into)
}

/// Tells an exec session's terminal its size.
#[tauri::command]
pub(crate) fn exec_resize(
    desktop: State<'_, Desktop>,
    id: StreamId,
    cols: u16,
    rows: u16,
) -> Result<(), AppError> {
    desktop
        .app
        .streams()
        .exec_resize(id, cols, rows)
        .map_err(Into::into)
}

/// Forwards a local port on 127.0.0.1 to a pod's or Service's port.
#[tauri::command]
pub(crate) async fn port_forward_start(
    desktop: State<'_, Desktop>,
    cluster: String,
    namespace: String,
    target: ForwardTarget,
    remote_port: u16,
    local_port: Option<u16>,
) -> Result<Forward, AppError> {
    let client = desktop.app.upgrading_client(&cluster).await?;
    let app = &desktop.app;
    Ok(app
        .streams()
        .port_forward_start(
            app.tasks(),
            client,
            &cluster,
            &namespace,
            target,
            remote_port,
            local_port,
        )
        .await?)
}

/// The port-forwards that run.
#[tauri::command]
pub(crate) fn port_forwards(desktop: State<'_, Desktop>) -> Vec<Forward> {
    desktop.app.streams().port_forwards()
}

/// Stops a port-forward.
#[tauri::command]
pub(crate) fn port_forward_stop(desktop: State<'_, Desktop>, id: StreamId) {
    desktop
        .app
        .streams()
        .port_forward_stop(desktop.app.tasks(), id);
}

/// Opens a local http(s) URL (a forward's) in the desktop's browser.
#[tauri::command]
pub(crate) fn open_url(url: String) -> Result<(), AppError> {
    kubarium_app::streams::open_url(&url).map_err(Into::into)
}
