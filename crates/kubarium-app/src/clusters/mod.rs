//! Remote clusters next to the local one: the list of them and their credentials in the OS
//! keychain ([`Registry`]), read from kubeconfigs ([`import`]) and kept as references only
//! ([`record`]).

mod import;
mod record;
mod registry;
#[cfg(test)]
mod tests;

pub use kubarium_keychain::Keychain;
pub use registry::Registry;
