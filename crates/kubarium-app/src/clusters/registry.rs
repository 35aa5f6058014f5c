//! The list of remote clusters, `<config dir>/clusters.json`, and their credentials in the
//! OS keychain: importing, adding, removing, and the kubeconfig a client is built from.
//!
//! **Architecture Invariant:** no credential (token, client key, password, exec plugin
//! environment value) is ever written to a file. The list keeps only the names of keychain
//! entries; without a keychain, clusters can be listed but not imported or added.
//! [`Registry::kubeconfig`] puts the secrets back together in memory only.
//!
//! Every method blocks (the keychain may wait on an unlock prompt): async callers use
//! `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use kubarium_keychain::Keychain;

use super::import::{self, Draft};
use super::record::{self, Credentials, Exec, ExecEnv, Record, SERVICE, SecretRef};
use crate::ipc::AppError;
use crate::ipc::clusters::{
    ClusterEntry, KeychainInfo, KubeconfigPreview, KubeconfigSource, ManualAuth, ManualCluster,
};
use crate::{Error, LOCAL, Result};

/// The file the list is kept in, inside the app's config dir.
const FILE: &str = "clusters.json";

/// The remote clusters, and the keychain holding their credentials.
pub struct Registry {
    path: PathBuf,
    keychain: Result<Keychain, String>,
    /// The list as last saved. Held only to read or swap it, never across a keychain call,
    /// so listing never waits on an unlock prompt.
    records: Mutex<Vec<Record>>,
    /// Held through a whole change of the list (import, add, remove), keychain calls
    /// included, so changes happen one at a time.
    changing: Mutex<()>,
    /// Where `KUBECONFIG` and `HOME` are read from: the process environment, or a test's.
    pub(super) env: Box<import::LookUp>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("path", &self.path)
            .field("keychain", &self.keychain)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// The list in `config_dir` (empty when there is none yet). `keychain` is the session's
    /// keychain, or why there is none: then listing works and import/add refuse.
    pub fn open(config_dir: &Path, keychain: Result<Keychain, String>) -> Result<Self> {
        let path = config_dir.join(FILE);
        let records = record::load(&path)?;
        match &keychain {
            Ok(keychain) => tracing::info!(
                store = keychain.store_name(),
                clusters = records.len(),
                "remote clusters' credentials are kept in the OS keychain"
            ),
            Err(reason) => tracing::warn!(
                %reason,
                clusters = records.len(),
                "no OS keychain: remote clusters can be listed but not imported or added"
            ),
        }
        Ok(Self {
            path,
            keychain,
            records: Mutex::new(records),
            changing: Mutex::new(()),
            env: Box::new(import::process_env),
        })
    }

    /// Which keychain keeps the credentials, or why there is none.
    pub fn keychain_info(&self) -> KeychainInfo {
        match &self.keychain {
            Ok(keychain) => KeychainInfo {
                store: Some(keychain.store_name().to_owned()),
                problem: None,
            },
            Err(reason) => KeychainInfo {
                store: None,
                problem: Some(AppError::from(Error::NoKeychain(reason.clone())).message),
            },
        }
    }

    /// The remote clusters, in the order they were added.
    pub fn entries(&self) -> Vec<ClusterEntry> {
        self.records().iter().map(Record::entry).collect()
    }

    /// What `source` holds: its contexts, each with whether it can be imported.
    pub fn preview(&self, source: &KubeconfigSource) -> Result<KubeconfigPreview> {
        let read = import::read(source, &*self.env)?;
        let listed: Vec<String> = self.records().iter().map(|r| r.name.clone()).collect();
        let contexts = read
            .config
            .contexts
            .iter()
            .map(|context| {
                let taken = listed.contains(&context.name);
                import::choice(&read, context, taken)
            })
            .collect();
        Ok(KubeconfigPreview {
            origin: read.origin.clone(),
            contexts,
            current_context: read.config.current_context.clone(),
        })
    }

    /// Imports `contexts` of `source`: their credentials into the keychain, the rest into
    /// the list. A context whose name is already listed replaces that cluster. Nothing is
    /// imported unless every context named can be.
    pub fn import(
        &self,
        source: &KubeconfigSource,
        contexts: &[String],
    ) -> Result<Vec<ClusterEntry>> {
        let keychain = self.keychain()?;
        let read = import::read(source, &*self.env)?;
        if contexts.is_empty() {
            return Err(Error::BadInput(
                "No context was chosen; tick the contexts to import.".to_owned(),
            ));
        }
        let drafts = contexts
            .iter()
            .map(|name| {
                let context = read
                    .config
                    .contexts
                    .iter()
                    .find(|context| &context.name == name)
                    .ok_or_else(|| {
                        Error::BadInput(format!(
                            "The kubeconfig {} has no context \"{name}\" (any more); read it again and pick from its contexts.",
                            read.origin
                        ))
                    })?;
                import::draft(&read, context).map_err(|problem| {
                    Error::BadInput(format!("Context \"{name}\" cannot be imported: {problem}."))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let _changing = self.changing();
        let mut records = self.records().clone();
        let mut imported = Vec::new();
        let mut stale = Vec::new();
        let mut written = Vec::new();
        for draft in drafts {
            let old = records.iter().position(|r| r.name == draft.record.name);
            let id = match old {
                Some(index) => records[index].id.clone(),
                None => record::unique_id(&draft.record.name, |id| {
                    id == LOCAL || records.iter().any(|r| r.id == id)
                }),
            };
            // On failure only a new cluster's entries are deleted: a replaced cluster's
            // record still names its own.
            let mut replaced = Vec::new();
            let log = if old.is_some() {
                &mut replaced
            } else {
                &mut written
            };
            let record = match keep_secrets(keychain, &id, draft, log) {
                Ok(record) => record,
                Err(error) => {
                    forget(keychain, &written);
                    return Err(error);
                }
            };
            match old {
                Some(index) => {
                    let before = std::mem::replace(&mut records[index], record.clone());
                    let now = record.accounts();
                    stale.extend(before.accounts().into_iter().filter(|a| !now.contains(a)));
                }
                None => records.push(record.clone()),
            }
            imported.push(record.entry());
        }
        if let Err(error) = record::save(&self.path, &records) {
            // The list on disk is unchanged, and so is the one in memory. A replaced
            // cluster keeps the new values of the secrets both versions have (the same
            // entries): the newer credentials, which is what was asked for.
            forget(keychain, &written);
            return Err(error);
        }
        *self.records() = records;
        forget(keychain, &stale);
        tracing::info!(
            clusters = ?imported.iter().map(|e| &e.id).collect::<Vec<_>>(),
            origin = %read.origin,
            "imported clusters from a kubeconfig"
        );
        Ok(imported)
    }

    /// Adds a cluster by hand. Its name must not be listed yet.
    pub fn add(&self, cluster: ManualCluster) -> Result<ClusterEntry> {
        let keychain = self.keychain()?;
        let draft = manual_draft(cluster)?;
        let _changing = self.changing();
        let mut records = self.records().clone();
        if records.iter().any(|r| r.name == draft.record.name) {
            return Err(Error::BadInput(format!(
                "A cluster named \"{}\" is already in the list; pick another name, or remove that one first.",
                draft.record.name
            )));
        }
        let id = record::unique_id(&draft.record.name, |id| {
            id == LOCAL || records.iter().any(|r| r.id == id)
        });
        let mut written = Vec::new();
        let record = match keep_secrets(keychain, &id, draft, &mut written) {
            Ok(record) => record,
            Err(error) => {
                forget(keychain, &written);
                return Err(error);
            }
        };
        records.push(record.clone());
        if let Err(error) = record::save(&self.path, &records) {
            forget(keychain, &written);
            return Err(error);
        }
        *self.records() = records;
        tracing::info!(cluster = %id, "added a cluster by hand");
        Ok(record.entry())
    }

    /// Removes cluster `id`: its keychain entries first, then its record (so a keychain
    /// that fails leaves it listed, to try again).
    pub fn remove(&self, id: &str) -> Result<()> {
        let _changing = self.changing();
        let mut records = self.records().clone();
        let index = records
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(|| Error::UnknownCluster(id.to_owned()))?;
        let keychain = self.keychain()?;
        for account in records[index].accounts() {
            keychain.delete(SERVICE, &account)?;
        }
        records.remove(index);
        record::save(&self.path, &records)?;
        *self.records() = records;
        tracing::info!(cluster = %id, "removed a cluster and its keychain entries");
        Ok(())
    }

    /// A kubeconfig with cluster `id` as its one context, credentials filled in from the
    /// keychain. In memory only: never write it to a file.
    pub fn kubeconfig(&self, id: &str) -> Result<kube::config::Kubeconfig> {
        let record = self
            .records()
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| Error::UnknownCluster(id.to_owned()))?;
        let keychain = self.keychain()?;
        record.kubeconfig(|account| {
            let secret = keychain.get(SERVICE, account)?.ok_or_else(|| {
                Error::BadInput(format!(
                    "The OS keychain has no entry \"{account}\" for cluster \"{}\" (it was deleted, or this is another keychain); remove the cluster and import it again.",
                    record.name
                ))
            })?;
            String::from_utf8(secret).map_err(|_| {
                Error::BadInput(format!(
                    "The OS keychain entry \"{account}\" of cluster \"{}\" is not text; remove the cluster and import it again.",
                    record.name
                ))
            })
        })
    }

    fn keychain(&self) -> Result<&Keychain> {
        self.keychain
            .as_ref()
            .map_err(|reason| Error::NoKeychain(reason.clone()))
    }

    fn records(&self) -> MutexGuard<'_, Vec<Record>> {
        // The list is only ever swapped whole, so a panic elsewhere cannot leave it half
        // changed.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changing(&self) -> MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Files `draft`'s secrets under `id`, noting each account written in `written`, and
/// returns its record pointing at them.
fn keep_secrets(
    keychain: &Keychain,
    id: &str,
    draft: Draft,
    written: &mut Vec<String>,
) -> Result<Record> {
    let Draft {
        mut record,
        secrets,
    } = draft;
    record.id = id.to_owned();
    for reference in record.secret_refs_mut() {
        reference.keychain = format!("{id}/{}", reference.keychain);
    }
    for (what, secret) in secrets {
        let account = format!("{id}/{what}");
        keychain.set(SERVICE, &account, &secret)?;
        written.push(account);
    }
    Ok(record)
}

/// Deletes keychain entries no record points at; a failure leaves an orphan entry, which
/// is logged (by account only) and harms nothing.
fn forget(keychain: &Keychain, accounts: &[String]) {
    for account in accounts {
        if let Err(error) = keychain.delete(SERVICE, account) {
            tracing::warn!(%account, %error, "could not delete a keychain entry no cluster uses");
        }
    }
}

/// A cluster added by hand as a draft, or which field is wrong and how.
fn manual_draft(cluster: ManualCluster) -> Result<Draft> {
    let bad = |message: String| Error::BadInput(message);
    let name = cluster.name.trim().to_owned();
    if name.is_empty() {
        return Err(bad(
            "The cluster has no name; give it the name to show in the cluster list.".to_owned(),
        ));
    }
    let server = cluster.server.trim().to_owned();
    import::check_server(&server).map_err(|problem| bad(format!("The server URL: {problem}.")))?;
    let certificate_authority = match cluster.certificate_authority.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Some(format!("{pem}\n")),
        Some(_) => {
            return Err(bad("The CA certificate is not PEM; paste it with its -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines.".to_owned()));
        }
    };
    let mut secrets = Vec::new();
    let mut keep = |what: &str, secret: String| {
        secrets.push((what.to_owned(), secret.into_bytes()));
        Some(SecretRef {
            keychain: what.to_owned(),
        })
    };
    let credentials = match cluster.auth {
        ManualAuth::Token { token } => {
            let token = token.trim().to_owned();
            if token.is_empty() {
                return Err(bad(
                    "The token is empty; paste the bearer token the cluster gave you.".to_owned(),
                ));
            }
            Credentials {
                token: keep("token", token),
                ..Credentials::default()
            }
        }
        ManualAuth::ClientCertificate { certificate, key } => {
            let certificate = certificate.trim();
            if !certificate.contains("-----BEGIN CERTIFICATE-----") {
                return Err(bad("The client certificate is not PEM; paste it with its -----BEGIN CERTIFICATE----- line.".to_owned()));
            }
            let key = key.trim();
            if !key.contains("-----BEGIN") || !key.contains("PRIVATE KEY-----") {
                return Err(bad("The client key is not a PEM private key; paste it with its -----BEGIN … PRIVATE KEY----- line.".to_owned()));
            }
            Credentials {
                client_certificate: Some(format!("{certificate}\n")),
                client_key: keep("client-key", format!("{key}\n")),
                ..Credentials::default()
            }
        }
        ManualAuth::Exec {
            command,
            args,
            env,
            api_version,
        } => {
            let command = command.trim().to_owned();
            if command.is_empty() {
                return Err(bad("The exec plugin has no command; give the program that prints the credential (e.g. aws, kubelogin).".to_owned()));
            }
            let api_version = match api_version.trim() {
                "" => "client.authentication.k8s.io/v1".to_owned(),
                v
                @ ("client.authentication.k8s.io/v1" | "client.authentication.k8s.io/v1beta1") => {
                    v.to_owned()
                }
                other => {
                    return Err(bad(format!(
                        "The exec plugin's API version \"{other}\" is not one Kubarium speaks; use client.authentication.k8s.io/v1 or …/v1beta1."
                    )));
                }
            };
            let mut vars: Vec<ExecEnv> = Vec::new();
            for var in env {
                let name = var.name.trim().to_owned();
                if name.is_empty() || name.contains('=') {
                    return Err(bad(format!(
                        "The exec plugin's environment variable \"{name}\" has no valid name; write each as NAME=value."
                    )));
                }
                vars.retain(|existing| existing.name != name);
                let value = if var.value.is_empty() {
                    None
                } else {
                    keep(&format!("exec-env/{name}"), var.value)
                };
                vars.push(ExecEnv { name, value });
            }
            Credentials {
                exec: Some(Exec {
                    command,
                    args,
                    env: vars,
                    api_version: Some(api_version),
                    install_hint: None,
                    // The desktop app has no terminal for a plugin to prompt in.
                    interactive_mode: Some(kube::config::ExecInteractiveMode::Never),
                    provide_cluster_info: false,
                }),
                ..Credentials::default()
            }
        }
    };
    Ok(Draft {
        record: Record {
            id: String::new(),
            name,
            server,
            certificate_authority,
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
            tls_server_name: None,
            proxy_url: None,
            namespace: None,
            credentials,
        },
        secrets,
    })
}
