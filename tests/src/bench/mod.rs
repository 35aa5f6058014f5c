//! `kubarium-bench`: the benchmarks behind `cargo xtask bench`, run against a release
//! `kubariumd` over TLS on loopback. Each prints its figures beside the targets the issues set,
//! as Markdown ready for `docs/benchmarks.md`. Nothing here asserts on time.

pub mod api;
pub mod conn;
pub mod control;
pub mod docker;
pub mod net;
pub mod placement;
pub mod pods;
pub mod stats;
pub mod ui;
pub mod watch;

use std::fmt::Write as _;

/// One measured figure beside its target.
pub struct Figure {
    pub name: String,
    pub target: String,
    pub measured: String,
    /// Whether the figure meets its target (`None` when it has none).
    pub met: Option<bool>,
}

impl Figure {
    pub fn new(name: &str, target: &str, measured: String, met: Option<bool>) -> Self {
        Self {
            name: name.to_owned(),
            target: target.to_owned(),
            measured,
            met,
        }
    }
}

/// The figures as a Markdown table.
pub fn table(figures: &[Figure]) -> String {
    let mut out = String::from("| Figure | Target | Measured | |\n|---|---|---|---|\n");
    for figure in figures {
        let mark = match figure.met {
            Some(true) => "✅",
            Some(false) => "❌",
            None => "",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {mark} |",
            figure.name, figure.target, figure.measured
        );
    }
    out
}

/// A line naming the machine the figures come from.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory} memory")
}

/// The entry point of the `kubarium-bench` binary.
pub fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("api") => report(&runtime.block_on(api::run(&args[1..]))?),
        Some("scheduler") => report(&runtime.block_on(control::scheduler())?),
        Some("controllers") => report(&runtime.block_on(control::controllers())?),
        Some("pods") => report(&runtime.block_on(pods::run())?),
        Some("net") => report(&runtime.block_on(net::run())?),
        Some("ui") => report(&runtime.block_on(ui::run(&args[1..]))?),
        _ => anyhow::bail!(
            "usage: kubarium-bench api [PHASE...] | scheduler | controllers | pods | net | ui [PHASE...]; the api phases are {}, the ui phases {}",
            api::PHASES.join(", "),
            ui::PHASES.join(", ")
        ),
    }
}

/// The phases a run was asked for, from `named` (every one of `known` when none is named): an
/// answer to "is this phase wanted?", or an error naming the phase that is not one of `known`.
pub fn phases<'a>(
    bench: &str,
    named: &'a [String],
    known: &[&str],
) -> anyhow::Result<impl Fn(&str) -> bool + 'a> {
    if let Some(unknown) = named.iter().find(|p| !known.contains(&p.as_str())) {
        anyhow::bail!(
            "no {bench} phase {unknown:?}; the phases are {}",
            known.join(", ")
        );
    }
    Ok(move |phase: &str| named.is_empty() || named.iter().any(|p| p == phase))
}

fn report(figures: &[Figure]) -> anyhow::Result<()> {
    println!("\nMachine: {}\n\n{}", machine(), table(figures));
    if figures.iter().any(|f| f.met == Some(false)) {
        println!("Some figures miss their targets.");
    }
    Ok(())
}

/// The CPU time process `pid` has used so far, all its threads (live and ended) together:
/// `utime` and `stime` of `/proc/<pid>/stat`, in clock ticks of `getconf CLK_TCK`.
pub fn cpu_time(pid: u32) -> anyhow::Result<std::time::Duration> {
    use anyhow::Context as _;
    let fields = crate::stat_fields(pid).with_context(|| format!("no process {pid} in /proc"))?;
    let ticks = |field: usize| -> anyhow::Result<u64> {
        fields
            .get(field - 3)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no field {field} in /proc/{pid}/stat"))
    };
    let per_second: u64 = String::from_utf8(
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()?
            .stdout,
    )?
    .trim()
    .parse()
    .context("getconf CLK_TCK did not print a number")?;
    let used = ticks(14)? + ticks(15)?;
    Ok(std::time::Duration::from_secs_f64(
        used as f64 / per_second as f64,
    ))
}

/// A field of `/proc/<pid>/status`, in KiB.
pub fn memory(pid: u32, field: &str) -> anyhow::Result<u64> {
    proc_kib(pid, "status", field)
}

/// A `Field:  N kB` line of `/proc/<pid>/<file>` (`status`, `smaps_rollup`), in KiB.
pub fn proc_kib(pid: u32, file: &str, field: &str) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/{file}"))
}
