//! Reading kubeconfigs as kubectl does, and turning one context into a [`Draft`]: the
//! record to keep and the secrets to hand to the keychain.
//!
//! `KUBECONFIG` lists files merged first-wins (a missing one is skipped, as kubectl does);
//! without it, `~/.kube/config`. File references (`certificate-authority`, `client-key`…)
//! are read now and inlined, relative ones against the kubeconfig's folder, so the cluster
//! keeps working when those files move — except `tokenFile`, kept as a path (absolute) and
//! read when connecting, because the token in it rotates. Pasted text has no folder, so a
//! relative reference in it is a problem of that context, not a guess.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kube::config::{AuthInfo, Kubeconfig, NamedContext};

use super::record::{Credentials, Exec, ExecEnv, Record, SecretRef};
use crate::ipc::clusters::{AuthKind, ContextChoice, KubeconfigSource};
use crate::{Error, Result};

/// A kubeconfig read from its source.
pub(super) struct Read {
    /// Where it came from, for messages.
    pub(super) origin: String,
    pub(super) config: Kubeconfig,
    /// True when it was text without a folder to resolve relative paths against.
    pub(super) from_text: bool,
}

/// One context, ready to keep: its record (no id yet; each [`SecretRef`] holds the
/// secret's short name) and its secrets by that name.
pub(super) struct Draft {
    pub(super) record: Record,
    pub(super) secrets: Vec<(String, Vec<u8>)>,
}

/// Looks up an environment variable: the process's, or one a test made up.
pub(super) type LookUp = dyn Fn(&str) -> Option<OsString> + Send + Sync;
/// Looks up an environment variable.
pub(super) type Env<'a> = &'a LookUp;

/// The process's environment.
pub(super) fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// Reads `source`: the text given, or the files kubectl would read (as `env` lists them).
pub(super) fn read(source: &KubeconfigSource, env: Env) -> Result<Read> {
    match source {
        KubeconfigSource::Text { text, origin } => {
            let config = Kubeconfig::from_yaml(text).map_err(|e| Error::Kubeconfig {
                origin: origin.clone(),
                reason: format!("{e}; check that it is a whole kubeconfig (YAML with clusters, users and contexts)"),
            })?;
            Ok(Read {
                origin: origin.clone(),
                config,
                from_text: true,
            })
        }
        KubeconfigSource::Default => read_default(env),
    }
}

/// The paths kubectl would read: `KUBECONFIG`'s, or `~/.kube/config`.
fn default_paths(env: Env) -> Result<(Vec<PathBuf>, bool)> {
    if let Some(value) = env("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|path| !path.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return Ok((paths, true));
        }
    }
    let home = env("HOME").ok_or_else(|| Error::Kubeconfig {
        origin: "~/.kube/config".to_owned(),
        reason: "HOME is not set, so there is no ~/.kube/config; paste the kubeconfig or pick its file instead".to_owned(),
    })?;
    Ok((vec![Path::new(&home).join(".kube").join("config")], false))
}

fn read_default(env: Env) -> Result<Read> {
    let (paths, from_env) = default_paths(env)?;
    let listed = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut merged: Option<Kubeconfig> = None;
    let mut read = Vec::new();
    for path in &paths {
        if !path.exists() {
            continue;
        }
        let origin = path.display().to_string();
        let config = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig {
            origin: origin.clone(),
            reason: format!("{e}; fix the file, or paste a kubeconfig instead"),
        })?;
        merged = Some(match merged {
            None => config,
            Some(first) => first.merge(config).map_err(|e| Error::Kubeconfig {
                origin: origin.clone(),
                reason: format!("it cannot be merged with the files before it: {e}"),
            })?,
        });
        read.push(origin);
    }
    let Some(config) = merged else {
        let reason = if from_env {
            "none of the files KUBECONFIG lists exists; check KUBECONFIG, or paste a kubeconfig instead"
        } else {
            "it does not exist; paste a kubeconfig or pick its file instead"
        };
        return Err(Error::Kubeconfig {
            origin: listed,
            reason: reason.to_owned(),
        });
    };
    Ok(Read {
        origin: read.join(", "),
        config,
        from_text: false,
    })
}

/// The import dialog's row for `context`; `taken` says whether a cluster of that name is
/// already in the list.
pub(super) fn choice(read: &Read, context: &NamedContext, taken: bool) -> ContextChoice {
    let inner = context.context.as_ref();
    let cluster = inner.map(|c| c.cluster.clone()).unwrap_or_default();
    let user = inner.and_then(|c| c.user.clone()).unwrap_or_default();
    let server = read
        .config
        .clusters
        .iter()
        .find(|named| named.name == cluster)
        .and_then(|named| named.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default();
    let auth = auth_info(&read.config, &user).map_or(AuthKind::None, auth_kind);
    ContextChoice {
        name: context.name.clone(),
        cluster,
        user,
        server,
        auth,
        namespace: inner.and_then(|c| c.namespace.clone()),
        already_imported: taken,
        problem: draft(read, context).err(),
    }
}

fn auth_info<'a>(config: &'a Kubeconfig, user: &str) -> Option<&'a AuthInfo> {
    config
        .auth_infos
        .iter()
        .find(|named| named.name == user)
        .and_then(|named| named.auth_info.as_ref())
}

fn auth_kind(auth: &AuthInfo) -> AuthKind {
    if auth.exec.is_some() {
        AuthKind::Exec
    } else if auth.client_certificate.is_some() || auth.client_certificate_data.is_some() {
        AuthKind::ClientCertificate
    } else if auth.token.is_some() || auth.token_file.is_some() {
        AuthKind::Token
    } else if auth.username.is_some() || auth.password.is_some() {
        AuthKind::Basic
    } else {
        AuthKind::None
    }
}

/// `context` as a record and its secrets, or why it cannot be imported (in words for the
/// dialog: what is wrong and what to do).
pub(super) fn draft(read: &Read, context: &NamedContext) -> Result<Draft, String> {
    let inner = context
        .context
        .as_ref()
        .ok_or("it names no cluster; add one to the context in the kubeconfig")?;
    let cluster = read
        .config
        .clusters
        .iter()
        .find(|named| named.name == inner.cluster)
        .and_then(|named| named.cluster.as_ref())
        .ok_or_else(|| format!("its cluster \"{}\" is not in the kubeconfig", inner.cluster))?;
    let server = cluster
        .server
        .clone()
        .filter(|server| !server.is_empty())
        .ok_or_else(|| format!("its cluster \"{}\" has no server URL", inner.cluster))?;
    check_server(&server)?;
    let certificate_authority = pem(
        read,
        "certificate authority",
        cluster.certificate_authority_data.as_deref(),
        cluster.certificate_authority.as_deref(),
    )?;
    let mut draft = Draft {
        record: Record {
            id: String::new(),
            name: context.name.clone(),
            server,
            certificate_authority,
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify.unwrap_or(false),
            tls_server_name: cluster.tls_server_name.clone(),
            proxy_url: cluster.proxy_url.clone(),
            namespace: inner.namespace.clone(),
            credentials: Credentials::default(),
        },
        secrets: Vec::new(),
    };
    let Some(user) = inner.user.as_deref().filter(|user| !user.is_empty()) else {
        return Ok(draft);
    };
    let auth = read
        .config
        .auth_infos
        .iter()
        .find(|named| named.name == user)
        .ok_or_else(|| format!("its user \"{user}\" is not in the kubeconfig"))?
        .auth_info
        .clone()
        .unwrap_or_default();
    draft.record.credentials = credentials(read, &auth, &mut draft.secrets)?;
    Ok(draft)
}

/// A server URL a client can dial: `https://host[:port]` (or `http://`).
pub(super) fn check_server(server: &str) -> Result<(), String> {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("its server URL \"{server}\" does not start with https://; write it as https://host:port")
        })?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!(
            "its server URL \"{server}\" has no host; write it as https://host:port"
        ));
    }
    Ok(())
}

fn credentials(
    read: &Read,
    auth: &AuthInfo,
    secrets: &mut Vec<(String, Vec<u8>)>,
) -> Result<Credentials, String> {
    if let Some(provider) = &auth.auth_provider {
        return Err(format!(
            "it authenticates with the \"{}\" auth provider, which Kubarium does not support (kubectl dropped it too); switch the user to its exec plugin (gke-gcloud-auth-plugin, kubelogin…) and import it again",
            provider.name
        ));
    }
    if auth.impersonate.is_some() || auth.impersonate_groups.is_some() {
        return Err(
            "it impersonates another user, which Kubarium does not support yet; import a context without impersonation".to_owned(),
        );
    }
    let mut keep = |what: &str, secret: Vec<u8>| {
        secrets.retain(|(name, _)| name != what);
        secrets.push((what.to_owned(), secret));
        Some(SecretRef {
            keychain: what.to_owned(),
        })
    };
    let mut credentials = Credentials::default();
    match (&auth.token, &auth.token_file) {
        (Some(token), _) => {
            let token = secrecy::ExposeSecret::expose_secret(token).trim();
            if !token.is_empty() {
                credentials.token = keep("token", token.as_bytes().to_vec());
            }
        }
        (None, Some(path)) => {
            // Kept as a path, read again as it changes (a rotating token); read now only to
            // tell a file that is not there.
            read_file(read, "token file", path)?;
            credentials.token_file = Some(path.clone());
        }
        (None, None) => {}
    }
    let certificate = pem(
        read,
        "client certificate",
        auth.client_certificate_data.as_deref(),
        auth.client_certificate.as_deref(),
    )?;
    let key = match (&auth.client_key_data, &auth.client_key) {
        (Some(data), _) => Some(decode(
            "client key",
            secrecy::ExposeSecret::expose_secret(data),
        )?),
        (None, Some(path)) => Some(read_file(read, "client key", path)?),
        (None, None) => None,
    };
    match (certificate, key) {
        (Some(certificate), Some(key)) => {
            credentials.client_certificate = Some(certificate);
            credentials.client_key = keep("client-key", key);
        }
        (Some(_), None) => {
            return Err("its user has a client certificate but no client key; add client-key-data and import it again".to_owned());
        }
        (None, Some(_)) => {
            return Err("its user has a client key but no client certificate; add client-certificate-data and import it again".to_owned());
        }
        (None, None) => {}
    }
    credentials.username = auth.username.clone();
    if let Some(password) = &auth.password {
        let password = secrecy::ExposeSecret::expose_secret(password);
        if !password.is_empty() {
            credentials.password = keep("password", password.as_bytes().to_vec());
        }
    }
    if let Some(exec) = &auth.exec {
        let command = exec
            .command
            .clone()
            .filter(|command| !command.is_empty())
            .ok_or("its exec plugin has no command; add one and import it again")?;
        if read.from_text && command.contains('/') && !Path::new(&command).is_absolute() {
            return Err(relative("exec plugin command", &command));
        }
        let mut env: Vec<ExecEnv> = Vec::new();
        for variable in exec.env.iter().flatten() {
            let (Some(name), value) = (variable.get("name"), variable.get("value")) else {
                return Err("an environment variable of its exec plugin has no name".to_owned());
            };
            let value = value.cloned().unwrap_or_default();
            // A later variable of the same name wins, as when the plugin runs.
            env.retain(|existing| existing.name != *name);
            env.push(ExecEnv {
                name: name.clone(),
                value: if value.is_empty() {
                    None
                } else {
                    keep(&format!("exec-env/{name}"), value.into_bytes())
                },
            });
        }
        credentials.exec = Some(Exec {
            command,
            args: exec.args.clone().unwrap_or_default(),
            env,
            api_version: exec.api_version.clone(),
            install_hint: exec.install_hint.clone(),
            interactive_mode: exec.interactive_mode.clone(),
            provide_cluster_info: exec.provide_cluster_info,
        });
    }
    Ok(credentials)
}

/// A PEM certificate from a `*-data` field (base64) or a file reference.
fn pem(
    read: &Read,
    what: &str,
    data: Option<&str>,
    file: Option<&str>,
) -> Result<Option<String>, String> {
    let bytes = match (data, file) {
        (Some(data), _) => decode(what, data)?,
        (None, Some(path)) => read_file(read, what, path)?,
        (None, None) => return Ok(None),
    };
    let text = String::from_utf8(bytes)
        .ok()
        .filter(|text| text.contains("-----BEGIN"))
        .ok_or_else(|| format!("its {what} is not a PEM certificate (-----BEGIN CERTIFICATE-----…); convert it to PEM and import it again"))?;
    Ok(Some(text))
}

fn decode(what: &str, data: &str) -> Result<Vec<u8>, String> {
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    BASE64
        .decode(compact)
        .map_err(|e| format!("its {what} data is not valid base64 ({e}); fix it in the kubeconfig"))
}

/// A file a kubeconfig refers to. Relative paths were resolved when the kubeconfig was
/// read from a file; text has no folder for them.
fn read_file(read: &Read, what: &str, path: &str) -> Result<Vec<u8>, String> {
    if read.from_text && !Path::new(path).is_absolute() {
        return Err(relative(what, path));
    }
    std::fs::read(path).map_err(|e| {
        format!("its {what} file {path} cannot be read ({e}); check that it exists and is readable")
    })
}

fn relative(what: &str, path: &str) -> String {
    format!(
        "it refers to its {what} by the relative path \"{path}\", and text has no folder to resolve it against; make the path absolute, or import the kubeconfig from KUBECONFIG or ~/.kube/config"
    )
}
