//! `cargo xtask test`: every check CI runs, cheapest first.

use std::path::Path;

use crate::cmd::{self, command, on_path};
use crate::images;
use crate::setup::{self, Purpose};

/// Screenshots worth showing in the README, copied from `target/screenshots`.
const SHOWCASE: &[&str] = &[
    "overview.png",
    "map-node-stopped.png",
    "pods-light.png",
    "topology-light.png",
    "events-dark.png",
    "yaml-error.png",
];

pub(crate) fn test(update_screenshots: bool) -> anyhow::Result<()> {
    let root = crate::root();
    let ui = root.join("ui");
    setup::prepare(Purpose::Test, true)?;

    cmd::run(&mut command("cargo", &["fmt", "--all", "--check"], &root))?;
    for script in ["typecheck", "lint", "test", "build"] {
        cmd::run(&mut command("npm", &["run", "--silent", script], &ui))?;
    }
    cmd::run(&mut command(
        "cargo",
        &[
            "clippy",
            "--locked",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &root,
    ))?;
    // What the Docker scenarios run in containers; kubariumd finds the binary by the env.
    let infra_binary = images::infra_binary()?;
    images::busybox_image()?;
    // The end-to-end tests start these binaries; nextest builds only test targets.
    cmd::run(&mut command(
        "cargo",
        &[
            "build",
            "--locked",
            "-p",
            "kubarium-cluster",
            "-p",
            "kubarium-desktop",
            "--bins",
        ],
        &root,
    ))?;
    let screenshots = crate::target_dir().join("screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let mut nextest = if cfg!(target_os = "linux") && on_path("xvfb-run") {
        // One virtual display for the whole run; the window tests share it one at a time.
        command(
            "xvfb-run",
            &[
                "-a",
                "-s",
                "-screen 0 1280x800x24",
                "cargo",
                "nextest",
                "run",
                "--locked",
                "--workspace",
            ],
            &root,
        )
    } else {
        command(
            "cargo",
            &["nextest", "run", "--locked", "--workspace"],
            &root,
        )
    };
    nextest
        .args([
            "--profile",
            if std::env::var_os("CI").is_some() {
                "ci"
            } else {
                "default"
            },
        ])
        .env("KUBARIUM_BIN_DIR", crate::target_dir().join("debug"))
        .env(images::INFRA_BINARY_ENV, &infra_binary)
        .env("KUBARIUM_SCREENSHOTS", &screenshots)
        .env("TAURI_DRIVER", tauri_driver())
        .env("KUBARIUM_PYTHON", setup::python_venv().join("bin/python"));
    cmd::run(&mut nextest)?;
    publish_screenshots(
        &screenshots,
        &root.join("docs/screenshots"),
        update_screenshots,
    )?;
    fuzz(&root)
}

/// How long `cargo xtask test` fuzzes the request decoder.
const FUZZ_SECONDS: u32 = 60;

/// The request fuzzer (`fuzz/`) for a bounded time, seeded with the malformed-request
/// corpus the replay test checks; a panic or a 500 fails the run and leaves the input in
/// `fuzz/artifacts/requests/`.
fn fuzz(root: &Path) -> anyhow::Result<()> {
    let corpus = crate::target_dir().join("fuzz-corpus/requests");
    std::fs::create_dir_all(&corpus)?;
    let max_time = format!("-max_total_time={FUZZ_SECONDS}");
    let seeds = root.join("tests/corpus/requests");
    let mut fuzz = command(
        "cargo",
        &[
            "fuzz",
            "run",
            "--release",
            "--sanitizer",
            "none",
            "requests",
        ],
        root,
    );
    fuzz.arg(&corpus)
        .arg(&seeds)
        .args(["--", &max_time])
        // cargo-fuzz asks for nightly-only flags; the stable toolchain accepts them with
        // RUSTC_BOOTSTRAP, with no sanitizer in play.
        .env("RUSTC_BOOTSTRAP", "1");
    cmd::run(&mut fuzz)
}

/// `cargo xtask bindings`: rewrites ui/src/ipc/bindings from the Rust types.
pub(crate) fn bindings() -> anyhow::Result<()> {
    let mut test = command(
        "cargo",
        &[
            "test",
            "--locked",
            "-p",
            "kubarium-app",
            "--lib",
            "ui_bindings_are_current",
        ],
        &crate::root(),
    );
    test.env("KUBARIUM_UPDATE_BINDINGS", "1");
    cmd::run(&mut test)
}

/// The k8s-pb release the protobuf table is generated from.
const K8S_PB: &str = "0.9.0";

/// `cargo xtask protobuf-schema`: fetches k8s-pb's sources (a throwaway manifest in
/// `target/`), then runs the generator over them.
pub(crate) fn protobuf_schema() -> anyhow::Result<()> {
    let scratch = crate::target_dir().join("k8s-pb-fetch");
    std::fs::create_dir_all(scratch.join("src"))?;
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"k8s-pb-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n[dependencies]\nk8s-pb = \"={K8S_PB}\"\n"
        ),
    )?;
    std::fs::write(scratch.join("src/lib.rs"), "")?;
    cmd::run(&mut command(
        "cargo",
        &["fetch", "--manifest-path", "Cargo.toml"],
        &scratch,
    ))?;
    let registry = setup::cargo_bin_dir()
        .parent()
        .map(|home| home.join("registry/src"))
        .unwrap_or_default();
    let source = std::fs::read_dir(&registry)?
        .flatten()
        .map(|index| index.path().join(format!("k8s-pb-{K8S_PB}/src")))
        .find(|path| path.is_dir())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "k8s-pb {K8S_PB} sources not found under {}",
                registry.display()
            )
        })?;
    let mut test = command(
        "cargo",
        &[
            "test",
            "--locked",
            "-p",
            "kubarium-apiserver",
            "--lib",
            "regenerate_protobuf_schema",
            "--",
            "--ignored",
        ],
        &crate::root(),
    );
    test.env("K8S_PB_SRC", source);
    cmd::run(&mut test)
}

pub(crate) fn tauri_driver() -> std::path::PathBuf {
    cmd::find_on_path("tauri-driver").unwrap_or_else(|| setup::cargo_bin_dir().join("tauri-driver"))
}

/// Copies showcase screenshots into docs/ when asked, or when docs/ lacks them.
fn publish_screenshots(from: &Path, to: &Path, update: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for name in SHOWCASE {
        let source = from.join(name);
        let target = to.join(name);
        if source.is_file() && (update || !target.exists()) {
            std::fs::copy(&source, &target)?;
            println!("updated {}", target.display());
        }
    }
    println!("Screenshots of this run: {}", from.display());
    Ok(())
}
