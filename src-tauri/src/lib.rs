//! The Kubarium desktop app: a thin Tauri layer over `kubarium-app`.
//!
//! Here live only what needs Tauri: the window, the tray, command adapters ([`commands`])
//! and the app's lifecycle. Closing the window hides it and the embedded cluster keeps
//! running; Quit (tray, Ctrl+Q, SIGTERM) shuts the cluster down cleanly, then exits.

mod commands;
mod gpu;
mod tray;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use kubarium_app::{App, LocalCluster};
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
    pub(crate) app: App,
    /// Quit has begun.
    quitting: AtomicBool,
    /// The cluster is down; exiting is now allowed.
    stopped: AtomicBool,
}

/// Turns WebKit's compositing off on a machine without a GPU, parses flags, starts logging
/// and runs the app until Quit.
pub fn run() -> ExitCode {
    gpu::disable_compositing_without_gpu();
    let args = Args::parse().cluster;
    let logs = match telemetry::init(&args.data_dir(), "kubarium") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("kubarium: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match run_app(tauri::Builder::default(), args) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => {
            tracing::error!(%error, "the desktop app failed");
            ExitCode::FAILURE
        }
    };
    // Flush buffered log lines (the last ones say how the app ended).
    drop(logs);
    code
}

/// Runs the app until it exits; returns the exit code.
fn run_app<R: tauri::Runtime>(builder: tauri::Builder<R>, args: ClusterArgs) -> tauri::Result<i32> {
    let app = builder
        .setup(move |app| {
            // Started inside Tauri's Tokio runtime so the cluster's tasks live there.
            let local =
                tauri::async_runtime::block_on(async { LocalCluster::start(args.builder()) });
            // Tauri's config dir for the app (`$XDG_CONFIG_HOME/<identifier>` on Linux) holds
            // the list of remote clusters; their credentials are in the keychain.
            let config_dir = app.path().app_config_dir()?;
            let kubarium = tauri::async_runtime::block_on(async { App::new(local, &config_dir) });
            app.manage(Desktop {
                app: kubarium,
                quitting: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
            });
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
            commands::actions::delete_object,
            commands::actions::scale,
            commands::actions::rollout_restart,
            commands::actions::rollout_history,
            commands::actions::rollout_undo,
            commands::actions::cordon,
            commands::actions::drain,
            commands::actions::add_node,
            commands::actions::remove_node,
            commands::actions::stop_node,
            commands::actions::start_node,
            commands::actions::stop_cluster,
            commands::actions::start_cluster,
            commands::actions::reset_cluster,
            commands::apply::apply_objects,
            commands::streams::stream_logs,
            commands::streams::exec_start,
            commands::streams::exec_input,
            commands::streams::exec_resize,
            commands::streams::port_forward_start,
            commands::streams::port_forwards,
            commands::streams::port_forward_stop,
            commands::streams::open_url,
            commands::learn::exec_run,
            commands::learn::terminal_start,
            commands::learn::terminal_input,
            commands::learn::terminal_resize,
            commands::learn::ingress_get,
            commands::learn::ingress_url,
            commands::resources::kinds,
            commands::resources::watch_resources,
            commands::resources::watch_object,
            commands::resources::get_object,
            commands::resources::stop_stream,
            commands::clusters::keychain_info,
            commands::clusters::list_clusters,
            commands::clusters::watch_clusters,
            commands::clusters::preview_kubeconfig,
            commands::clusters::import_kubeconfig,
            commands::clusters::add_cluster,
            commands::clusters::remove_cluster,
            commands::clusters::can_i,
            commands::clusters::local_kubeconfig,
            commands::clusters::export_local_kubeconfig,
            commands::clusters::kubeconfig_merge_target,
            commands::clusters::merge_local_kubeconfig,
            commands::clusters::retry_cluster,
        ])
        .build(tauri::generate_context!())?;
    let code = app.run_return(|app, event| match event {
        // However the exit was asked for (the app menu's Quit on macOS, a window manager
        // ending the session), the cluster shuts down cleanly first.
        RunEvent::ExitRequested { api, .. }
            if !app.state::<Desktop>().stopped.load(Ordering::SeqCst) =>
        {
            api.prevent_exit();
            quit(app.clone());
        }
        RunEvent::Exit => tracing::info!("Kubarium exited"),
        _ => {}
    });
    Ok(code)
}

/// Shuts the cluster down cleanly, then exits the app. Safe to call more than once.
pub(crate) fn quit<R: tauri::Runtime>(app: AppHandle<R>) {
    if app.state::<Desktop>().quitting.swap(true, Ordering::SeqCst) {
        return;
    }
    tauri::async_runtime::spawn(async move {
        tracing::info!("quitting");
        let desktop = app.state::<Desktop>();
        desktop.app.tasks().stop_all();
        desktop.app.local().shutdown().await;
        desktop.stopped.store(true, Ordering::SeqCst);
        app.exit(0);
    });
}

/// SIGTERM and SIGINT quit like the tray's Quit does, so session logout and `kill` stop the
/// cluster cleanly too.
fn quit_on_signals<R: tauri::Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let stop = match kubarium_cluster::stop_signal() {
            Ok(stop) => stop.await,
            Err(error) => Err(error),
        };
        match stop {
            Ok(signal) => tracing::info!("received {signal}"),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for stop signals");
                return;
            }
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
