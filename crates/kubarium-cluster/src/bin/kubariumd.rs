//! `kubariumd`: a local Kubarium cluster without the window, for terminals and CI.
//!
//! Starts the same cluster the desktop app embeds, prints where its kubeconfig is and a
//! kubectl line to try, and runs until SIGINT or SIGTERM, then shuts down cleanly.

use std::process::ExitCode;

use clap::Parser;
use kubarium_cluster::{ClusterArgs, kubeconfig, telemetry};

/// Runs a local Kubernetes-compatible cluster; kubectl works against it unchanged.
#[derive(Debug, Parser)]
#[command(name = "kubariumd", version)]
struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,
}

fn main() -> ExitCode {
    let args = Args::parse().cluster;
    let _logs = match telemetry::init(&args.data_dir(), "kubariumd") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("kubariumd: {error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!("could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The stderr log layer shows it; the file keeps it.
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let cluster = args.builder().start().await?;
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    println!("Kubarium cluster is running at {}", cluster.server_url());
    println!("kubeconfig: {kubeconfig}");
    println!(
        "Try: {}",
        kubeconfig::kubectl_command(cluster.kubeconfig_path(), "version")
    );
    println!("Stop with Ctrl+C.");
    let signal = kubarium_cluster::stop_signal().await?;
    tracing::info!("received {signal}");
    cluster.shutdown().await;
    Ok(())
}
