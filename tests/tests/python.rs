//! The official Kubernetes Python client works against the cluster unchanged.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use kubarium_tests::daemon::Daemon;

#[test]
fn the_official_python_client_works() {
    let python = std::env::var_os("KUBARIUM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/python/bin/python")
        });
    assert!(
        python.is_file(),
        "{} is missing: `cargo xtask test` installs the Python client (tests/python/requirements.txt)",
        python.display()
    );
    let daemon = Daemon::start_on_free_port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/client.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(daemon.kubeconfig())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
}
