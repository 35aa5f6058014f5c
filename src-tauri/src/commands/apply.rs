//! Command adapter for kubarium_app::apply.

use kubarium_app::ipc::AppError;
use kubarium_app::ipc::apply::{ApplyOutcome, Document};
use tauri::State;

use crate::Desktop;

/// Server-side applies each document (`dry_run`: only validates); one outcome per document.
#[tauri::command]
pub(crate) async fn apply_objects(
    desktop: State<'_, Desktop>,
    cluster: String,
    objects: Vec<Document>,
    dry_run: bool,
) -> Result<Vec<ApplyOutcome>, AppError> {
    kubarium_app::apply_objects(desktop.app.client(&cluster).await?, objects, dry_run)
        .await
        .map_err(Into::into)
}
