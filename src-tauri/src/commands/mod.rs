//! Commands the UI invokes: one-line adapters into `kubarium-app`.

use kubarium_app::ipc::ClusterStatus;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

use crate::Desktop;

pub(crate) mod actions;
pub(crate) mod apply;
pub(crate) mod clusters;
pub(crate) mod learn;
pub(crate) mod resources;
pub(crate) mod streams;

/// The local cluster's status now.
#[tauri::command]
pub(crate) fn cluster_status(desktop: State<'_, Desktop>) -> ClusterStatus {
    desktop.app.local().status()
}

/// Streams the local cluster's status: the current one, then every change.
#[tauri::command]
pub(crate) fn watch_cluster_status(desktop: State<'_, Desktop>, on_status: Channel<ClusterStatus>) {
    tauri::async_runtime::spawn(
        desktop
            .app
            .local()
            .forward_status(move |status| on_status.send(status).is_ok()),
    );
}

/// Shuts the cluster down and exits.
#[tauri::command]
pub(crate) fn quit<R: Runtime>(app: AppHandle<R>) {
    crate::quit(app);
}
