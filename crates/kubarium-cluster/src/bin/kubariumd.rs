//! `kubariumd`: a local Kubarium cluster without the window, for terminals and CI.
//!
//! Starts the same cluster the desktop app embeds, prints where its kubeconfig is and a
//! kubectl line to try, and runs until SIGINT or SIGTERM, then shuts down cleanly.

use std::process::ExitCode;

use clap::Parser;
use kubarium_cluster::{ClusterArgs, telemetry};

/// Runs a local Kubernetes-compatible cluster; kubectl works against it unchanged.
#[derive(Debug, Parser)]
#[command(name = "kubariumd", version)]
struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,
}

fn main() -> ExitCode {
    let args = Args::parse().cluster;
    let _logs = match telemetry::init(&args.data_dir().join("logs"), "kubariumd") {
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
            eprintln!("kubariumd: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("kubariumd: {error:#}");
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
        "Try: kubectl --kubeconfig {} version",
        shell_quote(&kubeconfig)
    );
    println!("Stop with Ctrl+C.");
    let signal = stop_signal().await?;
    tracing::info!("received {signal}");
    cluster.shutdown().await;
    Ok(())
}

/// Waits for SIGINT or SIGTERM (Ctrl+C elsewhere) and names the one that came.
async fn stop_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        })
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl+C")
    }
}

/// Quotes a path for a POSIX shell when it needs quoting, so the printed line can be pasted.
fn shell_quote(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c));
    if plain && !text.is_empty() {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
