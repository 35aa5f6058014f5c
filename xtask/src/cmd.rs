//! Running commands: echo them, run them, fail with the command line in the message.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// A command to run from `dir`, echoed before it runs.
pub(crate) fn command(program: impl AsRef<OsStr>, args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    command
}

/// `cargo build --locked --profile <profile>` of each `(package, binary)`, from `root`;
/// returns the directory the binaries are in.
pub(crate) fn cargo_build(
    root: &Path,
    profile: &str,
    binaries: &[(&str, &str)],
) -> anyhow::Result<PathBuf> {
    let mut cargo = command("cargo", &["build", "--locked", "--profile", profile], root);
    for (package, binary) in binaries {
        cargo.args(["-p", package, "--bin", binary]);
    }
    run(&mut cargo)?;
    // Cargo writes the `dev` profile's output to `debug/`, every other to its own name.
    let dir = if profile == "dev" { "debug" } else { profile };
    Ok(crate::target_dir().join(dir))
}

/// Runs `command`, inheriting stdio; fails unless it exits 0.
pub(crate) fn run(command: &mut Command) -> anyhow::Result<()> {
    let line = describe(command);
    println!("\x1b[1m$ {line}\x1b[0m");
    let status = command
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `command` quietly; its trimmed stdout if it exits 0, `None` otherwise or if it
/// cannot start.
pub(crate) fn output(mut command: Command) -> Option<String> {
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Whether `program` is on PATH.
pub(crate) fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// Where `program` is on PATH.
pub(crate) fn find_on_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
