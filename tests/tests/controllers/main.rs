//! The control loops against `kubariumd --runtime hollow`: scheduling, workloads, endpoints,
//! garbage collection, namespaces, volumes, node lifecycle and the shared informers,
//! checked through kube-rs and kubectl as a user would see them. One test binary, one
//! module per theme.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod cluster;
mod daemonset;
mod deployment;
mod disruption;
mod endpoints;
mod garbage;
mod informers;
mod job;
mod nodes;
mod probes;
mod scheduler;
mod statefulset;
