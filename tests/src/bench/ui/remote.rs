//! The app as a viewer of someone else's cluster: a `kubariumd` on loopback holds the 10,000
//! pods, and the app, with its own cluster at the default three idle hollow nodes, imports it
//! from `KUBECONFIG` (its token into a private Secret Service), switches to it and opens its
//! Pods table. What the app and WebKit hold then is what viewing 10,000 pods costs, without
//! the pods' cluster in the app's process.

use std::time::Duration;

use crate::desktop::Desktop;
use crate::keyring::SecretService;

use super::super::Figure;
use super::{NODES, create_pods, first_render, mb, report_memory};

/// Starts the remote cluster, fills it, and measures the app viewing it.
pub(super) async fn run() -> anyhow::Result<Vec<Figure>> {
    let nodes: usize = NODES.parse()?;
    let (remote, client) = super::super::control::cluster(nodes).await?;
    create_pods(&client).await?;

    let keyring = SecretService::start();
    let kubeconfig = remote.kubeconfig().display().to_string();
    let app = Desktop::launch_with_env(
        &["--runtime", "hollow"],
        &[
            ("DBUS_SESSION_BUS_ADDRESS", keyring.address.as_str()),
            ("KUBECONFIG", kubeconfig.as_str()),
        ],
    )
    .await;
    app.wait_for_text("status-phase", Duration::from_secs(120), |t| {
        t == "Connected"
    })
    .await;
    import_and_switch(&app).await;
    report_memory(&app, "viewing the remote cluster, its map open");

    // Away from every pods view long enough for the shared pods watch to stop (5 s), as in
    // the embedded phase, so the render lists the pods from scratch.
    app.click("nav-overview").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let render = first_render(&app).await?;
    app.screenshot("bench-remote-pods-10000").await;
    let memory = report_memory(&app, "the remote's Pods table open");
    let rss = memory.app.rss + memory.webkit.rss;
    Ok(vec![
        Figure::new(
            "First full table render, 10,000 pods of a remote cluster",
            "≤ 2 s",
            render.to_string(),
            Some(render.total_ms <= 2_000.0),
        ),
        Figure::new(
            "App RSS with its WebKit processes, viewing 10,000 pods of a remote cluster (its own cluster idle)",
            "≤ 400 MB (goal)",
            format!(
                "{:.0} MB: the app process {:.0} MB (its own cluster: 3 hollow nodes), WebKit {:.0} MB; PSS {:.0} MB (app {:.0}, WebKit {:.0})",
                mb(rss),
                mb(memory.app.rss),
                mb(memory.webkit.rss),
                mb(memory.app.pss + memory.webkit.pss),
                mb(memory.app.pss),
                mb(memory.webkit.pss),
            ),
            Some(rss <= 400 * 1024),
        ),
    ])
}

/// Imports the kubeconfig's current context and makes it the cluster the window shows.
async fn import_and_switch(app: &Desktop) {
    app.open_cluster_dialog().await;
    app.read_default_kubeconfig().await;
    app.import_kubeconfig().await;
    app.switch_to_remote().await;
    // More node panels than the local cluster's three: the map shows the remote.
    app.wait_for(
        "the remote's nodes on the map",
        Duration::from_secs(120),
        async |session| {
            let nodes = session.find_all("[data-testid^='map-node-']").await.ok()?;
            (nodes.len() > 3).then_some(())
        },
    )
    .await;
}
