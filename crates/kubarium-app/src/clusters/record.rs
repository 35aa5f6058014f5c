//! What `clusters.json` keeps of each remote cluster: everything public (server, CA
//! certificate, client certificate, exec plugin command line, token file path) and, for each secret, only the
//! name of its OS keychain entry. The file is replaced atomically (temp file + rename) with
//! mode 0600, so a crash leaves the old list or the new one, never half of either.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kube::config::{
    AuthInfo, Cluster, Context, ExecConfig, ExecInteractiveMode, Kubeconfig, NamedAuthInfo,
    NamedCluster, NamedContext,
};
use serde::{Deserialize, Serialize};

use crate::ipc::clusters::{AuthKind, ClusterEntry};
use crate::{Error, Result};

/// The keychain service every remote cluster's secrets are filed under.
pub(crate) const SERVICE: &str = "dev.kubarium.remote";

/// The file's shape; `version` lets a later Kubarium read an older list.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct ClusterList {
    pub(super) version: u32,
    pub(super) clusters: Vec<Record>,
}

/// One remote cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Record {
    /// Slug of the name, unique; the keychain accounts start with it.
    pub(super) id: String,
    pub(super) name: String,
    pub(super) server: String,
    /// PEM; `None` trusts the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) certificate_authority: Option<String>,
    #[serde(default)]
    pub(super) insecure_skip_tls_verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) tls_server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) proxy_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) namespace: Option<String>,
    pub(super) credentials: Credentials,
}

/// How the client authenticates. A kubeconfig user may combine these (a token with a
/// client certificate), so each part is optional, as in kubeconfig.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Credentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) token: Option<SecretRef>,
    /// The absolute path of a file holding the token (`tokenFile`), read when the client is
    /// built and again as the file changes; the token itself is never kept here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) token_file: Option<String>,
    /// PEM (public).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) client_certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) client_key: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) password: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) exec: Option<Exec>,
}

/// An exec credential plugin: its command line is kept, its environment's values are not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Exec {
    pub(super) command: String,
    #[serde(default)]
    pub(super) args: Vec<String>,
    #[serde(default)]
    pub(super) env: Vec<ExecEnv>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) install_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) interactive_mode: Option<ExecInteractiveMode>,
    #[serde(default)]
    pub(super) provide_cluster_info: bool,
}

/// One variable of an exec plugin's environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ExecEnv {
    pub(super) name: String,
    /// `None` for an empty value (nothing to hide, and keyutils cannot hold it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) value: Option<SecretRef>,
}

/// Where a secret is: the account of its entry under [`SERVICE`] in the OS keychain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SecretRef {
    pub(super) keychain: String,
}

impl Record {
    /// The switcher's view of it.
    pub(super) fn entry(&self) -> ClusterEntry {
        ClusterEntry {
            id: self.id.clone(),
            name: self.name.clone(),
            local: false,
            server: self.server.clone(),
            auth: self.credentials.kind(),
            namespace: self.namespace.clone(),
        }
    }

    /// Every keychain reference it holds, to rename or delete them together.
    pub(super) fn secret_refs_mut(&mut self) -> Vec<&mut SecretRef> {
        let credentials = &mut self.credentials;
        let mut refs: Vec<&mut SecretRef> = [
            credentials.token.as_mut(),
            credentials.client_key.as_mut(),
            credentials.password.as_mut(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(exec) = credentials.exec.as_mut() {
            refs.extend(exec.env.iter_mut().filter_map(|env| env.value.as_mut()));
        }
        refs
    }

    /// The keychain accounts of its secrets.
    pub(super) fn accounts(&self) -> Vec<String> {
        self.clone()
            .secret_refs_mut()
            .into_iter()
            .map(|secret| secret.keychain.clone())
            .collect()
    }

    /// A one-context kubeconfig for it, `secret(account)` supplying each secret. Its
    /// cluster, user and context are all named after the cluster, which is also current.
    pub(super) fn kubeconfig(
        &self,
        mut secret: impl FnMut(&str) -> Result<String>,
    ) -> Result<Kubeconfig> {
        let credentials = &self.credentials;
        let exec = match &credentials.exec {
            Some(exec) => Some(ExecConfig {
                api_version: exec.api_version.clone(),
                command: Some(exec.command.clone()),
                args: Some(exec.args.clone()),
                env: Some(
                    exec.env
                        .iter()
                        .map(|env| {
                            let value = match &env.value {
                                Some(reference) => secret(&reference.keychain)?,
                                None => String::new(),
                            };
                            Ok(HashMap::from([
                                ("name".to_owned(), env.name.clone()),
                                ("value".to_owned(), value),
                            ]))
                        })
                        .collect::<Result<_>>()?,
                ),
                install_hint: exec.install_hint.clone(),
                interactive_mode: exec.interactive_mode.clone(),
                provide_cluster_info: exec.provide_cluster_info,
                ..ExecConfig::default()
            }),
            None => None,
        };
        let auth_info = AuthInfo {
            username: credentials.username.clone(),
            password: match &credentials.password {
                Some(reference) => Some(secret(&reference.keychain)?.into()),
                None => None,
            },
            token: match &credentials.token {
                Some(reference) => Some(secret(&reference.keychain)?.into()),
                None => None,
            },
            token_file: credentials.token_file.clone(),
            client_certificate_data: credentials
                .client_certificate
                .as_ref()
                .map(|pem| BASE64.encode(pem)),
            client_key_data: match &credentials.client_key {
                Some(reference) => Some(BASE64.encode(secret(&reference.keychain)?).into()),
                None => None,
            },
            exec,
            ..AuthInfo::default()
        };
        let cluster = Cluster {
            server: Some(self.server.clone()),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify.then_some(true),
            certificate_authority_data: self
                .certificate_authority
                .as_ref()
                .map(|pem| BASE64.encode(pem)),
            proxy_url: self.proxy_url.clone(),
            tls_server_name: self.tls_server_name.clone(),
            ..Cluster::default()
        };
        let name = self.name.clone();
        Ok(Kubeconfig {
            clusters: vec![NamedCluster {
                name: name.clone(),
                cluster: Some(cluster),
                ..NamedCluster::default()
            }],
            auth_infos: vec![NamedAuthInfo {
                name: name.clone(),
                auth_info: Some(auth_info),
                ..NamedAuthInfo::default()
            }],
            contexts: vec![NamedContext {
                name: name.clone(),
                context: Some(Context {
                    cluster: name.clone(),
                    user: Some(name.clone()),
                    namespace: self.namespace.clone(),
                    ..Context::default()
                }),
                ..NamedContext::default()
            }],
            current_context: Some(name),
            api_version: Some("v1".to_owned()),
            kind: Some("Config".to_owned()),
            ..Kubeconfig::default()
        })
    }
}

impl Credentials {
    /// The one way the switcher names, the strongest first (an exec plugin or client
    /// certificate decides who the user is even when a token is there too).
    pub(super) fn kind(&self) -> AuthKind {
        if self.exec.is_some() {
            AuthKind::Exec
        } else if self.client_certificate.is_some() {
            AuthKind::ClientCertificate
        } else if self.token.is_some() || self.token_file.is_some() {
            AuthKind::Token
        } else if self.username.is_some() || self.password.is_some() {
            AuthKind::Basic
        } else {
            AuthKind::None
        }
    }
}

/// The list in `path`; none there is an empty list.
pub(super) fn load(path: &Path) -> Result<Vec<Record>> {
    let failed = |reason: String| Error::ClusterList {
        path: path.to_owned(),
        action: "read",
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(failed(error.to_string())),
    };
    let list: ClusterList = serde_json::from_str(&text).map_err(|error| {
        failed(format!(
            "{error}; fix the file, or move it away to start with no remote clusters"
        ))
    })?;
    Ok(list.clusters)
}

/// Replaces the list in `path`: a 0600 temp file beside it, synced, then renamed over it.
pub(super) fn save(path: &Path, records: &[Record]) -> Result<()> {
    let failed = |reason: String| Error::ClusterList {
        path: path.to_owned(),
        action: "written",
        reason,
    };
    let list = ClusterList {
        version: 1,
        clusters: records.to_vec(),
    };
    let json = serde_json::to_vec_pretty(&list).map_err(|e| failed(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
    }
    let temp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        failed(e.to_string())
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    path.with_file_name(name)
}

/// A slug of `name` (lowercase letters, digits and single dashes) that `taken` does not
/// hold: `name`, `name-2`, `name-3`…
pub(super) fn unique_id(name: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(60);
    let slug = match slug.trim_end_matches('-') {
        "" => "cluster".to_owned(),
        trimmed => trimmed.to_owned(),
    };
    if !taken(&slug) {
        return slug;
    }
    (2..)
        .map(|n| format!("{slug}-{n}"))
        .find(|id| !taken(id))
        .unwrap_or(slug)
}
