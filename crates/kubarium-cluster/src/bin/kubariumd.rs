//! `kubariumd`: a local Kubarium cluster without the window, for terminals and CI.
//!
//! Without a subcommand it starts the same cluster the desktop app embeds, prints where its
//! kubeconfig is and a kubectl line to try, and runs until SIGINT or SIGTERM, then shuts
//! down cleanly. `kubariumd node add|remove|stop|start` are API clients of a running
//! cluster, found through its data dir's kubeconfig; `kubariumd delete` removes a stopped
//! cluster for good.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kubarium_cluster::{ClusterArgs, kubeconfig, telemetry};

/// mimalloc rather than glibc's malloc: a busy cluster allocates and frees for every object it
/// decodes, and glibc's took a quarter of its CPU (docs/benchmarks.md, "Control loops").
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs a local Kubernetes-compatible cluster; kubectl works against it unchanged.
#[derive(Debug, Parser)]
#[command(name = "kubariumd", version)]
struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Adds, removes, stops or starts a node of the cluster running in the data dir
    Node {
        #[command(subcommand)]
        action: NodeAction,
        /// The running cluster's data dir [default: the platform's user data dir]
        #[arg(long = "data-dir", value_name = "DIR", global = true)]
        node_data_dir: Option<PathBuf>,
        /// The running cluster's kubeconfig [default: DIR/kubeconfig]
        #[arg(long = "kubeconfig", value_name = "FILE", global = true)]
        node_kubeconfig: Option<PathBuf>,
    },
    /// Deletes the cluster in the data dir: its containers and network in Docker, its key in
    /// the OS keychain, and the data dir itself (state, certificates, volumes). The cluster
    /// must be stopped first.
    Delete {
        /// The cluster's data dir [default: the platform's user data dir]
        #[arg(long = "data-dir", value_name = "DIR")]
        delete_data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum NodeAction {
    /// Adds a node (named NAME, or the next free kubarium-workerN)
    Add {
        /// The new node's name
        name: Option<String>,
    },
    /// Removes a node: its agent ends and its pods are deleted
    Remove {
        /// The node's name
        name: String,
    },
    /// Stops a node's agent as if its kubelet crashed (its Lease stops renewing)
    Stop {
        /// The node's name
        name: String,
    },
    /// Starts a stopped node's agent again
    Start {
        /// The node's name
        name: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
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
    if let Some(Command::Node {
        action,
        node_data_dir,
        node_kubeconfig,
    }) = args.command
    {
        let data_dir = node_data_dir.unwrap_or_else(|| args.cluster.data_dir());
        let kubeconfig = node_kubeconfig
            .or(args.cluster.kubeconfig)
            .unwrap_or_else(|| data_dir.join("kubeconfig"));
        return match runtime.block_on(node(action, &data_dir, &kubeconfig)) {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("kubariumd: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Delete { delete_data_dir }) = args.command {
        let data_dir = delete_data_dir.unwrap_or_else(|| args.cluster.data_dir());
        if !data_dir.join("kubarium.lock").exists() {
            eprintln!("kubariumd: no Kubarium cluster in {}", data_dir.display());
            return ExitCode::FAILURE;
        }
        return match runtime.block_on(kubarium_cluster::delete_cluster(&data_dir)) {
            Ok(deleted) => {
                println!(
                    "deleted the cluster in {} ({} containers removed)",
                    data_dir.display(),
                    deleted.containers
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("kubariumd: could not delete the cluster: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let args = args.cluster;
    let _logs = match telemetry::init(&args.data_dir(), "kubariumd") {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("kubariumd: {error}");
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
    // Listening before the cluster says it runs: whoever reads that may stop it at once.
    let stop = kubarium_cluster::stop_signal()?;
    let cluster = args.builder().start().await?;
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    println!("Kubarium cluster is running at {}", cluster.server_url());
    println!("kubeconfig: {kubeconfig}");
    println!(
        "Try: {}",
        kubeconfig::kubectl_command(cluster.kubeconfig_path(), "version")
    );
    println!("Stop with Ctrl+C.");
    let signal = stop.await?;
    tracing::info!("received {signal}");
    cluster.shutdown().await;
    Ok(())
}

/// Does `action` against the cluster whose kubeconfig is `kubeconfig`; says what it did.
async fn node(
    action: NodeAction,
    data_dir: &std::path::Path,
    kubeconfig: &std::path::Path,
) -> anyhow::Result<String> {
    let start_hint = format!(
        "start one with `kubariumd --data-dir {}`",
        data_dir.display()
    );
    if !kubeconfig.exists() {
        anyhow::bail!(
            "no Kubarium cluster in {} (there is no kubeconfig at {}); {start_hint}",
            data_dir.display(),
            kubeconfig.display()
        );
    }
    let config = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("could not read {}", kubeconfig.display()))?;
    let mut config = kube::Config::from_custom_kubeconfig(config, &Default::default())
        .await
        .with_context(|| format!("could not use {}", kubeconfig.display()))?;
    // Named, so the server records its writes under field manager `kubariumd`.
    kubarium_cluster::name_client(&mut config, "kubariumd");
    let url = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)
        .with_context(|| format!("could not use {}", kubeconfig.display()))?;
    let unreachable = |error: &kubarium_node::Error| matches!(error, kubarium_node::Error::Api { source, .. } if !matches!(source, kube::Error::Api(_)));
    let request = async {
        match &action {
            NodeAction::Add { name } => kubarium_node::control::add_node(&client, name.as_deref())
                .await
                .map(|name| format!("node {name} added")),
            NodeAction::Remove { name } => kubarium_node::control::remove_node(&client, name)
                .await
                .map(|()| format!("node {name} removed")),
            NodeAction::Stop { name } => kubarium_node::control::stop_node(&client, name)
                .await
                .map(|()| {
                    format!(
                        "node {name} stopped (its agent no longer renews its Lease or syncs pods)"
                    )
                }),
            NodeAction::Start { name } => kubarium_node::control::start_node(&client, name)
                .await
                .map(|()| format!("node {name} started")),
        }
    };
    match tokio::time::timeout(Duration::from_secs(15), request).await {
        Err(_) => anyhow::bail!(
            "the cluster at {url} did not answer within 15 s; is it running? {start_hint}"
        ),
        Ok(Err(error)) if unreachable(&error) => {
            anyhow::bail!("no Kubarium cluster answers at {url} ({error}); {start_hint}")
        }
        Ok(result) => Ok(result?),
    }
}
