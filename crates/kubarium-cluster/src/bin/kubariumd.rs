//! `kubariumd`: a local Kubarium cluster without the window, for terminals and CI.
//!
//! Starts the same cluster the desktop app embeds, prints where its kubeconfig is and a
//! kubectl line to try, and runs until SIGINT or SIGTERM, then shuts down cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kubarium_cluster::{ClusterBuilder, DEFAULT_LISTEN, DEFAULT_NODES, RuntimeKind, telemetry};

/// Runs a local Kubernetes-compatible cluster; kubectl works against it unchanged.
#[derive(Debug, Parser)]
#[command(name = "kubariumd", version)]
struct Args {
    /// Where the cluster keeps its state, certificates, kubeconfig and logs
    /// [default: the platform's user data dir, e.g. ~/.local/share/kubarium]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where to write the kubeconfig (mode 0600) [default: DIR/kubeconfig]
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Address the API server listens on; keep it on loopback unless you mean otherwise
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Number of simulated nodes
    #[arg(long, value_name = "N", default_value_t = DEFAULT_NODES,
          value_parser = clap::value_parser!(u32).range(0..=64))]
    nodes: u32,
    /// How nodes run pods: real Docker containers, or hollow (simulated) ones
    #[arg(long, value_enum, default_value_t = RuntimeKind::Docker)]
    runtime: RuntimeKind,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(kubarium_cluster::default_data_dir);
    let _logs = match telemetry::init(&data_dir.join("logs"), "kubariumd") {
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
    match runtime.block_on(run(args, data_dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("kubariumd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, data_dir: PathBuf) -> anyhow::Result<()> {
    let mut builder = ClusterBuilder::new(&data_dir)
        .listen(args.listen)
        .nodes(args.nodes)
        .runtime(args.runtime);
    if let Some(path) = args.kubeconfig {
        builder = builder.kubeconfig_path(path);
    }
    let cluster = builder.start().await?;
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
