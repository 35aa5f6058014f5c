//! Kubarium's node agents: what the kubelet does, for many simulated nodes in one process.
//!
//! [`NodePool::start`] runs an agent for every managed node. An agent registers its Node
//! (labels, capacity, conditions, addresses, pod CIDR), renews its Lease in
//! `kube-node-lease`, and runs the pods bound to it in a [`ContainerRuntime`] — today the
//! hollow one, whose containers are simulated — reporting their status as the kubelet does.
//! Agents are API clients like any other: they see the cluster only through `kube::Client`.
//!
//! Nodes are controlled through the API ([`control`]), so kubectl, the app and
//! `kubariumd node …` share one path: a Node labelled `kubarium.dev/managed-node=true` gets
//! an agent, `kubarium.dev/agent: stopped` stops it, deleting the Node ends it.

pub mod control;
mod error;
mod host;
pub mod network;
pub mod node;
mod pod;
mod pool;
mod post;
pub mod runtime;
pub mod services;
mod status;

pub use error::{Error, Result};
pub use node::NodeCapacity;
pub use pool::{NodePool, PodStreams, PoolConfig, RuntimeKind, StreamError, delete_cluster};
pub use runtime::ContainerRuntime;
pub use services::{HollowPlane, ServiceProxy, ServicesConfig};
