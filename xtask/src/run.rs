//! `cargo xtask run`: set up, build, and start the desktop app or `kubariumd`.

use std::process::Command;

use anyhow::Context;

use crate::Missing;
use crate::cmd::{self, command};
use crate::images;
use crate::setup::{self, Purpose};

pub(crate) struct Options {
    pub(crate) headless: bool,
    pub(crate) release: bool,
    /// Arguments for the program started.
    pub(crate) args: Vec<String>,
}

pub(crate) fn run(options: &Options) -> anyhow::Result<()> {
    let root = crate::root();
    let purpose = if options.headless {
        Purpose::Headless
    } else {
        Purpose::Desktop
    };
    let docker = needs_docker(&options.args);
    setup::prepare(purpose, docker)?;
    let (package, binary) = if options.headless {
        ("kubarium-cluster", "kubariumd")
    } else {
        cmd::run(&mut command("npm", &["run", "build"], &root.join("ui")))?;
        ("kubarium-desktop", "kubarium")
    };
    if !options.headless {
        check_display()?;
    }
    let program = cmd::cargo_build(&root, profile(options), &[(package, binary)])?.join(binary);
    let mut start = Command::new(&program);
    start.args(&options.args);
    if docker {
        // The pods' sandbox binary: beside the program, where a packaged app keeps it, and
        // named by the environment, which the program prefers.
        let infra_binary = images::infra_binary()?;
        if let Some(dir) = program.parent() {
            images::place_beside(&infra_binary, dir)?;
        }
        start.env(images::INFRA_BINARY_ENV, &infra_binary);
    }
    println!(
        "\x1b[1m$ {} {}\x1b[0m",
        program.display(),
        options.args.join(" ")
    );
    exec(start).with_context(|| format!("could not start {}", program.display()))
}

/// The Cargo profile to build with: `--release` builds the desktop app as it ships (`dist`,
/// small code) and `kubariumd` at full speed.
fn profile(options: &Options) -> &'static str {
    match (options.release, options.headless) {
        (false, _) => "dev",
        (true, true) => "release",
        (true, false) => "dist",
    }
}

/// Docker is needed unless the program is told to use hollow nodes.
fn needs_docker(args: &[String]) -> bool {
    let hollow = args
        .windows(2)
        .any(|w| w[0] == "--runtime" && w[1] == "hollow")
        || args.iter().any(|a| a == "--runtime=hollow")
        || std::env::var("KUBARIUM_RUNTIME").is_ok_and(|r| r == "hollow");
    !hollow
}

/// The desktop app needs a display; say how to get one rather than let GTK abort.
fn check_display() -> anyhow::Result<()> {
    if !cfg!(target_os = "linux")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
    {
        return Ok(());
    }
    Err(Missing(
        "No display to open Kubarium's window on (neither DISPLAY nor WAYLAND_DISPLAY is set).\n\
         Run the cluster without a window: cargo xtask run --headless\n\
         or give the app a virtual display: xvfb-run -a cargo xtask run"
            .to_owned(),
    )
    .into())
}

/// Replaces this process with `command` (Unix), so signals reach the program directly.
fn exec(mut command: Command) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        Err(command.exec().into())
    }
    #[cfg(not(unix))]
    {
        let status = command.status()?;
        anyhow::ensure!(status.success(), "exited with {status}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hollow_runs_need_no_docker() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(needs_docker(&args(&[])));
        assert!(!needs_docker(&args(&["--runtime", "hollow"])));
        assert!(!needs_docker(&args(&["--nodes", "2", "--runtime=hollow"])));
        assert!(needs_docker(&args(&["--runtime", "docker"])));
    }
}
