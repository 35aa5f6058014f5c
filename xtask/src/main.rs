//! `cargo xtask`: the project's own commands, so a fresh clone needs exactly two of them.
//!
//! - `cargo xtask run [--headless] [--release] [-- ARGS]`: set up this machine, build, and
//!   start the desktop app (or `kubariumd` with `--headless`). ARGS go to the program.
//! - `cargo xtask test [--update-screenshots]`: set up this machine, then every check CI runs.
//! - `cargo xtask images`: the static in-container binary and the test image, built locally.
//! - `cargo xtask bench api|scheduler|controllers|pods|net|ui`: benchmarks against release builds.
//! - `cargo xtask bindings`: regenerate the UI's TypeScript types from the Rust IPC types.
//! - `cargo xtask protobuf-schema`: regenerate the API server's protobuf field table.
//!
//! Set-up installs what is missing (Debian/Ubuntu packages through apt as root or sudo, the
//! UI's npm packages, cargo tools) and starts a Docker engine if one is installed but not
//! running. What it cannot install it names, with the command to run, and stops.

mod bench;
mod cmd;
mod images;
mod run;
mod setup;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

/// A prerequisite xtask cannot provide itself: printed as is, without a backtrace.
#[derive(Debug)]
pub(crate) struct Missing(pub(crate) String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Missing {}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            match error.downcast_ref::<Missing>() {
                Some(missing) => eprintln!("\n{missing}"),
                None => eprintln!("\nxtask: {error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> anyhow::Result<()> {
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("help", &[][..]),
    };
    // Everything after `--` belongs to the program `run` starts.
    let (flags, passthrough) = match rest.iter().position(|a| a == "--") {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let flag = |name: &str| flags.iter().any(|f| f == name);
    if command == "bench" {
        // Suite and phase names, not flags.
        return bench::bench(rest);
    }
    if let Some(unknown) = flags.iter().find(|f| !KNOWN_FLAGS.contains(&f.as_str())) {
        bail!("unknown flag {unknown}; see `cargo xtask help`");
    }
    match command {
        "run" => run::run(&run::Options {
            headless: flag("--headless"),
            release: flag("--release"),
            args: passthrough.to_vec(),
        }),
        "test" => test::test(flag("--update-screenshots")),
        "images" => images::images(),
        "bindings" => test::bindings(),
        "protobuf-schema" => test::protobuf_schema(),
        "help" | "--help" | "-h" => {
            println!("{}", HELP.trim());
            Ok(())
        }
        other => bail!("unknown command {other}; see `cargo xtask help`"),
    }
}

const KNOWN_FLAGS: &[&str] = &["--headless", "--release", "--update-screenshots"];

const HELP: &str = "
cargo xtask run [--headless] [--release] [-- ARGS]
    Set up this machine, build and start the desktop app (with --headless: kubariumd).
    --release builds the app as it ships (the `dist` profile: small code) and kubariumd at
    full speed (the `release` profile).
    ARGS go to the program, e.g. `cargo xtask run --headless -- --runtime hollow`.
cargo xtask test [--update-screenshots]
    Set up this machine and run every check CI runs: formatting, lints, Rust tests, UI type
    check, lint and unit tests, and the end-to-end suite (real window under Xvfb).
    --update-screenshots refreshes docs/screenshots from the run.
cargo xtask images
    Build what runs in containers, locally (nothing is pulled): the static kubarium-infra
    binary (its path is printed as KUBARIUM_INFRA_BINARY) and the test image
    kubarium.dev/busybox:test from Debian's busybox-static. `test` and `run` do this too.
cargo xtask bench api [PHASE...]
    Build release binaries and measure the API server over TLS on loopback: start-up, idle
    memory, request latency (one connection, 50 clients), LIST of 10,000 pods, watch
    delivery. PHASE picks parts: start, serial, concurrent, list, watch.
cargo xtask bench scheduler | controllers
    The control loops on hollow nodes: binding throughput with the daemon's CPU per pod, a
    100-replica Deployment to Ready.
cargo xtask bench pods
    Pods on Docker: 50 pods one at a time, create to Running on a watch, against the same two
    containers created and started through Docker's API; kubariumd's RSS with 20 pods.
cargo xtask bench net
    Services on Docker: throughput and latency through a Service and the ingress against
    direct, time to first answer, how fast an unready endpoint stops getting traffic.
cargo xtask bench ui [embedded] [remote]
    The desktop app as it ships (`dist` profile) under Xvfb with 10,000 pods on hollow
    nodes: first table render, watch update to screen, filtering, RSS with WebKit, binary
    size; then the same render and RSS with the pods in a remote kubariumd the app views.
cargo xtask bindings
    Regenerate ui/src/ipc/bindings from the Rust IPC types.
cargo xtask protobuf-schema
    Regenerate the API server's protobuf field table from the k8s-pb crate's sources.
";

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Cargo's target directory for this workspace.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        })
        .unwrap_or_else(|| root().join("target"))
}
