//! Command adapters for the data path: kinds, resource and object watches, objects, and
//! stopping any stream (`kubarium_app::watch`).

use kubarium_app::ipc::AppError;
use kubarium_app::ipc::resources::{KindInfo, Object, ObjectUpdate, ResourceBatch, StreamId};
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;

/// Every kind the UI can browse, with its `kubectl get` columns.
#[tauri::command]
pub(crate) fn kinds() -> Vec<KindInfo> {
    kubarium_app::kinds()
}

/// Watches a resource's rows, pushed to `on_batch` until the window goes or the UI stops it.
#[tauri::command]
pub(crate) async fn watch_resources(
    desktop: State<'_, Desktop>,
    cluster: String,
    resource: String,
    namespace: Option<String>,
    on_batch: Channel<ResourceBatch>,
) -> Result<StreamId, AppError> {
    (desktop.app)
        .watch_resources(&cluster, resource, namespace, move |b| {
            on_batch.send(b).is_ok()
        })
        .await
        .map_err(Into::into)
}

/// Watches one object, pushed whole to `on_update` on every change.
#[tauri::command]
pub(crate) async fn watch_object(
    desktop: State<'_, Desktop>,
    cluster: String,
    resource: String,
    namespace: Option<String>,
    name: String,
    on_update: Channel<ObjectUpdate>,
) -> Result<StreamId, AppError> {
    (desktop.app)
        .watch_object(&cluster, resource, namespace, name, move |u| {
            on_update.send(u).is_ok()
        })
        .await
        .map_err(Into::into)
}

/// One object, whole, as JSON.
#[tauri::command]
pub(crate) async fn get_object(
    desktop: State<'_, Desktop>,
    cluster: String,
    resource: String,
    namespace: Option<String>,
    name: String,
) -> Result<Object, AppError> {
    let client = desktop.app.client(&cluster).await?;
    kubarium_app::get_object(client, &resource, namespace.as_deref(), &name)
        .await
        .map_err(Into::into)
}

/// Stops a watch or stream; stopping one that ended is not an error.
#[tauri::command]
pub(crate) fn stop_stream(desktop: State<'_, Desktop>, id: StreamId) {
    desktop.app.tasks().stop(id);
}
