//! Helpers for Kubarium's end-to-end scenarios: start the real binaries, drive them with
//! real clients (kubectl, kube-rs, WebDriver), and clean up after.
//!
//! The binaries come from `KUBARIUM_BIN_DIR` (set by `cargo xtask test`) or, failing that,
//! from the target directory this test binary was built into.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// The scenarios drive Linux machinery (/proc, kill(1), Xvfb, WebKitWebDriver).
#![cfg(target_os = "linux")]

pub mod bench;
pub mod daemon;
pub mod desktop;
pub mod keyring;
pub mod requests;
pub mod webdriver;
pub mod x11;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The path of a workspace binary, failing with what to build if it is not there.
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("KUBARIUM_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // target/debug/deps/<test> → target/debug
            let exe = std::env::current_exe().unwrap();
            exe.parent().and_then(Path::parent).unwrap().to_owned()
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask test`, or build it first (`cargo build --bins`)",
        path.display()
    );
    path
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every kubectl to test against: the one on PATH, then the oldest one installed beside it
/// (these machines keep `kubectl.1.27` … next to `kubectl`).
pub fn kubectls() -> Vec<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("kubectl"))
                .find(|candidate| candidate.is_file())
        })
        .expect("kubectl is not on PATH: install kubectl 1.27 or newer");
    let mut found = vec![on_path.clone()];
    let dir = std::fs::canonicalize(&on_path)
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let minor = path
                .file_name()?
                .to_str()?
                .strip_prefix("kubectl.1.")?
                .parse()
                .ok()?;
            Some((minor, path))
        })
        .collect();
    versioned.sort();
    if let Some((_, oldest)) = versioned.into_iter().next() {
        found.push(oldest);
    }
    found
}

/// Runs kubectl against `kubeconfig`; stdout on success, a panic with stderr otherwise.
pub fn kubectl(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let output = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} {args:?} failed: {}",
        kubectl.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Polls `check` until it returns `Some`, or panics naming `what` after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `signal` (e.g. `TERM`) to `pid` with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Whether a process is still alive (and not a zombie).
pub fn process_alive(pid: u32) -> bool {
    stat_fields(pid)
        .and_then(|fields| fields.first().map(|state| state != "Z"))
        .unwrap_or(false)
}

/// The fields of `/proc/<pid>/stat` that follow the parenthesised command name, from the
/// state (field 3 in proc(5)'s numbering) on; `None` when there is no such process.
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The text of every log file under `dir/logs` whose name starts with `prefix`.
pub fn logs(dir: &Path, prefix: &str) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir.join("logs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_as_alive_with_its_cpu_time_and_a_missing_one_does_not() {
        let me = std::process::id();
        assert!(process_alive(me));
        let fields = stat_fields(me).unwrap();
        assert!(["R", "S"].contains(&fields[0].as_str()), "{fields:?}");
        bench::cpu_time(me).unwrap();
        // Above the kernel's pid_max: no such process.
        assert!(!process_alive(u32::MAX));
        assert!(bench::cpu_time(u32::MAX).is_err());
    }
}
