//! Making this machine ready: system packages, Node.js and the UI's packages, cargo tools,
//! and a running Docker engine. Each step checks first and does nothing when all is there.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::Missing;
use crate::cmd::{self, command, on_path, output};

/// What the task at hand needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `kubariumd` alone: a Rust toolchain and Docker.
    Headless,
    /// The desktop app: also WebKitGTK and the UI toolchain.
    Desktop,
    /// Everything: also Xvfb, the WebDriver bridge, kubectl and test runners.
    Test,
}

/// Debian/Ubuntu packages per purpose. Docker's engine is handled apart: machines with
/// Docker CE must not get Debian's `docker.io` on top.
fn debian_packages(purpose: Purpose) -> Vec<&'static str> {
    // libdbus: kubariumd reaches the OS keychain (Secret Service) over D-Bus.
    let mut packages = vec!["build-essential", "pkg-config", "libdbus-1-dev"];
    if purpose != Purpose::Headless {
        packages.extend([
            "libwebkit2gtk-4.1-dev",
            "libayatana-appindicator3-dev",
            "librsvg2-dev",
            "libxdo-dev",
        ]);
    }
    if purpose == Purpose::Test {
        // gnome-keyring and dbus: a real Secret Service for the keychain scenario; keyutils:
        // `keyctl session`, a fresh session keyring for its kernel-keyring variant.
        // busybox-static: the test image kubarium.dev/busybox:test (see images.rs).
        packages.extend([
            "busybox-static",
            "xvfb",
            "webkit2gtk-driver",
            "xauth",
            "gnome-keyring",
            "dbus",
            "keyutils",
        ]);
    }
    packages
}

/// The oldest Node.js Vite 8 runs on.
const NODE_MIN: (u32, u32) = (20, 19);

/// Makes the machine ready for `purpose`. `docker`: whether a Docker engine is needed.
/// Installs what it can; everything it cannot is reported together, in one message.
pub(crate) fn prepare(purpose: Purpose, docker: bool) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    let packages_ok = collect(&mut missing, system_packages(purpose, docker))?;
    if docker && packages_ok {
        collect(&mut missing, docker_engine())?;
    }
    if purpose != Purpose::Headless && collect(&mut missing, node())? {
        ui_packages()?;
    }
    if purpose == Purpose::Test {
        cargo_tool("cargo-nextest", &["nextest", "--version"], "cargo-nextest")?;
        cargo_tool("tauri-driver", &[], "tauri-driver")?;
        cargo_tool("cargo-fuzz", &["fuzz", "--version"], "cargo-fuzz")?;
        collect(&mut missing, kubectl())?;
        collect(&mut missing, python_client())?;
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{}. {}", i + 1, m.0))
        .collect();
    Err(Missing(format!(
        "Kubarium cannot finish setting up this machine by itself:\n\n{}",
        list.join("\n\n")
    ))
    .into())
}

/// Keeps a [`Missing`] prerequisite for the final report; `Ok(true)` if the step succeeded.
/// Other errors (a failed install) stop set-up at once.
fn collect(missing: &mut Vec<Missing>, step: anyhow::Result<()>) -> anyhow::Result<bool> {
    match step {
        Ok(()) => Ok(true),
        Err(error) => match error.downcast::<Missing>() {
            Ok(m) => {
                missing.push(m);
                Ok(false)
            }
            Err(other) => Err(other),
        },
    }
}

// ---------------------------------------------------------------------------------------
// System packages

fn system_packages(purpose: Purpose, docker: bool) -> anyhow::Result<()> {
    if !cfg!(target_os = "linux") {
        return Ok(()); // macOS and Windows: the webview ships with the OS.
    }
    if !is_debian_like() {
        return other_linux(purpose);
    }
    let mut wanted = debian_packages(purpose);
    // Debian's engine only where no engine is installed at all (Docker CE has its own dockerd).
    if docker && !on_path("dockerd") && docker_ping().is_err() {
        wanted.push("docker.io");
    }
    let missing: Vec<&str> = wanted.into_iter().filter(|p| !dpkg_installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let privilege = privilege();
    if privilege == Privilege::None {
        return Err(Missing(cannot_install_message(&missing)).into());
    }
    println!("Installing missing system packages: {}", missing.join(" "));
    apt_install(privilege, &missing)
}

/// The message when packages are missing and we may not install them.
fn cannot_install_message(missing: &[&str]) -> String {
    format!(
        "Kubarium needs these system packages, which are not installed:\n    {list}\n\
         Installing them needs root, and this user is not root and has no password-less sudo.\n\
         Install them with:\n    sudo apt-get update && sudo apt-get install -y {list}\n\
         then run the same cargo xtask command again.",
        list = missing.join(" ")
    )
}

/// Installs Debian/Ubuntu `packages` that are missing (for what one task needs beyond its
/// purpose's list); names them with the command to run when it may not.
pub(crate) fn install_packages(packages: &[&str]) -> anyhow::Result<()> {
    if !is_debian_like() {
        return Ok(()); // The caller says what it is missing.
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let privilege = privilege();
    if privilege == Privilege::None {
        return Err(Missing(cannot_install_message(&missing)).into());
    }
    println!("Installing missing system packages: {}", missing.join(" "));
    apt_install(privilege, &missing)
}

fn apt_install(privilege: Privilege, packages: &[&str]) -> anyhow::Result<()> {
    let run = |args: &[&str]| {
        let mut apt = privileged(privilege, "apt-get", args);
        apt.env("DEBIAN_FRONTEND", "noninteractive");
        cmd::run(&mut apt)
    };
    run(&["update", "-q"])?;
    // Recommended packages too, as the tried recipe does: WebKitGTK renders with them.
    let mut args = vec!["install", "-y", "-q"];
    args.extend_from_slice(packages);
    run(&args)
}

/// `program args` as root: directly when we are root, through `sudo -n` (keeping the
/// environment we set) when we may.
fn privileged(privilege: Privilege, program: &str, args: &[&str]) -> std::process::Command {
    match privilege {
        Privilege::Root | Privilege::None => command(program, args, Path::new("/")),
        Privilege::Sudo => {
            let mut sudo = command(
                "sudo",
                &["-n", "--preserve-env=DEBIAN_FRONTEND", program],
                Path::new("/"),
            );
            sudo.args(args);
            sudo
        }
    }
}

fn dpkg_installed(package: &str) -> bool {
    output(command(
        "dpkg-query",
        &["-W", "-f=${Status}", package],
        Path::new("/"),
    ))
    .is_some_and(|status| status.ends_with(" installed"))
}

fn is_debian_like() -> bool {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let debian = release.lines().any(|line| {
        let Some((key, value)) = line.split_once('=') else {
            return false;
        };
        (key == "ID" || key == "ID_LIKE")
            && value
                .trim_matches('"')
                .split_whitespace()
                .any(|id| id == "debian" || id == "ubuntu")
    });
    debian && on_path("apt-get") && on_path("dpkg-query")
}

/// Linux without apt: check the libraries through pkg-config and name them if missing.
fn other_linux(purpose: Purpose) -> anyhow::Result<()> {
    if purpose == Purpose::Headless {
        return Ok(());
    }
    let libraries = ["webkit2gtk-4.1", "ayatana-appindicator3-0.1", "librsvg-2.0"];
    let missing: Vec<&str> = libraries
        .into_iter()
        .filter(|lib| output(command("pkg-config", &["--exists", lib], Path::new("/"))).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Missing(format!(
        "This is not a Debian or Ubuntu system, so Kubarium cannot install its prerequisites itself.\n\
         Missing development libraries (pkg-config names): {}\n\
         Install your distribution's packages for WebKitGTK 4.1, libayatana-appindicator3, librsvg2 and \
         libxdo (see https://v2.tauri.app/start/prerequisites/), then run the same cargo xtask command again.",
        missing.join(", ")
    ))
    .into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Privilege {
    Root,
    Sudo,
    None,
}

fn privilege() -> Privilege {
    if output(command("id", &["-u"], Path::new("/"))).as_deref() == Some("0") {
        Privilege::Root
    } else if on_path("sudo") && output(command("sudo", &["-n", "true"], Path::new("/"))).is_some()
    {
        Privilege::Sudo
    } else {
        Privilege::None
    }
}

// ---------------------------------------------------------------------------------------
// Docker

/// Where the engine's API socket is, from `DOCKER_HOST` or the default.
fn docker_socket() -> Option<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) => host.strip_prefix("unix://").map(PathBuf::from),
        Err(_) => Some(PathBuf::from("/var/run/docker.sock")),
    }
}

/// Asks the engine `GET /_ping`; `Ok` if it answered 200.
fn docker_ping() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let Some(socket) = docker_socket() else {
            return Ok(()); // A TCP DOCKER_HOST: trust it; bollard reports if it is wrong.
        };
        let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(std::io::Error::other(
                response.lines().next().unwrap_or_default().to_owned(),
            ))
        }
    }
    #[cfg(not(unix))]
    {
        Ok(())
    }
}

fn docker_engine() -> anyhow::Result<()> {
    let error = match docker_ping() {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    if error.kind() == std::io::ErrorKind::PermissionDenied {
        return Err(Missing(
            "Docker is running, but this user may not use it. Add yourself to the docker group:\n    \
             sudo usermod -aG docker $USER\nthen log out and in again (or pass `-- --runtime hollow` \
             to run without containers)."
                .to_owned(),
        )
        .into());
    }
    if !cfg!(target_os = "linux") || !on_path("dockerd") {
        return Err(Missing(format!(
            "No Docker engine answers ({error}). Start Docker Desktop (macOS, Windows) or install and \
             start Docker's engine, then run the same cargo xtask command again — or pass \
             `-- --runtime hollow` to run without containers."
        ))
        .into());
    }
    let privilege = privilege();
    if privilege == Privilege::None {
        return Err(Missing(
            "Docker's engine is installed but not running, and starting it needs root. Start it with:\n    \
             sudo systemctl start docker    (or: sudo dockerd &)\nthen run the same cargo xtask command again."
                .to_owned(),
        )
        .into());
    }
    println!("Starting the Docker engine…");
    if Path::new("/run/systemd/system").is_dir() {
        cmd::run(&mut privileged(
            privilege,
            "systemctl",
            &["start", "docker"],
        ))?;
    } else {
        spawn_dockerd(privilege)?;
    }
    wait_for_docker()
}

/// Starts `dockerd` in its own process group (so Ctrl+C in this terminal leaves it running),
/// logging to `target/dockerd.log`.
fn spawn_dockerd(privilege: Privilege) -> anyhow::Result<()> {
    let log_path = crate::target_dir().join("dockerd.log");
    std::fs::create_dir_all(crate::target_dir())?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("could not open {}", log_path.display()))?;
    let mut dockerd = privileged(privilege, "dockerd", &[]);
    dockerd
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut dockerd, 0);
    dockerd.spawn().context("could not start dockerd")?;
    Ok(())
}

fn wait_for_docker() -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match docker_ping() {
            Ok(()) => {
                println!("Docker engine is up.");
                return Ok(());
            }
            Err(error) if Instant::now() > deadline => {
                return Err(Missing(format!(
                    "Docker's engine did not come up within a minute ({error}). Its log is in \
                     target/dockerd.log (or `journalctl -u docker` where systemd runs it)."
                ))
                .into());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Node.js, the UI's packages, cargo tools, kubectl

fn node() -> anyhow::Result<()> {
    let version = output(command("node", &["--version"], Path::new(".")));
    let parsed = version.as_deref().and_then(parse_node_version);
    match parsed {
        Some(v) if v >= NODE_MIN && on_path("npm") => Ok(()),
        _ => Err(Missing(format!(
            "Kubarium's UI needs Node.js {}.{} or newer with npm (found: {}). Install it from \
             https://nodejs.org or with your package manager (e.g. NodeSource or nvm), then run the \
             same cargo xtask command again.",
            NODE_MIN.0,
            NODE_MIN.1,
            version.as_deref().unwrap_or("none")
        ))
        .into()),
    }
}

/// `v20.19.2` → `(20, 19)`.
fn parse_node_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// `npm ci` when `node_modules` is missing or older than the lock file.
fn ui_packages() -> anyhow::Result<()> {
    let ui = crate::root().join("ui");
    let installed = ui.join("node_modules/.package-lock.json");
    let fresh = match (
        modified(&installed),
        modified(&ui.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    cmd::run(&mut command("npm", &["ci", "--no-audit", "--no-fund"], &ui))
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Installs a cargo tool with `cargo install --locked` when `check` shows it missing.
fn cargo_tool(binary: &str, check: &[&str], krate: &str) -> anyhow::Result<()> {
    let present = if check.is_empty() {
        on_path(binary) || cargo_bin_dir().join(binary).is_file()
    } else {
        output(command("cargo", check, Path::new("."))).is_some()
    };
    if present {
        return Ok(());
    }
    cmd::run(&mut command(
        "cargo",
        &["install", "--locked", krate],
        Path::new("."),
    ))
}

/// Where `cargo install` puts binaries.
pub(crate) fn cargo_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
}

fn kubectl() -> anyhow::Result<()> {
    if on_path("kubectl") {
        return Ok(());
    }
    Err(Missing(
        "The end-to-end tests drive the cluster with kubectl, which is not on PATH. Install \
         kubectl 1.27 or newer (https://kubernetes.io/docs/tasks/tools/), then run `cargo xtask test` again."
            .to_owned(),
    )
    .into())
}

/// The official Kubernetes Python client in a virtualenv under `target/python`, for the
/// compatibility scenarios.
fn python_client() -> anyhow::Result<()> {
    let requirements = crate::root().join("tests/python/requirements.txt");
    let venv = python_venv();
    let marker = venv.join("installed-requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)?;
    if std::fs::read_to_string(&marker).is_ok_and(|done| done == wanted) {
        return Ok(());
    }
    if !on_path("python3") {
        return Err(Missing(
            "The compatibility tests run the official Kubernetes Python client, which needs Python 3 \
             (with venv). Install python3 and python3-venv, then run `cargo xtask test` again."
                .to_owned(),
        )
        .into());
    }
    let venv_arg = venv.to_string_lossy().into_owned();
    cmd::run(&mut command(
        "python3",
        &["-m", "venv", &venv_arg],
        &crate::root(),
    ))?;
    let pip = venv.join("bin/pip");
    let requirements_arg = requirements.to_string_lossy().into_owned();
    cmd::run(&mut command(
        &pip,
        &[
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            &requirements_arg,
        ],
        &crate::root(),
    ))?;
    std::fs::write(marker, wanted)?;
    Ok(())
}

/// Where the Python virtualenv for the tests lives.
pub(crate) fn python_venv() -> PathBuf {
    crate::target_dir().join("python")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions() {
        assert_eq!(parse_node_version("v20.19.2\n"), Some((20, 19)));
        assert_eq!(parse_node_version("v22.1.0"), Some((22, 1)));
        assert_eq!(parse_node_version("garbage"), None);
        assert!((20, 20) >= NODE_MIN && (18, 30) < NODE_MIN);
    }

    #[test]
    fn every_missing_prerequisite_is_reported_at_once() {
        let mut missing = Vec::new();
        assert!(!collect(&mut missing, Err(Missing("no node".into()).into())).unwrap());
        assert!(collect(&mut missing, Ok(())).unwrap());
        assert!(!collect(&mut missing, Err(Missing("no kubectl".into()).into())).unwrap());
        assert!(collect(&mut missing, Err(anyhow::anyhow!("apt failed"))).is_err());
        assert_eq!(missing.len(), 2);
    }

    #[test]
    fn the_no_root_message_names_packages_and_the_command() {
        let message = cannot_install_message(&["libwebkit2gtk-4.1-dev", "xvfb"]);
        assert!(
            message.contains("sudo apt-get install -y libwebkit2gtk-4.1-dev xvfb"),
            "{message}"
        );
        assert!(!message.contains("panicked"));
    }

    #[test]
    fn purposes_add_up() {
        let headless = debian_packages(Purpose::Headless);
        let desktop = debian_packages(Purpose::Desktop);
        let test = debian_packages(Purpose::Test);
        assert!(headless.iter().all(|p| desktop.contains(p)));
        assert!(desktop.iter().all(|p| test.contains(p)));
        assert!(!headless.contains(&"libwebkit2gtk-4.1-dev"));
        assert!(test.contains(&"webkit2gtk-driver"));
    }
}
