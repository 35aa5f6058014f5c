//! The Kubarium desktop app: a thin Tauri layer over `kubarium-app`.
//!
//! Here live only what needs Tauri: the window, the tray, command adapters ([`commands`])
//! and the app's lifecycle. Closing the window hides it and the embedded cluster keeps
//! running; Quit (tray, Ctrl+Q, SIGTERM) shuts the cluster down cleanly, then exits.

mod commands;
mod tray;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use kubarium_app::LocalCluster;
use kubarium_cluster::{ClusterArgs, telemetry};
use tauri::{AppHandle, Manager, RunEvent, WindowEvent};

/// The desktop app's flags: the same cluster flags as `kubariumd`.
#[derive(Debug, Parser)]
#[command(
    name = "kubarium",
    version,
    about = "Kubarium: see, learn and run Kubernetes"
)]
struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// State every command can reach.
pub(crate) struct Desktop {
    pub(crate) local: Arc<LocalCluster>,
}

/// Parses flags, starts logging and runs the app until Quit.
pub fn run() -> ExitCode {
    let args = Args::parse().cluster;
    let _logs = match telemetry::init(&args.data_dir().join("logs"), "kubarium") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("kubarium: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run_app(tauri::Builder::default(), args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the desktop app failed");
            eprintln!("kubarium: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_app<R: tauri::Runtime>(builder: tauri::Builder<R>, args: ClusterArgs) -> tauri::Result<()> {
    let app = builder
        .setup(move |app| {
            // Started inside Tauri's Tokio runtime so the cluster's tasks live there.
            let local =
                tauri::async_runtime::block_on(async { LocalCluster::start(args.builder()) });
            app.manage(Desktop { local });
            tray::install(app.handle())?;
            quit_on_signals(app.handle().clone());
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                // The cluster outlives the window: closing hides, Quit exits.
                api.prevent_close();
                if let Err(error) = window.hide() {
                    tracing::warn!(%error, "could not hide the window");
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::cluster_status,
            commands::watch_cluster_status,
            commands::quit,
        ])
        .build(tauri::generate_context!())?;
    app.run(|_app, event| {
        if let RunEvent::Exit = event {
            tracing::info!("Kubarium exited");
        }
    });
    Ok(())
}

/// Shuts the cluster down cleanly, then exits the app.
pub(crate) fn quit<R: tauri::Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        tracing::info!("quitting");
        app.state::<Desktop>().local.shutdown().await;
        app.exit(0);
    });
}

/// SIGTERM and SIGINT quit like the tray's Quit does, so session logout and `kill` stop the
/// cluster cleanly too.
fn quit_on_signals<R: tauri::Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::warn!("could not listen for SIGTERM/SIGINT");
                return;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("received SIGTERM"),
                _ = int.recv() => tracing::info!("received SIGINT"),
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        quit(app);
    });
}

/// Shows and focuses the main window (tray click, second launch).
pub(crate) fn show_main_window<R: tauri::Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}
