//! `cargo xtask images`: what runs inside containers, built locally (nothing is pulled).
//!
//! - The static `kubarium-infra` binary (`crates/kubarium-infra`): built for the host triple
//!   with `+crt-static`, in its own `target/<triple>/` directory so the flag never touches
//!   the host builds. Its path reaches `kubariumd` as `KUBARIUM_INFRA_BINARY`; the node
//!   agents import it as `kubarium.dev/infra:<version>` when they first need it.
//! - `kubarium.dev/busybox:test`, the test suites' image: Debian's static busybox with its
//!   applet links, `docker import`ed. A label records the recipe, so a re-run does nothing
//!   unless the recipe changed.
//!
//! Both are quick to re-run: cargo's no-op build, one `docker image inspect`. When the
//! binary changes, the images the agents imported from an older one are removed, so the next
//! cluster imports the new one.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::Missing;
use crate::cmd::{self, command, output};

/// The test image's name, as the test suites use it.
pub(crate) const BUSYBOX_IMAGE: &str = "kubarium.dev/busybox:test";
/// Bumped whenever the busybox image's contents change, so old copies are rebuilt.
const BUSYBOX_RECIPE: &str = "1";
const RECIPE_LABEL: &str = "kubarium.dev/recipe";

/// The environment variable through which `kubariumd` finds the static infra binary.
pub(crate) const INFRA_BINARY_ENV: &str = "KUBARIUM_INFRA_BINARY";

/// `cargo xtask images`: both, then where they are.
pub(crate) fn images() -> anyhow::Result<()> {
    crate::setup::prepare(crate::setup::Purpose::Headless, true)?;
    let binary = infra_binary()?;
    busybox_image()?;
    println!("{INFRA_BINARY_ENV}={}", binary.display());
    println!("{BUSYBOX_IMAGE} is in Docker's image store");
    Ok(())
}

/// Builds the static `kubarium-infra` for the host and returns its path.
pub(crate) fn infra_binary() -> anyhow::Result<PathBuf> {
    if !cfg!(target_os = "linux") {
        return Err(Missing(
            "The in-container binary kubarium-infra is built static for Linux, which needs a Linux \
             host today. Pass `-- --runtime hollow` to run without containers."
                .to_owned(),
        )
        .into());
    }
    let root = crate::root();
    let triple = host_triple()?;
    let mut build = command(
        "cargo",
        &[
            "build",
            "--locked",
            "--release",
            "-p",
            "kubarium-infra",
            "--target",
            &triple,
        ],
        &root,
    );
    // Only this build gets the flag; `--target` keeps its artifacts apart from the host's.
    let flags = match std::env::var("RUSTFLAGS") {
        Ok(existing) if !existing.trim().is_empty() => {
            format!("{existing} -C target-feature=+crt-static")
        }
        _ => "-C target-feature=+crt-static".to_owned(),
    };
    build
        .env("RUSTFLAGS", flags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd::run(&mut build)?;
    let binary = crate::target_dir()
        .join(&triple)
        .join("release")
        .join("kubarium-infra");
    anyhow::ensure!(
        binary.is_file(),
        "the build left no binary at {}",
        binary.display()
    );
    let bytes = std::fs::read(&binary)?;
    anyhow::ensure!(
        is_static(&bytes),
        "{} is not statically linked; it could not run in an empty container",
        binary.display()
    );
    forget_stale_imports(&bytes)?;
    Ok(binary)
}

/// The node agents import `kubarium.dev/infra:<version>` (and `kubarium.dev/demo:<tag>`)
/// from the binary once and reuse them; when the binary has changed since, the imports are
/// removed so the next cluster imports the new one. An image a container still uses stays
/// (Docker refuses), and is tried again on the next run.
fn forget_stale_imports(binary: &[u8]) -> anyhow::Result<()> {
    let stamp_path = crate::target_dir().join("images/infra-binary.fnv");
    let digest = format!("{:016x}", fnv1a(binary));
    if std::fs::read_to_string(&stamp_path).is_ok_and(|stamp| stamp == digest) {
        return Ok(());
    }
    let listed = output(command(
        "docker",
        &[
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            "reference=kubarium.dev/infra",
            "--filter",
            "reference=kubarium.dev/demo",
        ],
        Path::new("/"),
    ));
    let Some(listed) = listed else {
        return Ok(()); // No engine to ask: nothing imported to forget.
    };
    let mut all_removed = true;
    for image in listed.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let removed = output(command("docker", &["image", "rm", image], Path::new("/")));
        if removed.is_some() {
            println!("Removed {image}, imported from an older kubarium-infra");
        } else {
            all_removed = false;
        }
    }
    if all_removed {
        if let Some(dir) = stamp_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&stamp_path, digest)?;
    }
    Ok(())
}

/// FNV-1a, 64 bits: enough to tell one build of the binary from another.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Copies the infra binary beside a program (e.g. `kubariumd`) in `dir`, unless an identical
/// copy is already there. Written by rename, so a concurrent reader never sees half a file.
pub(crate) fn place_beside(binary: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let target = dir.join("kubarium-infra");
    let wanted = std::fs::read(binary)?;
    if std::fs::read(&target).is_ok_and(|current| current == wanted) {
        return Ok(target);
    }
    let partial = dir.join(".kubarium-infra.partial");
    std::fs::write(&partial, &wanted)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::rename(&partial, &target)
        .with_context(|| format!("could not write {}", target.display()))?;
    Ok(target)
}

/// `rustc -vV`'s host triple.
fn host_triple() -> anyhow::Result<String> {
    let version = output(command("rustc", &["-vV"], Path::new(".")))
        .context("could not run `rustc -vV` to learn the host's target triple")?;
    version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` printed no host triple")
}

/// Builds [`BUSYBOX_IMAGE`] unless Docker already has it from the current recipe.
pub(crate) fn busybox_image() -> anyhow::Result<()> {
    let format = format!("{{{{index .Config.Labels \"{RECIPE_LABEL}\"}}}}");
    let current = output(command(
        "docker",
        &["image", "inspect", "-f", &format, BUSYBOX_IMAGE],
        Path::new("/"),
    ));
    if current.as_deref() == Some(BUSYBOX_RECIPE) {
        return Ok(());
    }
    let busybox = static_busybox()?;
    let work = crate::target_dir().join("images/busybox");
    let _ = std::fs::remove_dir_all(&work);
    let rootfs = work.join("rootfs");
    busybox_rootfs(&busybox, &rootfs)?;
    let tar = work.join("rootfs.tar");
    cmd::run(
        command(
            "tar",
            &["--numeric-owner", "--owner=0", "--group=0", "-C"],
            &work,
        )
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg("."),
    )?;
    let label = format!("LABEL {RECIPE_LABEL}={BUSYBOX_RECIPE}");
    cmd::run(
        command(
            "docker",
            &["import", "-c", "CMD [\"sh\"]", "-c", &label],
            &work,
        )
        .arg(&tar)
        .arg(BUSYBOX_IMAGE),
    )?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Debian's static busybox (package busybox-static), installing it if it is missing.
fn static_busybox() -> anyhow::Result<PathBuf> {
    let candidates = [Path::new("/bin/busybox"), Path::new("/usr/bin/busybox")];
    let found = |candidates: &[&Path]| {
        candidates
            .iter()
            .find(|path| std::fs::read(path).is_ok_and(|bytes| is_static(&bytes)))
            .map(|path| path.to_path_buf())
    };
    if let Some(path) = found(&candidates) {
        return Ok(path);
    }
    crate::setup::install_packages(&["busybox-static"])?;
    found(&candidates).ok_or_else(|| {
        Missing(
            "The test image kubarium.dev/busybox:test is made from a statically linked busybox, and \
             none is at /bin/busybox. On Debian or Ubuntu: sudo apt-get install -y busybox-static; \
             elsewhere install your distribution's static busybox there, then run the same cargo \
             xtask command again."
                .to_owned(),
        )
        .into()
    })
}

/// A root file system: busybox with a link per applet in /bin, the directories programs
/// expect, and root/nobody accounts so `id` and `runAsUser` read well.
fn busybox_rootfs(busybox: &Path, rootfs: &Path) -> anyhow::Result<()> {
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::fs::copy(busybox, bin.join("busybox"))?;
    let list =
        output(command(busybox, &["--list"], Path::new("/"))).context("`busybox --list` failed")?;
    for applet in list.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink("busybox", bin.join(applet))?;
    }
    for dir in [
        "etc", "root", "home", "var", "proc", "sys", "dev", "usr", "tmp",
    ] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    Ok(())
}

/// Whether `elf` is a 64-bit little-endian ELF executable without a program interpreter,
/// that is, one that runs in an otherwise empty container.
fn is_static(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return false;
    }
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(entsize), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..usize::from(count)).all(|i| {
        let at = phoff as usize + i * usize::from(entsize);
        elf.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .is_some_and(|kind| kind != PT_INTERP)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_executables_are_not_static() {
        // The test binary itself is dynamically linked (the host build has no crt-static).
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static(&me));
        assert!(!is_static(b"#!/bin/sh\n"));
        assert!(!is_static(&[]));
    }
}
