//! `cargo xtask bench ui`: the desktop app with 10,000 pods on hollow nodes, driven through
//! WebDriver under Xvfb, measured where the user sees it — in the window.
//!
//! - first full table render: from clicking "Pods" (its watch had stopped, so this includes
//!   listing 10,000 pods, turning them into rows, the IPC and the render) until the table
//!   reports all 10,000 rows, one frame later; split into stages by the page's
//!   `kubarium:reset:pods` mark and the app's `listed` log line;
//! - a watch update: from sending a pod's create to its row appearing in the table (the
//!   table filtered to that name), wall clock on both sides of the same machine;
//! - filtering: from typing a filter to the next frame with the filtered rows;
//! - the app's RSS with its WebKit processes (and their PSS, which counts a shared library
//!   once), at each stage and at the end, and the size of the binary as it ships (the
//!   `dist` profile, which `cargo xtask bench ui` builds);
//! - then the app as a viewer ([`remote`]): the same render and memory with the 10,000 pods in
//!   a `kubariumd` beside it, the app's own cluster idle.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::Figure;
use super::stats::{Samples, ms};
use crate::desktop::Desktop;

mod remote;

/// Pods in the cluster while the UI is measured.
const PODS: usize = 10_000;
/// Hollow nodes they run on (kubelet's default of 110 pods per node leaves room).
pub(super) const NODES: &str = "200";
/// Watch-update and filter samples.
const SAMPLES: usize = 10;

/// The phases, in the order they run.
pub const PHASES: &[&str] = &["embedded", "remote"];

/// The UI benchmark's `phases` (every one if none is named).
pub async fn run(phases: &[String]) -> anyhow::Result<Vec<Figure>> {
    let runs = super::phases("UI", phases, PHASES)?;
    let mut figures = Vec::new();
    if runs("embedded") {
        figures.extend(embedded().await?);
    }
    if runs("remote") {
        figures.extend(remote::run().await?);
    }
    Ok(figures)
}

/// The app with its embedded cluster holding the 10,000 pods.
async fn embedded() -> anyhow::Result<Vec<Figure>> {
    let app = Desktop::launch_with(&["--runtime", "hollow", "--nodes", NODES]).await;
    app.wait_for_text("status-phase", Duration::from_secs(120), |t| {
        t == "Connected"
    })
    .await;
    let client = client(&app.data_dir().join("kubeconfig")).await?;
    report_memory(&app, "started, the map open, no pods");
    create_pods(&client).await?;
    report_memory(&app, "10,000 pods bound, the map open");

    // Away from every pods view long enough for the shared pods watch to stop (5 s).
    app.click("nav-overview").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    report_memory(&app, "on the overview");
    let render = first_render(&app).await?;
    app.screenshot("bench-pods-10000").await;

    let filter = filter_times(&app).await?;
    let update = update_times(&app, &client).await?;
    let memory = report_memory(&app, "the Pods table open");
    let (rss_app, rss_webkit) = (memory.app.rss, memory.webkit.rss);
    let (size, stripped) = binary_size(&crate::bin("kubarium"))?;

    Ok(vec![
        Figure::new(
            "First full table render, 10,000 pods (watch from scratch)",
            "≤ 2 s",
            render.to_string(),
            Some(render.total_ms <= 2_000.0),
        ),
        Figure::new(
            "A watch update visible in the table",
            "≤ 200 ms",
            update.summary().to_string(),
            Some(update.percentile(100.0) <= Duration::from_millis(200)),
        ),
        Figure::new(
            "Filtering 10,000 rows, keystroke to next frame",
            "≤ 100 ms",
            filter.summary().to_string(),
            Some(filter.percentile(100.0) <= Duration::from_millis(100)),
        ),
        Figure::new(
            "App RSS with its WebKit processes, 10,000 pods (the embedded cluster included)",
            "≤ 400 MB (goal)",
            format!(
                "{:.0} MB: the app process {:.0} MB (its cluster holds the 10,000 pods and 200 nodes), WebKit {:.0} MB; PSS {:.0} MB (app {:.0}, WebKit {:.0})",
                mb(rss_app + rss_webkit),
                mb(rss_app),
                mb(rss_webkit),
                mb(memory.app.pss + memory.webkit.pss),
                mb(memory.app.pss),
                mb(memory.webkit.pss),
            ),
            Some(rss_app + rss_webkit <= 400 * 1024),
        ),
        Figure::new(
            "Binary size as it ships (`dist` profile)",
            "≤ 25 MB stripped (goal)",
            format!(
                "{:.1} MB ({:.1} MB stripped)",
                size as f64 / 1e6,
                stripped as f64 / 1e6
            ),
            Some(stripped <= 25_000_000),
        ),
    ])
}

/// The first full render of the Pods table, and its stages as the page and the app's log
/// tell them.
pub(super) struct Render {
    pub(super) total_ms: f64,
    /// From the click to the watch's first list request (the view, the IPC, the watch's start).
    before_list_ms: Option<f64>,
    /// The app's list of every page, and the time its rows took on the blocking pool beside it.
    list_ms: Option<f64>,
    rows_ms: Option<f64>,
    /// From the click to the rows' arrival in the page (-1: the page made no mark).
    in_page_ms: f64,
}

impl std::fmt::Display for Render {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0} ms", self.total_ms)?;
        if let (Some(before), Some(list), Some(rows), true) = (
            self.before_list_ms,
            self.list_ms,
            self.rows_ms,
            self.in_page_ms >= 0.0,
        ) {
            write!(
                f,
                " (start {before:.0}, list {list:.0} with rows {rows:.0} beside it, to the page {:.0}, apply and draw {:.0})",
                self.in_page_ms - before - list,
                self.total_ms - self.in_page_ms
            )?;
        }
        Ok(())
    }
}

/// Clicks "Pods" and waits, in the page, for the frame after the table counts [`PODS`] rows.
/// The stages come from the page's `kubarium:reset:pods` mark and the app's `listed` line
/// (wall clocks of one machine).
pub(super) async fn first_render(app: &Desktop) -> anyhow::Result<Render> {
    let measured = app
        .session
        .execute(
            r#"
            const want = String(arguments[0]);
            const clicked = Date.now();
            const start = performance.now();
            document.querySelector('[data-testid="nav-pods"]').click();
            return new Promise((resolve) => {
              const check = () => {
                const count = document.querySelector('[data-testid="table-count"]');
                if (count && count.dataset.count === want) {
                  requestAnimationFrame(() => {
                    const total = performance.now() - start;
                    const reset = performance
                      .getEntriesByName('kubarium:reset:pods', 'mark')
                      .find((mark) => mark.startTime >= start);
                    resolve([total, reset ? reset.startTime - start : -1, clicked]);
                  });
                } else if (performance.now() - start > 25000) {
                  // Within WebDriver's 30 s script timeout, with the count reached.
                  resolve([-1, count ? Number(count.dataset.count) : -1, clicked]);
                } else {
                  requestAnimationFrame(check);
                }
              };
              check();
            });"#,
            vec![json!(PODS)],
        )
        .await?;
    let at = |i: usize| measured.get(i).and_then(|v| v.as_f64()).unwrap_or(-1.0);
    let (total_ms, in_page_ms, clicked_ms) = (at(0), at(1), at(2));
    if total_ms < 0.0 {
        // The script's second value is then the count the table had reached.
        app.screenshot("bench-pods-timeout").await;
        bail!("the Pods table counted {in_page_ms} rows, not {PODS}, after 25 s");
    }
    // The app's line for this list: `<time> INFO …: listed resource=pods rows=10000 took_ms=… rows_ms=…`.
    let log = crate::logs(&app.data_dir(), "kubarium");
    let listed = log.lines().rev().find(|line| {
        line.contains("listed resource=pods") && line.contains(&format!("rows={PODS}"))
    });
    let field = |line: &str, name: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    let (mut before_list_ms, mut list_ms, mut rows_ms) = (None, None, None);
    if let Some(line) = listed {
        let ended = line
            .split_whitespace()
            .next()
            .and_then(|time| time.parse::<k8s_openapi::jiff::Timestamp>().ok());
        if let (Some(ended), Some(took)) = (ended, field(line, "took_ms")) {
            #[allow(clippy::cast_precision_loss)]
            let ended_ms = ended.as_millisecond() as f64;
            before_list_ms = Some(ended_ms - took - clicked_ms);
            list_ms = Some(took);
            rows_ms = field(line, "rows_ms");
        }
    } else {
        eprintln!(
            "  the app logged no list of {PODS} pods (RUST_LOG needs kubarium_app::watch=info)"
        );
    }
    let render = Render {
        total_ms,
        before_list_ms,
        list_ms,
        rows_ms,
        in_page_ms,
    };
    eprintln!("  first render {render}");
    Ok(render)
}

/// A client from the app's kubeconfig, as kubectl would use it.
async fn client(kubeconfig: &Path) -> anyhow::Result<Client> {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(kubeconfig)?,
        &Default::default(),
    )
    .await?;
    Ok(Client::try_from(config)?)
}

/// Creates [`PODS`] pods in namespace `bench` and waits until every one is bound.
pub(super) async fn create_pods(client: &Client) -> anyhow::Result<()> {
    super::control::namespace(client, "bench").await?;
    let pods = Api::<Pod>::namespaced(client.clone(), "bench");
    let started = Instant::now();
    super::control::create_pods(client, "bench", PODS, 32).await?;
    eprintln!("  {PODS} pods created in {}", ms(started.elapsed()));
    loop {
        let list = pods.list(&ListParams::default()).await?;
        let bound = list
            .items
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .count();
        if bound >= PODS {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("only {bound} of {PODS} pods bound after 10 minutes");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("  all bound after {}", ms(started.elapsed()));
    Ok(())
}

/// Sets the table filter as typing does and times it to the next frame with its rows.
const SET_FILTER: &str = r#"
    const [text, want] = arguments;
    const input = document.querySelector('[data-testid="table-filter"]');
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
    const start = performance.now();
    setter.call(input, text);
    input.dispatchEvent(new Event('input', { bubbles: true }));
    return new Promise((resolve) => {
      const check = () => {
        const count = document.querySelector('[data-testid="table-count"]');
        if (count && count.dataset.count === String(want)) {
          requestAnimationFrame(() => resolve(performance.now() - start));
        } else if (performance.now() - start > 10000) {
          resolve(-1);
        } else {
          requestAnimationFrame(check);
        }
      };
      check();
    });"#;

async fn set_filter(app: &Desktop, text: &str, want: usize) -> anyhow::Result<Duration> {
    let took = app
        .session
        .execute(SET_FILTER, vec![json!(text), json!(want)])
        .await?
        .as_f64()
        .unwrap_or(-1.0);
    if took < 0.0 {
        bail!("filtering {text:?} did not give {want} rows");
    }
    Ok(Duration::from_secs_f64(took / 1000.0))
}

/// Filter timings: `pod-1` (1,111 rows), `pod-12` (111), `pod-123` (11), each from the full
/// table.
async fn filter_times(app: &Desktop) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    let cases: [(&str, usize); 3] = [("pod-1", 1_111), ("pod-12", 111), ("pod-123", 11)];
    for round in 0..SAMPLES {
        let (text, want) = cases[round % cases.len()];
        samples.push(set_filter(app, text, want).await?);
        set_filter(app, "", PODS).await?;
    }
    Ok(samples)
}

/// Create-to-visible times: the table filtered to a new pod's name, the pod created, the
/// row's appearance stamped in the page.
async fn update_times(app: &Desktop, client: &Client) -> anyhow::Result<Samples> {
    let pods = Api::<Pod>::namespaced(client.clone(), "bench");
    let mut samples = Samples::default();
    for i in 0..SAMPLES {
        let name = format!("probe-{i}");
        set_filter(app, &name, 0).await?;
        let seen = app.session.execute(
            r#"
            const name = arguments[0];
            const start = performance.now();
            return new Promise((resolve) => {
              const check = () => {
                if (document.querySelector(`[data-testid="table-row-${name}"]`)) {
                  requestAnimationFrame(() => resolve(Date.now()));
                } else if (performance.now() - start > 10000) {
                  resolve(-1);
                } else {
                  requestAnimationFrame(check);
                }
              };
              check();
            });"#,
            vec![json!(name)],
        );
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "kubarium/demo"}]},
        }))?;
        // The page's watcher is armed before the create leaves; the create waits for it
        // to be sent (WebDriver answers only when the promise resolves).
        let create = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let sent = SystemTime::now();
            pods.create(&PostParams::default(), &pod).await?;
            anyhow::Ok(sent)
        };
        let (seen, sent) = tokio::join!(seen, create);
        let (seen, sent) = (seen?, sent?);
        let seen_ms = seen.as_f64().context("no timestamp from the page")?;
        if seen_ms < 0.0 {
            bail!("{name} did not appear in the table within 10 s");
        }
        let sent_ms = sent.duration_since(SystemTime::UNIX_EPOCH)?.as_secs_f64() * 1000.0;
        samples.push(Duration::from_secs_f64(
            (seen_ms - sent_ms).max(0.0) / 1000.0,
        ));
    }
    set_filter(app, "", PODS + SAMPLES).await?;
    Ok(samples)
}

/// Prints the app's and WebKit's memory now, with what the window shows, to see which stage
/// costs what; returns it.
pub(super) fn report_memory(app: &Desktop, stage: &str) -> AppMemory {
    let memory = AppMemory::now(app.app_pid());
    eprintln!(
        "  memory, {stage}: the app process {:.0} MB, WebKit {:.0} MB (PSS {:.0} + {:.0} MB)",
        mb(memory.app.rss),
        mb(memory.webkit.rss),
        mb(memory.app.pss),
        mb(memory.webkit.pss),
    );
    memory
}

/// kB as MB.
pub(super) fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Resident memory of one or more processes, in kB.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Resident {
    /// VmRSS: every page mapped, shared libraries in full in each process.
    pub(super) rss: u64,
    /// Proportional set size: a page shared by n processes counts 1/n in each, so summing
    /// over processes counts a shared library once.
    pub(super) pss: u64,
}

impl Resident {
    fn of(pid: u32) -> Self {
        Self {
            rss: super::memory(pid, "VmRSS").unwrap_or(0),
            pss: super::proc_kib(pid, "smaps_rollup", "Pss").unwrap_or(0),
        }
    }
}

/// The app process, and every process under it (WebKit's web and network processes).
pub(super) struct AppMemory {
    pub(super) app: Resident,
    pub(super) webkit: Resident,
}

impl AppMemory {
    fn now(pid: u32) -> Self {
        let mut parents: HashMap<u32, Vec<u32>> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                // The fields after the command's closing parenthesis: state, ppid, …
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse().ok());
                if let Some(ppid) = ppid {
                    parents.entry(ppid).or_default().push(child);
                }
            }
        }
        let mut webkit = Resident::default();
        let mut seen = HashSet::from([pid]);
        let mut queue: Vec<u32> = parents.get(&pid).cloned().unwrap_or_default();
        while let Some(next) = queue.pop() {
            if !seen.insert(next) {
                continue;
            }
            let child = Resident::of(next);
            webkit.rss += child.rss;
            webkit.pss += child.pss;
            queue.extend(parents.get(&next).into_iter().flatten());
        }
        Self {
            app: Resident::of(pid),
            webkit,
        }
    }
}

/// The binary's size on disk, and stripped (`strip` on a copy).
fn binary_size(binary: &Path) -> anyhow::Result<(u64, u64)> {
    let size = std::fs::metadata(binary)
        .with_context(|| format!("no binary at {}", binary.display()))?
        .len();
    let copy = tempfile::NamedTempFile::new()?;
    std::fs::copy(binary, copy.path())?;
    let status = std::process::Command::new("strip")
        .arg(copy.path())
        .status()?;
    if !status.success() {
        bail!("strip failed on {}", copy.path().display());
    }
    Ok((size, std::fs::metadata(copy.path())?.len()))
}
