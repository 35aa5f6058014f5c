//! The `kubarium` desktop binary: everything lives in the library so tests can drive it.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    kubarium_desktop::run()
}
