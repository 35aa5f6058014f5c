//! `cargo xtask bench scheduler` and `cargo xtask bench controllers`: the control loops on
//! hollow nodes, driven and observed through kube-rs as any client would.
//!
//! - scheduler: `kubariumd --nodes N` (1,000, then 5,000), 10,000 pods created by 256
//!   concurrent requests; throughput is pods bound per second from the first create to the
//!   last binding seen on a watch. When the last pod was seen Running is beside it, so a
//!   change that only moves the node agents' work past the last binding shows. The daemon's
//!   memory with 1,000 nodes and 10,000 running pods is reported too, and the CPU time it
//!   used per 1,000 pods from the first create to the last pod Running: against the budget
//!   the target leaves (two cores at 3,000 pods/s give the daemon and the bench together
//!   667 ms per 1,000 pods).
//! - controllers: a 100-replica Deployment from create to all replicas Ready, several times.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceAccount};
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::Semaphore;

use super::placement::Placement;
use super::stats::{Samples, ms};
use super::{Figure, cpu_time, memory};
use crate::daemon::Daemon;

/// Pods the scheduler benchmark creates.
const PODS: usize = 10_000;
/// Requests creating them in flight at once: enough that pods are created faster than they
/// are bound, so the figure is the cluster's pace. A closed loop of fewer requests paces
/// itself by the cluster's write latency (at 64, pods were bound as fast as they were
/// created, and no faster).
const CREATORS: usize = 256;
/// Node counts the scheduler benchmark runs at.
const NODE_COUNTS: &[usize] = &[1_000, 5_000];
/// Deployment runs in the controllers benchmark, and their size.
const DEPLOYMENTS: usize = 5;
const REPLICAS: i32 = 100;
/// How long any one wait may take before the benchmark gives up.
const PATIENCE: Duration = Duration::from_secs(600);

/// A hollow daemon with `nodes` nodes, all Ready, and a client for it.
pub(super) async fn cluster(nodes: usize) -> anyhow::Result<(Daemon, Client)> {
    let listen = format!("127.0.0.1:{}", crate::free_port());
    let daemon = Daemon::start(&["--listen", &listen, "--nodes", &nodes.to_string()]);
    let client = daemon.client().await;
    let started = Instant::now();
    let api = Api::<Node>::all(client.clone());
    loop {
        let list = api.list(&ListParams::default()).await?;
        let ready = list.items.iter().filter(|node| ready(node)).count();
        if ready >= nodes {
            eprintln!("  {nodes} nodes Ready after {}", ms(started.elapsed()));
            break;
        }
        if started.elapsed() > PATIENCE {
            bail!("only {ready} of {nodes} nodes Ready after {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok((daemon, client))
}

pub(super) fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Creates namespace `name` and waits for its `default` ServiceAccount, as the e2e
/// framework and clusterloader do before they create pods: until the namespace controller
/// has made it, a pod create waits in the ServiceAccount admission plugin, and that wait
/// would be timed as the cluster's.
pub(super) async fn namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), name);
    let started = Instant::now();
    while accounts.get_opt("default").await?.is_none() {
        if started.elapsed() > PATIENCE {
            bail!("namespace {name} has no default ServiceAccount after {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The scheduler benchmark at each node count.
pub async fn scheduler() -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for &nodes in NODE_COUNTS {
        eprintln!("{nodes} hollow nodes, {PODS} pods");
        let (daemon, client) = cluster(nodes).await?;
        namespace(&client, "bench").await?;

        // Bindings as a watcher sees them.
        let watching = Api::<Placement>::namespaced(client.clone(), "bench");
        let (first_watch, watched) = tokio::sync::oneshot::channel();
        let observer = tokio::spawn(async move {
            let mut bound = HashSet::new();
            let mut running = HashSet::new();
            let mut last_bound = None;
            let mut first_watch = Some(first_watch);
            let mut lists = 0;
            let stream = watcher(watching, watcher::Config::default()).default_backoff();
            futures_util::pin_mut!(stream);
            while let Some(event) = stream.try_next().await? {
                if let Some(tx) = first_watch.take() {
                    let _ = tx.send(());
                }
                // A watch that falls too far behind is closed; if its revision is compacted
                // by then, the watcher lists again and hands the pods out as InitApply.
                let pod = match event {
                    watcher::Event::Apply(pod) | watcher::Event::InitApply(pod) => pod,
                    watcher::Event::Init => {
                        lists += 1;
                        if lists > 1 {
                            eprintln!("  (the bench's pod watch listed again)");
                        }
                        continue;
                    }
                    _ => continue,
                };
                let name = pod.metadata.name.unwrap_or_default();
                if pod.node.is_some() && bound.insert(name.clone()) {
                    last_bound = Some(Instant::now());
                }
                if pod.phase.as_deref() == Some("Running") {
                    running.insert(name);
                }
                if running.len() >= PODS {
                    break;
                }
            }
            anyhow::Ok((last_bound, bound.len(), Instant::now()))
        });
        let _ = tokio::time::timeout(Duration::from_secs(30), watched).await;

        let cpu_before = cpu_time(daemon.pid())?;
        let started = Instant::now();
        create_pods(&client, "bench", PODS, CREATORS).await?;
        let created = started.elapsed();
        let (last_bound, bound, all_running) = tokio::time::timeout(PATIENCE, observer)
            .await
            .context("pods did not all run in time")???;
        let cpu = cpu_time(daemon.pid())?.saturating_sub(cpu_before);
        let last_bound = last_bound.context("no pod was bound")?;
        let binding = last_bound.duration_since(started);
        let rate = bound as f64 / binding.as_secs_f64();
        let running = all_running.duration_since(started);
        eprintln!(
            "  {rate:.0} pods/s bound (all in {}, created at {:.0}/s, all Running in {})",
            ms(binding),
            PODS as f64 / created.as_secs_f64(),
            ms(running)
        );
        figures.push(Figure::new(
            &format!("Pods bound per second, {PODS} pods on {nodes} hollow nodes"),
            "≥ 3,000 pods/s",
            format!(
                "{rate:.0} pods/s (all bound {}; created at {:.0}/s; all Running {})",
                ms(binding),
                PODS as f64 / created.as_secs_f64(),
                ms(running)
            ),
            Some(rate >= 3_000.0),
        ));
        let cpu_per_thousand = cpu.as_secs_f64() * 1_000.0 / (PODS as f64 / 1_000.0);
        eprintln!("  {cpu_per_thousand:.0} ms of kubariumd CPU per 1,000 pods, created to Running");
        figures.push(Figure::new(
            &format!("kubariumd CPU per 1,000 pods on {nodes} hollow nodes, created to Running"),
            "reported",
            format!("{cpu_per_thousand:.0} ms"),
            None,
        ));
        if nodes == NODE_COUNTS[0] {
            let rss = memory(daemon.pid(), "VmRSS")?;
            figures.push(Figure::new(
                &format!("kubariumd RSS with {nodes} nodes and {PODS} running pods"),
                "reported",
                format!("{:.0} MB", rss as f64 / 1024.0),
                None,
            ));
        }
        drop(daemon);
    }
    Ok(figures)
}

/// Creates `count` pods `pod-0`… (label `app=bench`) in `namespace` with `creators`
/// requests in flight. Each answer, the pod as created, is checked to be JSON and dropped
/// rather than decoded: the load generator shares the machine's two cores with the cluster
/// it measures, and the benches watch the pods anyway.
pub(crate) async fn create_pods(
    client: &Client,
    namespace: &str,
    count: usize,
    creators: usize,
) -> anyhow::Result<()> {
    let gate = Arc::new(Semaphore::new(creators));
    let url = <Pod as kube::Resource>::url_path(&(), Some(namespace));
    let mut creates = Vec::with_capacity(count);
    for i in 0..count {
        let permit = gate.clone().acquire_owned().await?;
        let pod = serde_json::to_vec(&json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": format!("pod-{i}"), "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "app", "image": "kubarium/demo"}]},
        }))?;
        let request = kube::core::Request::new(&url).create(&PostParams::default(), pod)?;
        let client = client.clone();
        creates.push(tokio::spawn(async move {
            let _permit = permit;
            client.request::<serde::de::IgnoredAny>(request).await?;
            anyhow::Ok(())
        }));
    }
    for create in creates {
        create.await??;
    }
    Ok(())
}

/// The controllers benchmark: a 100-replica Deployment to all Ready, [`DEPLOYMENTS`] times.
pub async fn controllers() -> anyhow::Result<Vec<Figure>> {
    let (daemon, client) = cluster(3).await?;
    namespace(&client, "bench").await?;
    let deployments = Api::<Deployment>::namespaced(client.clone(), "bench");
    let mut samples = Samples::default();
    for run in 0..DEPLOYMENTS {
        let name = format!("web-{run}");
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "web", "image": "kubarium/demo"}]},
                },
            },
        }))?;
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let stream = watcher(deployments.clone(), config).default_backoff();
        futures_util::pin_mut!(stream);
        // The initial (empty) list, so the create below is seen as it happens.
        while let Some(event) = stream.next().await {
            if matches!(event?, watcher::Event::InitDone) {
                break;
            }
        }
        let started = Instant::now();
        deployments
            .create(&PostParams::default(), &deployment)
            .await?;
        let elapsed = tokio::time::timeout(PATIENCE, async {
            while let Some(event) = stream.next().await {
                if let watcher::Event::Apply(d) | watcher::Event::InitApply(d) = event?
                    && d.status.as_ref().and_then(|s| s.ready_replicas) == Some(REPLICAS)
                {
                    return anyhow::Ok(started.elapsed());
                }
            }
            bail!("the watch ended")
        })
        .await
        .context("the Deployment did not become Ready in time")??;
        eprintln!("  {name}: {} replicas Ready in {}", REPLICAS, ms(elapsed));
        samples.push(elapsed);
        deployments.delete(&name, &Default::default()).await?;
    }
    drop(daemon);
    let summary = samples.summary();
    Ok(vec![Figure::new(
        &format!("{REPLICAS}-replica Deployment, create to all Ready (3 hollow nodes)"),
        "≤ 2 s",
        format!(
            "median {} / max {} ({DEPLOYMENTS} runs)",
            ms(summary.p50),
            ms(summary.max)
        ),
        Some(summary.p50 <= Duration::from_secs(2)),
    )])
}
