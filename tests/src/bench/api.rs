//! `cargo xtask bench api`: start-up, memory, request latency, LIST and watch delivery of
//! the API server, against `kubariumd --runtime hollow --nodes 0`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use http::{Method, StatusCode};
use tempfile::TempDir;

use super::conn::{Conn, Endpoint};
use super::stats::{Samples, ms};
use super::{Figure, memory, watch};
use crate::daemon::Daemon;

const JSON: &str = "application/json";
/// Cold starts measured; the median and the worst are reported.
const STARTS: usize = 10;
/// Requests on one connection, after as many again to warm up.
const SERIAL_GETS: usize = 20_000;
const SERIAL_CREATES: usize = 5_000;
/// Concurrent clients and the create/get/update rounds each runs.
const CLIENTS: usize = 50;
const ROUNDS: usize = 500;
const LIST_PODS: usize = 10_000;
const LISTS: usize = 10;
/// Items per page of a paged list: kube-runtime's watcher asks for 500.
const PAGE: usize = 500;

/// The parts of the API benchmark, in the order they run.
pub const PHASES: &[&str] = &["start", "serial", "concurrent", "list", "watch"];

/// Runs the API figures of `phases` (every phase when empty).
pub async fn run(phases: &[String]) -> anyhow::Result<Vec<Figure>> {
    let wanted = super::phases("API", phases, PHASES)?;
    let mut figures = Vec::new();
    if wanted("start") {
        eprintln!("cold start ×{STARTS}");
        figures.extend(cold_start().await?);
    }

    let listen = format!("127.0.0.1:{}", crate::free_port());
    let daemon = Daemon::start(&["--listen", &listen, "--nodes", "0"]);
    let endpoint = Endpoint::from_kubeconfig(&daemon.kubeconfig())?;
    eprintln!("kubariumd runs as process {}", daemon.pid());
    if wanted("start") {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss = memory(daemon.pid(), "VmRSS")?;
        figures.push(Figure::new(
            "Idle RSS, `kubariumd --runtime hollow --nodes 0`",
            "≤ 30 MB",
            format!("{:.1} MB", rss as f64 / 1024.0),
            Some(rss <= 30 * 1024),
        ));
    }
    if wanted("serial") {
        eprintln!("one connection: {SERIAL_GETS} GETs, {SERIAL_CREATES} creates");
        figures.extend(serial(&endpoint).await?);
        progress(daemon.pid());
    }
    if wanted("concurrent") {
        eprintln!("{CLIENTS} clients × {ROUNDS} create/get/update rounds");
        figures.extend(concurrent(&endpoint).await?);
        progress(daemon.pid());
    }
    if wanted("list") {
        eprintln!("LIST of {LIST_PODS} pods");
        figures.extend(list(&endpoint).await?);
        progress(daemon.pid());
    }
    if wanted("watch") {
        eprintln!("{} watchers, {} writes/s", watch::WATCHERS, watch::RATE);
        figures.extend(watch::run(&endpoint).await?);
        progress(daemon.pid());
    }
    let peak = memory(daemon.pid(), "VmHWM")?;
    figures.push(Figure::new(
        "Peak RSS of kubariumd over the run",
        "—",
        format!("{:.1} MB", peak as f64 / 1024.0),
        None,
    ));
    Ok(figures)
}

/// Reports the daemon's memory after a phase, on stderr.
fn progress(pid: u32) {
    if let (Ok(rss), Ok(peak)) = (memory(pid, "VmRSS"), memory(pid, "VmHWM")) {
        eprintln!(
            "  kubariumd RSS {} MB (peak {} MB)",
            rss / 1024,
            peak / 1024
        );
    }
}

/// From spawning the process to the first `/readyz` answered `ok`, as a client sees it: a
/// fresh data directory (the first start creates the CA and keys) and an existing one.
async fn cold_start() -> anyhow::Result<Vec<Figure>> {
    let mut first = Samples::default();
    let mut again = Samples::default();
    for _ in 0..STARTS {
        let dir = TempDir::new()?;
        first.push(start_once(dir.path()).await?);
        again.push(start_once(dir.path()).await?);
    }
    let (first, again) = (first.summary(), again.summary());
    let target = Duration::from_millis(100);
    Ok(vec![
        Figure::new(
            "Cold start to `/readyz` ok, new data dir (creates CA and keys)",
            "≤ 100 ms",
            format!("median {} / max {}", ms(first.p50), ms(first.max)),
            Some(first.max <= target),
        ),
        Figure::new(
            "Cold start to `/readyz` ok, existing data dir",
            "≤ 100 ms",
            format!("median {} / max {}", ms(again.p50), ms(again.max)),
            Some(again.max <= target),
        ),
    ])
}

async fn start_once(dir: &Path) -> anyhow::Result<Duration> {
    let listen = format!("127.0.0.1:{}", crate::free_port());
    let mut command = Daemon::command(dir, &["--listen", &listen, "--nodes", "0"]);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let started = Instant::now();
    let mut child = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()?;
    let kubeconfig = dir.join("kubeconfig");
    let elapsed = loop {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("kubariumd was not ready within 10 s; see {}", dir.display());
        }
        if let Ok(endpoint) = Endpoint::from_kubeconfig(&kubeconfig)
            && let Ok(mut conn) = endpoint.connect().await
            && let Ok((StatusCode::OK, body)) = conn.send(Method::GET, "/readyz", None).await
            && body.as_ref() == b"ok"
        {
            break started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    child.start_kill()?;
    child.wait().await?;
    Ok(elapsed)
}

/// A ConfigMap body named `name` in `namespace`.
pub fn configmap(namespace: &str, name: &str, data: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench"}},
            "data": {"value": data},
        })
        .to_string(),
    )
}

/// Creates a namespace for one scenario.
pub async fn namespace(conn: &mut Conn, name: &str) -> anyhow::Result<()> {
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    conn.ok(
        Method::POST,
        "/api/v1/namespaces",
        Some((JSON, Bytes::from(body.to_string()))),
    )
    .await?;
    Ok(())
}

/// GETs and creates one after another on one keep-alive connection.
async fn serial(endpoint: &Endpoint) -> anyhow::Result<Vec<Figure>> {
    let mut conn = endpoint.connect().await?;
    namespace(&mut conn, "bench-serial").await?;
    let path = "/api/v1/namespaces/bench-serial/configmaps";
    let mut creates = Samples::with_capacity(SERIAL_CREATES);
    for i in 0..SERIAL_CREATES * 2 {
        let body = configmap("bench-serial", &format!("cm-{i}"), "x");
        let start = Instant::now();
        conn.ok(Method::POST, path, Some((JSON, body))).await?;
        if i >= SERIAL_CREATES {
            creates.push(start.elapsed());
        }
    }
    let mut gets = Samples::with_capacity(SERIAL_GETS);
    let one = format!("{path}/cm-0");
    for i in 0..SERIAL_GETS * 2 {
        let start = Instant::now();
        conn.ok(Method::GET, &one, None).await?;
        if i >= SERIAL_GETS {
            gets.push(start.elapsed());
        }
    }
    let (gets, creates) = (gets.summary(), creates.summary());
    Ok(vec![
        Figure::new(
            "One keep-alive connection: GET a ConfigMap",
            "p99 ≤ 0.5 ms",
            gets.to_string(),
            Some(gets.p99 <= Duration::from_micros(500)),
        ),
        Figure::new(
            "One keep-alive connection: create a ConfigMap",
            "p99 ≤ 2 ms",
            creates.to_string(),
            Some(creates.p99 <= Duration::from_millis(2)),
        ),
    ])
}

/// Fifty clients, each on its own connection, creating, reading and replacing their own
/// ConfigMaps at once.
async fn concurrent(endpoint: &Endpoint) -> anyhow::Result<Vec<Figure>> {
    namespace(&mut endpoint.connect().await?, "bench-concurrent").await?;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let endpoint = endpoint.clone();
        tasks.spawn(async move {
            let mut conn = endpoint.connect().await?;
            let path = "/api/v1/namespaces/bench-concurrent/configmaps";
            let (mut writes, mut gets) = (Samples::default(), Samples::default());
            for round in 0..ROUNDS {
                let name = format!("c{client}-{round}");
                let start = Instant::now();
                conn.ok(
                    Method::POST,
                    path,
                    Some((JSON, configmap("bench-concurrent", &name, "created"))),
                )
                .await?;
                writes.push(start.elapsed());
                let one = format!("{path}/{name}");
                let start = Instant::now();
                conn.ok(Method::GET, &one, None).await?;
                gets.push(start.elapsed());
                let start = Instant::now();
                conn.ok(
                    Method::PUT,
                    &one,
                    Some((JSON, configmap("bench-concurrent", &name, "updated"))),
                )
                .await?;
                writes.push(start.elapsed());
            }
            anyhow::Ok((writes, gets))
        });
    }
    let (mut writes, mut gets) = (Samples::default(), Samples::default());
    let started = Instant::now();
    while let Some(result) = tasks.join_next().await {
        let (w, g) = result??;
        writes.extend(w);
        gets.extend(g);
    }
    let rate = (writes.len() + gets.len()) as f64 / started.elapsed().as_secs_f64();
    let (writes, gets) = (writes.summary(), gets.summary());
    Ok(vec![
        Figure::new(
            "50 concurrent clients: create/update",
            "p99 ≤ 10 ms",
            format!("{writes} ({rate:.0} requests/s in all)"),
            Some(writes.p99 <= Duration::from_millis(10)),
        ),
        Figure::new(
            "50 concurrent clients: GET",
            "p99 ≤ 3 ms",
            gets.to_string(),
            Some(gets.p99 <= Duration::from_millis(3)),
        ),
    ])
}

/// A Pod as a Deployment would stamp it out.
fn pod(name: &str) -> Bytes {
    Bytes::from(
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": "bench-list",
                "labels": {"app": "web", "pod-template-hash": "5d9c8b7f6"},
                "annotations": {"kubarium.dev/bench": "list"},
            },
            "spec": {
                "containers": [{
                    "name": "web",
                    "image": "kubarium/web:1.0",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "env": [{"name": "MODE", "value": "bench"}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "128Mi"},
                    },
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                }],
            },
        })
        .to_string(),
    )
}

/// A list, or a page of one: its items counted without being kept, and where the next page
/// starts.
#[derive(serde::Deserialize)]
struct Page {
    metadata: PageMeta,
    items: Vec<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct PageMeta {
    #[serde(rename = "continue", default)]
    next: Option<String>,
}

/// Lists `path` in pages of [`PAGE`] as a reflector does, with a write elsewhere after the
/// first page, so the other pages are read at an older revision than the latest; returns
/// the pages' total time and how many items they held.
async fn paged_list(
    conn: &mut Conn,
    writer: &mut Conn,
    path: &str,
    round: usize,
) -> anyhow::Result<(Duration, usize)> {
    let (mut took, mut items) = (Duration::ZERO, 0);
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            None => format!("{path}?limit={PAGE}"),
            Some(token) => format!("{path}?limit={PAGE}&continue={token}"),
        };
        let start = Instant::now();
        let body = conn.ok(Method::GET, &url, None).await?;
        took += start.elapsed();
        let page: Page = serde_json::from_slice(&body)?;
        items += page.items.len();
        if next.is_none() {
            let body = serde_json::json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("written-while-paging-{round}")},
            });
            writer
                .ok(
                    Method::POST,
                    "/api/v1/namespaces/default/configmaps",
                    Some((JSON, Bytes::from(body.to_string()))),
                )
                .await?;
        }
        match page.metadata.next.filter(|token| !token.is_empty()) {
            Some(token) => next = Some(token),
            None => return Ok((took, items)),
        }
    }
}

/// LIST of 10,000 Pods in one namespace, as JSON and as the table `kubectl get` asks for.
async fn list(endpoint: &Endpoint) -> anyhow::Result<Vec<Figure>> {
    namespace(&mut endpoint.connect().await?, "bench-list").await?;
    let writers = 16;
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let endpoint = endpoint.clone();
        tasks.spawn(async move {
            let mut conn = endpoint.connect().await?;
            for i in (writer..LIST_PODS).step_by(writers) {
                let body = pod(&format!("web-{i}"));
                conn.ok(
                    Method::POST,
                    "/api/v1/namespaces/bench-list/pods",
                    Some((JSON, body)),
                )
                .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    // Let the disk writeback of ten thousand creates settle before timing reads.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut conn = endpoint.connect().await?;
    let path = "/api/v1/namespaces/bench-list/pods";
    let (mut json, mut tables) = (Samples::default(), Samples::default());
    let mut size = 0;
    for _ in 0..LISTS {
        let start = Instant::now();
        let body = conn.ok(Method::GET, path, None).await?;
        json.push(start.elapsed());
        size = body.len();
        let items = serde_json::from_slice::<Page>(&body)?.items.len();
        if items != LIST_PODS {
            bail!("LIST returned {items} pods, not {LIST_PODS}");
        }
    }
    // What `kubectl get pods` asks for: a Table of the same list.
    conn.set_accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
    for _ in 0..LISTS {
        let start = Instant::now();
        conn.ok(Method::GET, path, None).await?;
        tables.push(start.elapsed());
    }
    conn.set_accept(JSON);
    let mut writer = endpoint.connect().await?;
    let mut paged = Samples::default();
    for round in 0..LISTS {
        let (took, items) = paged_list(&mut conn, &mut writer, path, round).await?;
        if items != LIST_PODS {
            bail!("the pages held {items} pods, not {LIST_PODS}");
        }
        paged.push(took);
    }
    let (json, tables, paged) = (json.summary(), tables.summary(), paged.summary());
    Ok(vec![
        Figure::new(
            "LIST of 10,000 Pods (JSON)",
            "≤ 150 ms",
            format!(
                "median {} / max {} ({:.1} MB)",
                ms(json.p50),
                ms(json.max),
                size as f64 / 1e6
            ),
            Some(json.max <= Duration::from_millis(150)),
        ),
        Figure::new(
            "LIST of 10,000 Pods as a Table (`kubectl get pods`)",
            "—",
            format!("median {} / max {}", ms(tables.p50), ms(tables.max)),
            None,
        ),
        Figure::new(
            "LIST of 10,000 Pods in pages of 500, written to after the first page (a reflector's list)",
            "—",
            format!("median {} / max {}", ms(paged.p50), ms(paged.max)),
            None,
        ),
    ])
}
