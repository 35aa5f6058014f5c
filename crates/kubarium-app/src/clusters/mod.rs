//! Remote clusters next to the local one: the list of them and their credentials in the OS
//! keychain ([`Registry`]), read from kubeconfigs ([`import`]) and kept as references only
//! ([`record`]); connecting to them and telling why a connection fails ([`connect`]),
//! showing what their exec plugins ask of the user ([`prompt`]), tokens read from files
//! ([`token_file`]), their clients and status ([`remote`]), RBAC checks ([`access`]), and the local cluster's
//! kubeconfig for other tools ([`export`]).

mod access;
pub(crate) mod connect;
pub(crate) mod export;
mod import;
mod prompt;
mod record;
mod registry;
mod remote;
#[cfg(test)]
mod tests;
mod token_file;

pub use access::can_i;
pub(crate) use connect::{auth_failure, connect_failure, tls_failure};
pub use kubarium_keychain::Keychain;
pub(crate) use prompt::PromptDir;
pub use registry::Registry;
pub use remote::{ClusterSource, InMemoryClusters};
pub(crate) use remote::{Remote, Unlisted};
