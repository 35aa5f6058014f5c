//! Command adapters for the cluster list: remote clusters (import, add, remove, status),
//! the keychain their credentials live in, RBAC checks, and the local cluster's kubeconfig.

use kubarium_app::ipc::clusters::{
    AccessCheck, ClusterEntry, KeychainInfo, KubeconfigPreview, KubeconfigSource, ManualCluster,
    MergeOutcome,
};
use kubarium_app::ipc::{AppError, ClusterStatus};
use tauri::State;
use tauri::ipc::Channel;

use crate::Desktop;

/// The keychain in use, or why there is none.
#[tauri::command]
pub(crate) async fn keychain_info(desktop: State<'_, Desktop>) -> Result<KeychainInfo, AppError> {
    Ok(desktop.app.keychain_info().await)
}

/// Every cluster, the local one first.
#[tauri::command]
pub(crate) fn list_clusters(desktop: State<'_, Desktop>) -> Vec<ClusterEntry> {
    desktop.app.entries()
}

/// Streams every cluster's status (local first): now, then on every change.
#[tauri::command]
pub(crate) fn watch_clusters(
    desktop: State<'_, Desktop>,
    on_statuses: Channel<Vec<ClusterStatus>>,
) {
    tauri::async_runtime::spawn(
        desktop
            .app
            .watch_statuses(move |statuses| on_statuses.send(statuses).is_ok()),
    );
}

/// What a kubeconfig holds, before importing.
#[tauri::command]
pub(crate) async fn preview_kubeconfig(
    desktop: State<'_, Desktop>,
    source: KubeconfigSource,
) -> Result<KubeconfigPreview, AppError> {
    Ok(desktop.app.preview_kubeconfig(source).await?)
}

/// Imports contexts of a kubeconfig; their credentials go to the keychain.
#[tauri::command]
pub(crate) async fn import_kubeconfig(
    desktop: State<'_, Desktop>,
    source: KubeconfigSource,
    contexts: Vec<String>,
) -> Result<Vec<ClusterEntry>, AppError> {
    Ok(desktop.app.import_kubeconfig(source, contexts).await?)
}

/// Adds a cluster entered by hand.
#[tauri::command]
pub(crate) async fn add_cluster(
    desktop: State<'_, Desktop>,
    cluster: ManualCluster,
) -> Result<ClusterEntry, AppError> {
    Ok(desktop.app.add_cluster(cluster).await?)
}

/// Removes a remote cluster and its keychain entries.
#[tauri::command]
pub(crate) async fn remove_cluster(
    desktop: State<'_, Desktop>,
    id: String,
) -> Result<(), AppError> {
    Ok(desktop.app.remove_cluster(&id).await?)
}

/// Whether the user may do each check on the cluster.
#[tauri::command]
pub(crate) async fn can_i(
    desktop: State<'_, Desktop>,
    cluster: String,
    checks: Vec<AccessCheck>,
) -> Result<Vec<bool>, AppError> {
    Ok(desktop.app.can_i(&cluster, checks).await?)
}

/// The local cluster's kubeconfig, as text to copy.
#[tauri::command]
pub(crate) async fn local_kubeconfig(desktop: State<'_, Desktop>) -> Result<String, AppError> {
    Ok(desktop.app.local_kubeconfig().await?)
}

/// Writes the local cluster's kubeconfig to a new file; returns its path.
#[tauri::command]
pub(crate) async fn export_local_kubeconfig(
    desktop: State<'_, Desktop>,
    path: String,
) -> Result<String, AppError> {
    Ok(desktop.app.export_local_kubeconfig(&path).await?)
}

/// The kubeconfig a merge would write, for its confirmation.
#[tauri::command]
pub(crate) fn kubeconfig_merge_target(desktop: State<'_, Desktop>) -> Result<String, AppError> {
    Ok(desktop.app.kubeconfig_merge_target()?)
}

/// Merges the local cluster into the user's kubeconfig at `path` (the confirmed target) as
/// context `kubarium`.
#[tauri::command]
pub(crate) async fn merge_local_kubeconfig(
    desktop: State<'_, Desktop>,
    path: String,
) -> Result<MergeOutcome, AppError> {
    Ok(desktop.app.merge_local_kubeconfig(&path).await?)
}

/// Tries a remote cluster again now rather than after its back-off.
#[tauri::command]
pub(crate) fn retry_cluster(desktop: State<'_, Desktop>, cluster: String) -> Result<(), AppError> {
    Ok(desktop.app.retry_cluster(&cluster)?)
}
