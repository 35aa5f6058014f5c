//! `cargo xtask bench pods`: pods on real Docker containers, against the same containers made
//! directly through Docker's API.
//!
//! - kubariumd phase: `kubariumd --runtime docker --nodes 3`; a warm-up pod (which also makes
//!   the agents import the infra image), then [`PODS`] pods of `kubarium.dev/busybox:test`
//!   (`sleep`), created one at a time: each figure is from the create request to the pod
//!   seen `Running` on a watch. When [`RSS_AT`] pods run, the daemon's RSS is read after a
//!   few idle seconds.
//! - bare phase: the same two containers a pod has (the sandbox's image and command as the
//!   agent ran them, then busybox joined to its network namespace), created and started
//!   through the Engine API, [`PODS`] times one after another.
//!
//! Everything created is labelled and removed at the end, pass or fail.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use http::Method;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::control::{namespace, ready};
use super::docker::{Engine, urlencode};
use super::stats::{Samples, ms};
use super::{Figure, memory};
use crate::daemon::Daemon;

/// Pods measured, one at a time.
const PODS: usize = 50;
/// Running pods when the daemon's memory is read.
const RSS_AT: usize = 20;
/// Nodes of the cluster.
const NODES: usize = 3;
/// The app image, built by `cargo xtask images`.
const IMAGE: &str = "kubarium.dev/busybox:test";
/// How long any one wait may take before the benchmark gives up.
const PATIENCE: Duration = Duration::from_secs(180);

/// The sandbox container as the agent made it, for the bare phase to copy.
struct Sandbox {
    image: String,
    entrypoint: Value,
    cmd: Value,
    cluster: Option<String>,
    network: Option<String>,
}

pub async fn run() -> anyhow::Result<Vec<Figure>> {
    let mut engine = Engine::connect().await?;
    engine
        .call(Method::GET, &format!("/images/{IMAGE}/json"), None)
        .await
        .context("the bench needs the test image; build it with `cargo xtask images`")?;
    let namespace = format!("bench-pods-{}", std::process::id());

    eprintln!("kubariumd --runtime docker --nodes {NODES}: {PODS} pods one at a time");
    let listen = format!("127.0.0.1:{}", crate::free_port());
    let nodes = NODES.to_string();
    let mut daemon = Daemon::start(&[
        "--listen",
        &listen,
        "--nodes",
        &nodes,
        "--runtime",
        "docker",
        "--ingress-http-port",
        "0",
        "--ingress-https-port",
        "0",
    ]);
    let outcome = pods_phase(&daemon, &mut engine, &namespace).await;
    let _ = daemon.stop_with("TERM");
    // Whatever the agents left (they may keep containers across a daemon restart).
    let sandbox = outcome.as_ref().ok().and_then(|(_, _, s)| s.as_ref());
    if let Some(cluster) = sandbox.and_then(|s| s.cluster.as_deref()) {
        engine
            .remove_labelled(&format!("kubarium.dev/cluster={cluster}"))
            .await?;
        if let Some(network) = sandbox.and_then(|s| s.network.as_deref()) {
            remove_cluster_network(&mut engine, network, cluster).await;
        }
    }
    engine
        .remove_labelled(&format!("io.kubernetes.pod.namespace={namespace}"))
        .await?;
    let (pods, rss, sandbox) = outcome?;

    eprintln!("bare Docker: the same two containers, {PODS} times");
    let label = format!("kubarium.dev/bench=pods-{}", std::process::id());
    let bare = bare_phase(&mut engine, sandbox.as_ref(), &label).await;
    engine.remove_labelled(&label).await?;
    let _ = engine
        .call(
            Method::DELETE,
            &format!("/networks/kubarium-bench-{}", std::process::id()),
            None,
        )
        .await;
    let bare = bare?;

    let pod = pods.summary();
    let bare_summary = bare.summary();
    let ratio = pod.p50.as_secs_f64() / bare_summary.p50.as_secs_f64().max(1e-9);
    let sandbox_note = match &sandbox {
        Some(s) => format!("sandbox {} + {IMAGE}", s.image),
        None => format!("{IMAGE} twice (no sandbox container was found to copy)"),
    };
    Ok(vec![
        Figure::new(
            &format!(
                "Pod create → Running on a watch, {PODS} pods one at a time ({IMAGE}, {NODES} Docker nodes)"
            ),
            "p99 ≤ 1 s",
            pod.to_string(),
            Some(pod.p99 <= Duration::from_secs(1)),
        ),
        Figure::new(
            &format!("Bare Docker API create + start of a pod's two containers ({sandbox_note})"),
            "—",
            bare_summary.to_string(),
            None,
        ),
        Figure::new(
            "Pod p50 against the bare p50",
            "≤ 2×",
            format!("{ratio:.2}×"),
            Some(ratio <= 2.0),
        ),
        Figure::new(
            &format!("kubariumd RSS, {NODES} Docker nodes, {RSS_AT} running pods, idle"),
            "reported",
            format!("{:.1} MB", rss as f64 / 1024.0),
            None,
        ),
    ])
}

/// Creates the pods one at a time, timing each to `Running`; the samples, the daemon's RSS
/// (KiB) at [`RSS_AT`] pods, and the sandbox as Docker shows it.
async fn pods_phase(
    daemon: &Daemon,
    engine: &mut Engine,
    ns: &str,
) -> anyhow::Result<(Samples, u64, Option<Sandbox>)> {
    let client = daemon.client().await;
    wait_for_nodes(&client).await?;
    namespace(&client, ns).await?;
    let pods = Api::<Pod>::namespaced(client.clone(), ns);

    // The first moment the watch shows each pod Running.
    let (tx, mut running) = mpsc::unbounded_channel::<(String, Instant)>();
    let watching = pods.clone();
    let observer = tokio::spawn(async move {
        let mut seen = std::collections::HashSet::new();
        let stream = watcher(watching, watcher::Config::default()).default_backoff();
        futures_util::pin_mut!(stream);
        while let Some(event) = stream.try_next().await? {
            let (watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event else {
                continue;
            };
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            let name = pod.metadata.name.unwrap_or_default();
            if phase == Some("Running") && seen.insert(name.clone()) {
                let _ = tx.send((name, Instant::now()));
            }
        }
        anyhow::Ok(())
    });
    let mut arrived = HashMap::new();
    let mut wait_running = async |name: &str| -> anyhow::Result<Instant> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(at) = arrived.remove(name) {
                return Ok(at);
            }
            match tokio::time::timeout_at(deadline, running.recv()).await {
                Ok(Some((seen, at))) => {
                    arrived.insert(seen, at);
                }
                Ok(None) => bail!("the pod watch ended"),
                Err(_) => bail!("pod {name} was not Running after {PATIENCE:?}"),
            }
        }
    };

    let started = Instant::now();
    create(&pods, "warmup").await?;
    wait_running("warmup").await?;
    eprintln!("  warm-up pod Running after {}", ms(started.elapsed()));

    let mut samples = Samples::with_capacity(PODS);
    let mut rss = 0;
    for i in 0..PODS {
        let name = format!("pod-{i}");
        let sent = Instant::now();
        create(&pods, &name).await?;
        let at = wait_running(&name).await?;
        samples.push(at.duration_since(sent));
        if i + 2 == RSS_AT {
            // The warm-up pod and this one make RSS_AT.
            tokio::time::sleep(Duration::from_secs(5)).await;
            rss = memory(daemon.pid(), "VmRSS")?;
        }
    }
    observer.abort();
    eprintln!("  pods: {}", samples.summary());
    let sandbox = sandbox(engine, ns).await?;
    Ok((samples, rss, sandbox))
}

async fn create(pods: &Api<Pod>, name: &str) -> anyhow::Result<()> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "bench"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "app",
                "image": IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "3600"],
            }],
        },
    }))?;
    pods.create(&PostParams::default(), &pod).await?;
    Ok(())
}

async fn wait_for_nodes(client: &Client) -> anyhow::Result<()> {
    let api = Api::<Node>::all(client.clone());
    let started = Instant::now();
    loop {
        let list = api.list(&ListParams::default()).await?;
        let count = list.items.iter().filter(|n| ready(n)).count();
        if count >= NODES {
            eprintln!("  {NODES} nodes Ready after {}", ms(started.elapsed()));
            return Ok(());
        }
        if started.elapsed() > PATIENCE {
            bail!("only {count} of {NODES} Docker nodes Ready after {PATIENCE:?}; is Docker up?");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The warm-up pod's sandbox container, as Docker reports it.
async fn sandbox(engine: &mut Engine, ns: &str) -> anyhow::Result<Option<Sandbox>> {
    let filters = json!({"label": [
        format!("io.kubernetes.pod.namespace={ns}"),
        "io.kubernetes.pod.name=warmup",
        "io.kubernetes.container.name=POD",
    ]})
    .to_string();
    let list = engine
        .call(
            Method::GET,
            &format!("/containers/json?all=1&filters={}", urlencode(&filters)),
            None,
        )
        .await?;
    let Some(id) = list.get(0).and_then(|c| c["Id"].as_str()) else {
        return Ok(None);
    };
    let inspect = engine
        .call(Method::GET, &format!("/containers/{id}/json"), None)
        .await?;
    let config = &inspect["Config"];
    Ok(Some(Sandbox {
        image: config["Image"].as_str().unwrap_or(IMAGE).to_owned(),
        entrypoint: config["Entrypoint"].clone(),
        cmd: config["Cmd"].clone(),
        cluster: config["Labels"]["kubarium.dev/cluster"]
            .as_str()
            .map(str::to_owned),
        network: inspect["HostConfig"]["NetworkMode"]
            .as_str()
            .map(str::to_owned),
    }))
}

/// Removes the cluster's network if Docker says it is the cluster's.
async fn remove_cluster_network(engine: &mut Engine, network: &str, cluster: &str) {
    let Ok(inspect) = engine
        .call(Method::GET, &format!("/networks/{network}"), None)
        .await
    else {
        return;
    };
    if inspect["Labels"]["kubarium.dev/cluster"].as_str() == Some(cluster) {
        let _ = engine
            .call(Method::DELETE, &format!("/networks/{network}"), None)
            .await;
    }
}

/// Creates and starts a sandbox and an app container joined to it, [`PODS`] times after a
/// warm-up pair, on a network of the bench's own.
async fn bare_phase(
    engine: &mut Engine,
    sandbox: Option<&Sandbox>,
    label: &str,
) -> anyhow::Result<Samples> {
    let (key, value) = label.split_once('=').context("label is key=value")?;
    let network = format!("kubarium-bench-{}", std::process::id());
    engine
        .call(
            Method::POST,
            "/networks/create",
            Some(&json!({"Name": network, "Labels": {key: value}})),
        )
        .await?;
    let sandbox_config = match sandbox {
        Some(s) => json!({
            "Image": s.image, "Entrypoint": s.entrypoint, "Cmd": s.cmd,
            "Labels": {key: value}, "HostConfig": {"NetworkMode": network},
        }),
        None => json!({
            "Image": IMAGE, "Cmd": ["sleep", "3600"],
            "Labels": {key: value}, "HostConfig": {"NetworkMode": network},
        }),
    };
    let mut samples = Samples::with_capacity(PODS);
    for i in 0..=PODS {
        let started = Instant::now();
        let pause = engine
            .create(&format!("kubarium-bench-{i}-pod"), &sandbox_config)
            .await?;
        engine.start(&pause).await?;
        let app = engine
            .create(
                &format!("kubarium-bench-{i}-app"),
                &json!({
                    "Image": IMAGE, "Cmd": ["sleep", "3600"], "Labels": {key: value},
                    "HostConfig": {"NetworkMode": format!("container:{pause}")},
                }),
            )
            .await?;
        engine.start(&app).await?;
        if i > 0 {
            samples.push(started.elapsed()); // Pair 0 warms the engine up.
        }
    }
    eprintln!("  bare: {}", samples.summary());
    Ok(samples)
}
