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

/// Writes `config` to `path` (0600, atomically). Replaces an existing file only when it is
/// empty or holds nothing but Kubarium's own context: pointing `--kubeconfig` at
/// `~/.kube/config` by mistake must not wipe a user's clusters, and a file we cannot read or
/// parse is not ours to judge.
pub fn write(path: &Path, config: &Kubeconfig) -> Result<()> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Io {
                path: path.to_owned(),
                source,
            });
        }
        Ok(text) if text.trim().is_empty() => {}
        Ok(text) => {
            let contexts = match Kubeconfig::from_yaml(&text) {
                Ok(existing) => existing
                    .contexts
                    .into_iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>(),
                Err(_) => vec!["(not a kubeconfig Kubarium can read)".to_owned()],
            };
            let foreign: Vec<String> = contexts
                .into_iter()
                .filter(|name| name != CONTEXT)
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

/// A kubectl command line using the kubeconfig at `path`, quoted for a POSIX shell where
/// needed so it can be pasted as is.
pub fn kubectl_command(path: &Path, args: &str) -> String {
    let path = path.display().to_string();
    let plain = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%,".contains(c));
    let quoted = if plain {
        path
    } else {
        format!("'{}'", path.replace('\'', r"'\''"))
    };
    format!("kubectl --kubeconfig {quoted} {args}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_lines_paste_as_one_argument() {
        assert_eq!(
            kubectl_command(
                Path::new("/home/ada/.local/share/kubarium/kubeconfig"),
                "version"
            ),
            "kubectl --kubeconfig /home/ada/.local/share/kubarium/kubeconfig version"
        );
        assert_eq!(
            kubectl_command(Path::new("/Users/Ada L/it's/kubeconfig"), "get pods"),
            r"kubectl --kubeconfig '/Users/Ada L/it'\''s/kubeconfig' get pods"
        );
    }

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
    fn refuses_to_replace_what_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "this: [is not a kubeconfig").unwrap();
        let err = write(&path, &for_cluster("https://127.0.0.1:6443", "PEM", "t")).unwrap_err();
        assert!(matches!(err, Error::ForeignKubeconfig { .. }), "{err}");
        std::fs::write(&path, "").unwrap();
        write(&path, &for_cluster("https://127.0.0.1:6443", "PEM", "t")).unwrap();
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
