//! Pods on the real Docker engine (`kubariumd --runtime docker`): sandboxes, containers,
//! configuration, volumes, probes and the streaming subresources, checked through kube-rs
//! and kubectl as a user would see them — and through the desktop app's window
//! (`desktop`); Docker itself stopped and started under a cluster on an engine of the test's
//! own (`restart`, `engine`). One test binary (Docker tests are slow), one module per theme;
//! the images they use are built locally by `cargo xtask test`.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod app_learn;
mod app_streams;
mod config;
mod demo;
mod desktop;
mod dns;
mod engine;
mod infra;
mod memory;
mod plane;
mod pods;
mod portforward;
mod probes;
mod restart;
mod security;
mod services;
mod services_kernel;
mod streams;
mod support;
