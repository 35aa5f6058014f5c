//! Whether WebKitGTK should composite with OpenGL.
//!
//! WebKitGTK draws through OpenGL by default ("accelerated compositing"). On a machine with
//! no GPU device — a VM, a CI runner, a remote desktop, Xvfb — Mesa falls back to llvmpipe,
//! software GL that loads LLVM into the web process and keeps GL buffers besides: measured
//! with 10,000 pods on the map, WebKit's processes held 565 MB that way and 358–378 MB with
//! compositing off, and software GL is no faster than WebKit's own CPU painting. So where no
//! GPU device exists the app turns compositing off, as `WEBKIT_DISABLE_COMPOSITING_MODE=1`
//! does; a value the user set for that variable is always left as it is.

use std::path::Path;

/// The variable WebKitGTK reads when it creates a web view.
const DISABLE_COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// Turns WebKit's compositing off when this machine has no GPU device. Call it first thing
/// in `main`, while the process has one thread (it sets an environment variable, which the
/// app's child processes inherit too: WebKitGTK's web process, and shells it starts).
#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "setting an environment variable while the process has one thread"
)]
pub(crate) fn disable_compositing_without_gpu() {
    let user_choice = std::env::var_os(DISABLE_COMPOSITING).is_some();
    if !user_choice && !has_gpu_device(Path::new("/dev")) {
        // SAFETY: called from `run` before the app starts any thread, so nothing reads the
        // environment concurrently.
        unsafe { std::env::set_var(DISABLE_COMPOSITING, "1") };
    }
}

/// WebKit composites through the platform's own renderer elsewhere.
#[cfg(not(target_os = "linux"))]
pub(crate) fn disable_compositing_without_gpu() {}

/// Whether `dev` holds a device hardware OpenGL can use: a DRM node (`dri/card*`,
/// `dri/renderD*`, what Mesa's drivers open) or NVIDIA's own (`nvidia0`, …). Without one,
/// Mesa can only render in software.
fn has_gpu_device(dev: &Path) -> bool {
    let any_named = |dir: &Path, prefixes: &[&str]| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                prefixes.iter().any(|p| name.starts_with(p))
            })
        })
    };
    any_named(&dev.join("dri"), &["card", "renderD"]) || any_named(dev, &["nvidia"])
}

#[cfg(test)]
mod tests {
    use super::has_gpu_device;

    #[test]
    fn a_drm_render_node_or_an_nvidia_device_counts_as_a_gpu() {
        let dev = tempfile::tempdir().unwrap();
        assert!(!has_gpu_device(dev.path()), "an empty /dev has no GPU");

        std::fs::create_dir(dev.path().join("dri")).unwrap();
        std::fs::write(dev.path().join("dri/by-path"), "").unwrap();
        assert!(
            !has_gpu_device(dev.path()),
            "dri/ without a card or render node"
        );

        std::fs::write(dev.path().join("dri/renderD128"), "").unwrap();
        assert!(has_gpu_device(dev.path()));

        let nvidia = tempfile::tempdir().unwrap();
        std::fs::write(nvidia.path().join("nvidia0"), "").unwrap();
        assert!(has_gpu_device(nvidia.path()));
    }
}
