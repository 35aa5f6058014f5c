//! The desktop app end to end: the real window, under Xvfb, through tauri-driver.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kubarium_tests::desktop::Desktop;
use kubarium_tests::{kubectl, kubectls, process_alive, send_signal, wait_until};

#[tokio::test]
async fn the_window_shows_the_embedded_cluster_live_and_outlives_its_window() {
    let app = Desktop::launch().await;
    assert_eq!(app.session.title().await.unwrap(), "Kubarium");

    // The status bar reports the cluster the app started in-process, with its /version.
    app.wait_for_text("status-phase", Duration::from_secs(60), |t| {
        t == "Connected"
    })
    .await;
    let version = app.text("status-version").await;
    assert!(
        version.starts_with("Kubernetes v1.33.0+kubarium."),
        "{version}"
    );
    assert_eq!(
        app.text("overview-server").await,
        format!("https://{}", app.listen)
    );
    app.screenshot("overview").await;

    // The kubectl line the overview offers works against that same cluster.
    let kubeconfig = app.text("overview-kubeconfig").await;
    assert_eq!(
        app.text("overview-kubectl").await,
        format!("kubectl --kubeconfig {kubeconfig} version")
    );
    let kubectl_bin = &kubectls()[0];
    let out = kubectl(kubectl_bin.as_path(), kubeconfig.as_ref(), &["version"]);
    assert!(out.contains("Server Version: v1.33.0+kubarium."), "{out}");

    // Closing the window (as the window manager's close button does) hides it; the app and
    // its cluster keep running until Quit.
    let pid = app.app_pid();
    assert_eq!(
        kubarium_tests::x11::request_close("Kubarium"),
        1,
        "one Kubarium window"
    );
    wait_until("the window to hide", Duration::from_secs(10), || {
        (kubarium_tests::x11::visible_windows("Kubarium") == 0).then_some(())
    });
    assert!(
        process_alive(pid),
        "the app exited when its window closed; its log:\n{}",
        kubarium_tests::logs(&app.data_dir(), "kubarium")
    );
    kubectl(kubectl_bin.as_path(), kubeconfig.as_ref(), &["version"]);

    // SIGTERM quits like the tray's Quit: the cluster shuts down cleanly, then the app exits.
    send_signal(pid, "TERM");
    wait_until("the app to exit", Duration::from_secs(20), || {
        (!process_alive(pid)).then_some(())
    });
    let logs = kubarium_tests::logs(&app.data_dir(), "kubarium");
    assert!(logs.contains("cluster stopped"), "{logs}");
    assert!(logs.contains("Kubarium exited"), "{logs}");
}
