//! What the Kubarium desktop app does, without Tauri.
//!
//! The Tauri layer (`src-tauri`) is a set of one-line adapters into this crate, so every
//! behaviour here is tested with plain `cargo test`, no window needed. Types that cross to
//! the UI live in [`ipc`] and have TypeScript bindings generated from them.
//!
//! **API boundary:** the app reaches every cluster, the embedded one included, only through
//! `kube::Client` — never through the engine's internals — so local and remote clusters share
//! one code path.

pub mod actions;
mod app;
mod apply;
mod catalogue;
pub mod clusters;
mod error;
mod host;
pub mod ipc;
mod learn;
mod local;
mod probe;
mod retry;
mod rows;
pub mod streams;
pub mod watch;

pub use app::{App, LOCAL, Tasks};
pub use apply::{FIELD_MANAGER, apply_objects};
pub use catalogue::kinds;
pub use clusters::Registry;
pub use error::{Error, Result};
pub use learn::exec_run;
pub use local::LocalCluster;
pub use watch::{get_object, watch_object, watch_resources};
