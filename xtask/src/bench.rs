//! `cargo xtask bench`: the benchmarks, against release builds, printed as Markdown for
//! `docs/benchmarks.md`.

use crate::cmd::{self, command};
use crate::images;
use crate::setup::{self, Purpose};

/// The benchmark suites, each a `kubarium-bench` subcommand.
const SUITES: &[&str] = &["api", "scheduler", "controllers", "pods", "net", "ui"];

/// Runs suite `args[0]` (every phase, or the phases named after it).
pub(crate) fn bench(args: &[String]) -> anyhow::Result<()> {
    let Some((suite, phases)) = args.split_first() else {
        anyhow::bail!("name a benchmark: cargo xtask bench {}", SUITES.join("|"));
    };
    if !SUITES.contains(&suite.as_str()) {
        anyhow::bail!(
            "unknown benchmark {suite}; the benchmarks are {}",
            SUITES.join(", ")
        );
    }
    let root = crate::root();
    // `pods` and `net` run real containers: Docker, the static infra binary and the test image.
    let docker = matches!(suite.as_str(), "pods" | "net");
    if suite == "ui" {
        return ui(&root, phases);
    }
    setup::prepare(Purpose::Headless, docker)?;
    let infra_binary = if docker {
        let binary = images::infra_binary()?;
        images::busybox_image()?;
        Some(binary)
    } else {
        None
    };
    let release = cmd::cargo_build(
        &root,
        "release",
        &[
            ("kubarium-cluster", "kubariumd"),
            ("kubarium-tests", "kubarium-bench"),
        ],
    )?;
    let mut bench = command(release.join("kubarium-bench"), &[suite.as_str()], &root);
    bench
        .args(phases)
        .env("KUBARIUM_BIN_DIR", &release)
        // The daemon's logs go to its data dir; the bench's own output is the report.
        .env("RUST_LOG", "warn");
    if let Some(binary) = infra_binary {
        bench.env(images::INFRA_BINARY_ENV, binary);
    }
    cmd::run(&mut bench)
}

/// `ui`: the desktop app as it ships (the `dist` profile; its UI built first, as the binary
/// embeds it) under a virtual display, driven through tauri-driver by `kubarium-bench ui`.
fn ui(root: &std::path::Path, phases: &[String]) -> anyhow::Result<()> {
    setup::prepare(Purpose::Test, false)?;
    let ui = root.join("ui");
    cmd::run(&mut command("npm", &["run", "--silent", "build"], &ui))?;
    // `kubariumd` serves the remote cluster the app views in the bench's second phase.
    let app = cmd::cargo_build(
        root,
        "dist",
        &[
            ("kubarium-desktop", "kubarium"),
            ("kubarium-cluster", "kubariumd"),
        ],
    )?;
    let release = cmd::cargo_build(root, "release", &[("kubarium-tests", "kubarium-bench")])?;
    let bench = release.join("kubarium-bench");
    let mut run = command(
        "xvfb-run",
        &[
            "-a",
            "-s",
            "-screen 0 1280x800x24",
            &bench.to_string_lossy(),
            "ui",
        ],
        root,
    );
    run.args(phases);
    run.env("KUBARIUM_BIN_DIR", &app)
        .env("TAURI_DRIVER", crate::test::tauri_driver())
        .env(
            "KUBARIUM_SCREENSHOTS",
            crate::target_dir().join("screenshots"),
        )
        .env("RUST_LOG", "warn,kubarium_app::watch=info");
    cmd::run(&mut run)
}
