//! The kubeconfig a local cluster writes for kubectl and other clients.
//!
//! Built with kube-rs's `Kubeconfig` types and serialised as YAML, so what kubectl reads is
//! exactly what kube-rs itself would parse. The file is written 0600: it holds the admin token.

use std::path::Path;

use base64::Engine as _;
use kube::config::{
    AuthInfo, Cluster as KubeconfigCluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use secrecy::SecretString;

use crate::datadir::write_private;
use crate::{Error, Result};

/// The name of the cluster, user and context entries this kubeconfig holds.
pub const CONTEXT: &str = "kubarium";
const USER: &str = "kubarium-admin";

/// A kubeconfig with one context pointing at `server_url`, trusting `ca_pem`, using `token`.
pub fn for_cluster(server_url: &str, ca_pem: &str, token: &str) -> Kubeconfig {
    Kubeconfig {
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        clusters: vec![NamedCluster {
            name: CONTEXT.to_owned(),
            cluster: Some(KubeconfigCluster {
                server: Some(server_url.to_owned()),
                certificate_authority_data: Some(
                    base64::engine::general_purpose::STANDARD.encode(ca_pem),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: USER.to_owned(),
            auth_info: Some(AuthInfo {
                token: Some(SecretString::from(token.to_owned())),
                ..Default::default()
            }),
            ..Default::default()
        }],
        contexts: vec![NamedContext {
            name: CONTEXT.to_owned(),
            context: Some(Context {
                cluster: CONTEXT.to_owned(),
                user: Some(USER.to_owned()),
                namespace: Some("default".to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        current_context: Some(CONTEXT.to_owned()),
        ..Default::default()
    }
}

/// Writes `config` to `path` (0600, atomically). Refuses to replace a file that holds any
/// context other than Kubarium's own: pointing `--kubeconfig` at `~/.kube/config` by mistake
/// must not wipe a user's clusters.
pub fn write(path: &Path, config: &Kubeconfig) -> Result<()> {
    if path.exists() {
        // An unreadable or empty file is ours to replace; one with foreign contexts is not.
        if let Ok(existing) = Kubeconfig::read_from(path) {
            let foreign: Vec<_> = existing
                .contexts
                .iter()
                .map(|c| c.name.as_str())
                .filter(|name| *name != CONTEXT)
                .collect();
            if !foreign.is_empty() {
                return Err(Error::ForeignKubeconfig {
                    path: path.to_owned(),
                    contexts: foreign.join(", "),
                });
            }
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    let yaml = serde_saphyr::to_string(config).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    write_private(path, yaml.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_kube_rs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        let config = for_cluster("https://127.0.0.1:6443", "PEM", "tok");
        write(&path, &config).unwrap();
        let read = Kubeconfig::read_from(&path).unwrap();
        assert_eq!(read.current_context.as_deref(), Some(CONTEXT));
        assert_eq!(
            read.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
            Some("https://127.0.0.1:6443")
        );
        // Rewriting our own file is fine.
        write(&path, &config).unwrap();
    }

    #[test]
    fn refuses_to_clobber_someone_elses_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let mut theirs = for_cluster("https://prod:443", "PEM", "tok");
        theirs.contexts[0].name = "prod".to_owned();
        write(&path, &theirs).unwrap();
        let err = write(&path, &for_cluster("https://127.0.0.1:6443", "PEM", "t")).unwrap_err();
        assert!(
            err.to_string()
                .contains("already holds other contexts (prod)"),
            "{err}"
        );
        assert!(Kubeconfig::read_from(&path).unwrap().contexts[0].name == "prod");
    }
}
