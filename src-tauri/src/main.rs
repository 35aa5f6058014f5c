//! The `kubarium` desktop binary: everything lives in the library so tests can drive it.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// The same allocator as `kubariumd`'s, for the cluster the app embeds.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kubarium_desktop::run()
}
