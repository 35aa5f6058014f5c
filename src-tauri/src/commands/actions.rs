//! Command adapters for `kubarium_app::actions`: delete, scale, rollout, cordon/drain on any
//! cluster; nodes, stop, start and reset on the local one.

use kubarium_app::actions;
use kubarium_app::ipc::AppError;
use kubarium_app::ipc::actions::{DrainOutcome, Propagation, Revision, UndoOutcome};
use tauri::State;

use crate::Desktop;

#[tauri::command]
pub(crate) async fn delete_object(
    desktop: State<'_, Desktop>,
    cluster: String,
    resource: String,
    namespace: Option<String>,
    name: String,
    propagation: Propagation,
) -> Result<(), AppError> {
    actions::delete_object(
        desktop.app.client(&cluster).await?,
        &resource,
        namespace.as_deref(),
        &name,
        propagation,
    )
    .await
    .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn scale(
    desktop: State<'_, Desktop>,
    cluster: String,
    resource: String,
    namespace: String,
    name: String,
    replicas: i32,
) -> Result<(), AppError> {
    actions::scale(
        desktop.app.client(&cluster).await?,
        &resource,
        &namespace,
        &name,
        replicas,
    )
    .await
    .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn rollout_restart(
    desktop: State<'_, Desktop>,
    cluster: String,
    resource: String,
    namespace: String,
    name: String,
) -> Result<(), AppError> {
    actions::rollout_restart(
        desktop.app.client(&cluster).await?,
        &resource,
        &namespace,
        &name,
    )
    .await
    .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn rollout_history(
    desktop: State<'_, Desktop>,
    cluster: String,
    resource: String,
    namespace: String,
    name: String,
) -> Result<Vec<Revision>, AppError> {
    actions::rollout_history(
        desktop.app.client(&cluster).await?,
        &resource,
        &namespace,
        &name,
    )
    .await
    .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn rollout_undo(
    desktop: State<'_, Desktop>,
    cluster: String,
    resource: String,
    namespace: String,
    name: String,
    revision: Option<i64>,
) -> Result<UndoOutcome, AppError> {
    actions::rollout_undo(
        desktop.app.client(&cluster).await?,
        &resource,
        &namespace,
        &name,
        revision,
    )
    .await
    .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn cordon(
    desktop: State<'_, Desktop>,
    cluster: String,
    node: String,
    unschedulable: bool,
) -> Result<(), AppError> {
    actions::cordon(desktop.app.client(&cluster).await?, &node, unschedulable)
        .await
        .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn drain(
    desktop: State<'_, Desktop>,
    cluster: String,
    node: String,
) -> Result<DrainOutcome, AppError> {
    actions::drain(desktop.app.client(&cluster).await?, &node)
        .await
        .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn add_node(
    desktop: State<'_, Desktop>,
    cluster: String,
) -> Result<String, AppError> {
    actions::local(&desktop.app, &cluster, "Adding a node")?
        .add_node()
        .await
        .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn remove_node(
    desktop: State<'_, Desktop>,
    cluster: String,
    node: String,
) -> Result<(), AppError> {
    actions::local(&desktop.app, &cluster, "Removing a node")?
        .remove_node(&node)
        .await
        .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn stop_node(
    desktop: State<'_, Desktop>,
    cluster: String,
    node: String,
) -> Result<(), AppError> {
    actions::local(&desktop.app, &cluster, "Stopping a node")?
        .stop_node(&node)
        .await
        .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn start_node(
    desktop: State<'_, Desktop>,
    cluster: String,
    node: String,
) -> Result<(), AppError> {
    actions::local(&desktop.app, &cluster, "Starting a node")?
        .start_node(&node)
        .await
        .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn stop_cluster(
    desktop: State<'_, Desktop>,
    cluster: String,
) -> Result<(), AppError> {
    actions::local(&desktop.app, &cluster, "Stopping the cluster")?
        .shutdown()
        .await;
    Ok(())
}

#[tauri::command]
pub(crate) async fn start_cluster(
    desktop: State<'_, Desktop>,
    cluster: String,
) -> Result<(), AppError> {
    actions::local(&desktop.app, &cluster, "Starting the cluster")?
        .start_again()
        .await
        .map_err(Into::into)
}

#[tauri::command]
pub(crate) async fn reset_cluster(
    desktop: State<'_, Desktop>,
    cluster: String,
) -> Result<(), AppError> {
    actions::local(&desktop.app, &cluster, "Resetting the cluster")?
        .reset()
        .await
        .map_err(Into::into)
}
