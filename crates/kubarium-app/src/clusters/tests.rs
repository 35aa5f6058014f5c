//! The registry against an in-memory keychain: what reaches the keychain, what reaches
//! `clusters.json`, and the kubeconfig put back together.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::ExposeSecret;

use super::Registry;
use super::record::{self, SERVICE};
use crate::Error;
use crate::ipc::clusters::{AuthKind, EnvVar};
use crate::ipc::clusters::{KubeconfigSource, ManualAuth, ManualCluster};
use kubarium_keychain::Keychain;

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBcA==\n-----END CERTIFICATE-----\n";
const CERT: &str = "-----BEGIN CERTIFICATE-----\nY2xpZW50\n-----END CERTIFICATE-----\n";
const KEY: &str =
    "-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0LWtleS05MTc=\n-----END EC PRIVATE KEY-----\n";
const TOKEN: &str = "token-secret-4411";

fn b64(text: &str) -> String {
    BASE64.encode(text)
}

/// A kubeconfig with a token user, a client-certificate user, an exec user and an
/// auth-provider user, one context each.
fn kubeconfig_text() -> String {
    format!(
        r#"apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://prod.example:6443
    certificate-authority-data: {ca}
    tls-server-name: api.prod
- name: dev-cluster
  cluster:
    server: https://dev.example:6443
    insecure-skip-tls-verify: true
users:
- name: prod-user
  user:
    token: {TOKEN}
- name: dev-user
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
- name: cloud-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: cloud-auth
      args: [token, --cluster, dev]
      env:
      - name: CLOUD_SECRET
        value: env-secret-778
      - name: EMPTY
        value: ""
      installHint: install cloud-auth from example.com
      interactiveMode: Never
      provideClusterInfo: true
- name: gcp-user
  user:
    auth-provider:
      name: gcp
      config: {{}}
contexts:
- name: prod
  context: {{cluster: prod-cluster, user: prod-user, namespace: shop}}
- name: Dev Box
  context: {{cluster: dev-cluster, user: dev-user}}
- name: cloud
  context: {{cluster: dev-cluster, user: cloud-user}}
- name: old-gke
  context: {{cluster: dev-cluster, user: gcp-user}}
"#,
        ca = b64(CA),
        cert = b64(CERT),
        key = b64(KEY),
    )
}

fn text(text: String) -> KubeconfigSource {
    KubeconfigSource::Text {
        text,
        origin: "pasted text".to_owned(),
    }
}

fn registry(dir: &Path, keychain: &Keychain) -> Registry {
    Registry::open(dir, Ok(keychain.clone())).unwrap()
}

fn secret(keychain: &Keychain, account: &str) -> Option<String> {
    keychain
        .get(SERVICE, account)
        .unwrap()
        .map(|bytes| String::from_utf8(bytes).unwrap())
}

/// Every file under `dir`, read whole.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn assert_no_file_contains(dir: &Path, needle: &str) {
    for (path, bytes) in files(dir) {
        assert!(
            !bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes()),
            "{path} holds {needle:?}"
        );
    }
}

#[test]
fn the_preview_lists_every_context_with_its_problem() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path(), &Keychain::in_memory());
    let preview = registry.preview(&text(kubeconfig_text())).unwrap();
    assert_eq!(preview.origin, "pasted text");
    assert_eq!(preview.current_context.as_deref(), Some("prod"));
    let names: Vec<_> = preview.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["prod", "Dev Box", "cloud", "old-gke"]);
    let prod = &preview.contexts[0];
    assert_eq!(
        (
            prod.cluster.as_str(),
            prod.user.as_str(),
            prod.server.as_str()
        ),
        ("prod-cluster", "prod-user", "https://prod.example:6443")
    );
    assert_eq!(prod.auth, AuthKind::Token);
    assert_eq!(prod.namespace.as_deref(), Some("shop"));
    assert_eq!(preview.contexts[1].auth, AuthKind::ClientCertificate);
    assert_eq!(preview.contexts[2].auth, AuthKind::Exec);
    assert!(preview.contexts[..3].iter().all(|c| c.problem.is_none()));
    let problem = preview.contexts[3].problem.as_deref().unwrap();
    assert!(
        problem.contains("\"gcp\" auth provider") && problem.contains("exec plugin"),
        "{problem}"
    );
    assert!(preview.contexts.iter().all(|c| !c.already_imported));
}

#[test]
fn an_import_keeps_secrets_in_the_keychain_and_references_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Keychain::in_memory();
    let registry = registry(dir.path(), &keychain);
    let contexts = ["prod", "Dev Box", "cloud"].map(str::to_owned);
    let imported = registry
        .import(&text(kubeconfig_text()), &contexts)
        .unwrap();
    let ids: Vec<_> = imported.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["prod", "dev-box", "cloud"]);
    assert_eq!(registry.entries(), imported);
    assert!(imported.iter().all(|e| !e.local));

    assert_eq!(secret(&keychain, "prod/token").as_deref(), Some(TOKEN));
    assert_eq!(
        secret(&keychain, "dev-box/client-key").as_deref(),
        Some(KEY)
    );
    assert_eq!(
        secret(&keychain, "cloud/exec-env/CLOUD_SECRET").as_deref(),
        Some("env-secret-778")
    );
    for needle in [TOKEN, "c2VjcmV0LWtleS05MTc", "env-secret-778"] {
        assert_no_file_contains(dir.path(), needle);
    }
    let list = std::fs::read_to_string(dir.path().join("clusters.json")).unwrap();
    assert!(
        list.contains("prod/token") && list.contains("MIIBcA=="),
        "{list}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("clusters.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A fresh registry reads the same list back.
    assert_eq!(registry_again(dir.path(), &keychain).entries(), imported);
}

fn registry_again(dir: &Path, keychain: &Keychain) -> Registry {
    registry(dir, keychain)
}

#[test]
fn the_kubeconfig_puts_the_secrets_back_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Keychain::in_memory();
    let registry = registry(dir.path(), &keychain);
    let contexts = ["prod", "Dev Box", "cloud"].map(str::to_owned);
    registry
        .import(&text(kubeconfig_text()), &contexts)
        .unwrap();

    let prod = registry.kubeconfig("prod").unwrap();
    assert_eq!(prod.current_context.as_deref(), Some("prod"));
    assert_eq!(prod.contexts.len(), 1);
    let context = prod.contexts[0].context.as_ref().unwrap();
    assert_eq!(context.namespace.as_deref(), Some("shop"));
    let cluster = prod.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.server.as_deref(), Some("https://prod.example:6443"));
    assert_eq!(
        cluster.certificate_authority_data.as_deref(),
        Some(&*b64(CA))
    );
    assert_eq!(cluster.tls_server_name.as_deref(), Some("api.prod"));
    let user = prod.auth_infos[0].auth_info.as_ref().unwrap();
    assert_eq!(user.token.as_ref().unwrap().expose_secret(), TOKEN);

    let dev = registry.kubeconfig("dev-box").unwrap();
    let cluster = dev.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(cluster.insecure_skip_tls_verify, Some(true));
    let user = dev.auth_infos[0].auth_info.as_ref().unwrap();
    assert_eq!(user.client_certificate_data.as_deref(), Some(&*b64(CERT)));
    let key = user.client_key_data.as_ref().unwrap().expose_secret();
    assert_eq!(BASE64.decode(key).unwrap(), KEY.as_bytes());

    let cloud = registry.kubeconfig("cloud").unwrap();
    let exec = cloud.auth_infos[0]
        .auth_info
        .as_ref()
        .unwrap()
        .exec
        .as_ref()
        .unwrap();
    assert_eq!(exec.command.as_deref(), Some("cloud-auth"));
    assert_eq!(exec.args.as_deref().unwrap(), ["token", "--cluster", "dev"]);
    assert_eq!(
        exec.api_version.as_deref(),
        Some("client.authentication.k8s.io/v1")
    );
    assert_eq!(
        exec.install_hint.as_deref(),
        Some("install cloud-auth from example.com")
    );
    assert_eq!(
        exec.interactive_mode,
        Some(kube::config::ExecInteractiveMode::Never)
    );
    assert!(exec.provide_cluster_info);
    let env: Vec<(String, String)> = exec
        .env
        .iter()
        .flatten()
        .map(|var| (var["name"].clone(), var["value"].clone()))
        .collect();
    assert_eq!(
        env,
        [
            ("CLOUD_SECRET".to_owned(), "env-secret-778".to_owned()),
            ("EMPTY".to_owned(), String::new())
        ]
    );

    let error = registry.kubeconfig("nope").unwrap_err();
    assert!(matches!(error, Error::UnknownCluster(_)), "{error}");
}

#[test]
fn a_context_with_a_problem_or_a_missing_name_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Keychain::in_memory();
    let registry = registry(dir.path(), &keychain);
    let source = text(kubeconfig_text());
    let error = registry
        .import(&source, &["prod".to_owned(), "old-gke".to_owned()])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Context \"old-gke\" cannot be imported") && error.contains("gcp"),
        "{error}"
    );
    let error = registry
        .import(&source, &["gone".to_owned()])
        .unwrap_err()
        .to_string();
    assert!(error.contains("no context \"gone\""), "{error}");
    assert!(registry.entries().is_empty());
    assert_eq!(secret(&keychain, "prod/token"), None);
    assert!(!dir.path().join("clusters.json").exists());
}

#[test]
fn importing_a_name_again_replaces_the_cluster_and_its_stale_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Keychain::in_memory();
    let registry = registry(dir.path(), &keychain);
    registry
        .import(
            &text(kubeconfig_text()),
            &["prod".to_owned(), "cloud".to_owned()],
        )
        .unwrap();
    // "cloud" now points at a token user instead of its exec plugin.
    let changed = kubeconfig_text()
        .replace(
            "{cluster: dev-cluster, user: cloud-user}",
            "{cluster: dev-cluster, user: prod-user}",
        )
        .replace(TOKEN, "rotated-token-5");
    let preview = registry.preview(&text(changed.clone())).unwrap();
    assert!(preview.contexts[2].already_imported);
    assert!(!preview.contexts[1].already_imported);
    let imported = registry
        .import(&text(changed), &["cloud".to_owned()])
        .unwrap();
    assert_eq!(imported[0].id, "cloud");
    assert_eq!(imported[0].auth, AuthKind::Token);
    let ids: Vec<_> = registry.entries().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["prod", "cloud"], "replaced in place");
    assert_eq!(
        secret(&keychain, "cloud/token").as_deref(),
        Some("rotated-token-5")
    );
    assert_eq!(secret(&keychain, "cloud/exec-env/CLOUD_SECRET"), None);
    assert_eq!(secret(&keychain, "prod/token").as_deref(), Some(TOKEN));
}

#[test]
fn removing_a_cluster_deletes_its_keychain_entries_then_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Keychain::in_memory();
    let registry = registry(dir.path(), &keychain);
    registry
        .import(
            &text(kubeconfig_text()),
            &["prod".to_owned(), "Dev Box".to_owned()],
        )
        .unwrap();
    registry.remove("dev-box").unwrap();
    assert_eq!(secret(&keychain, "dev-box/client-key"), None);
    assert_eq!(secret(&keychain, "prod/token").as_deref(), Some(TOKEN));
    let ids: Vec<_> = registry_again(dir.path(), &keychain)
        .entries()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["prod"]);
    assert!(matches!(
        registry.remove("dev-box"),
        Err(Error::UnknownCluster(_))
    ));
}

#[test]
fn without_a_keychain_the_list_shows_but_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Keychain::in_memory();
    registry(dir.path(), &keychain)
        .import(&text(kubeconfig_text()), &["prod".to_owned()])
        .unwrap();
    let registry = Registry::open(dir.path(), Err("no bus here".to_owned())).unwrap();
    assert_eq!(registry.entries().len(), 1);
    let info = registry.keychain_info();
    assert_eq!(info.store, None);
    let problem = info.problem.unwrap();
    assert!(
        problem.starts_with("There is no OS keychain") && problem.contains("no bus here"),
        "{problem}"
    );
    let preview = registry.preview(&text(kubeconfig_text())).unwrap();
    assert!(preview.contexts[0].already_imported, "preview still works");
    let error = registry
        .import(&text(kubeconfig_text()), &["cloud".to_owned()])
        .unwrap_err();
    assert!(matches!(error, Error::NoKeychain(_)), "{error}");
    assert!(matches!(
        registry.kubeconfig("prod"),
        Err(Error::NoKeychain(_))
    ));
    let list = std::fs::read_to_string(dir.path().join("clusters.json")).unwrap();
    assert!(!list.contains("cloud"));
    assert_no_file_contains(dir.path(), TOKEN);
}

#[test]
fn the_default_source_merges_kubeconfig_files_first_wins_with_relative_references() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("kube");
    std::fs::create_dir_all(home.join("certs")).unwrap();
    std::fs::write(home.join("certs/ca.pem"), CA).unwrap();
    std::fs::write(home.join("certs/client.pem"), CERT).unwrap();
    std::fs::write(home.join("certs/client.key"), KEY).unwrap();
    std::fs::write(home.join("token"), format!("{TOKEN}\n")).unwrap();
    let first = r#"
clusters:
- name: c
  cluster: {server: "https://first.example", certificate-authority: certs/ca.pem}
users:
- name: u
  user: {client-certificate: certs/client.pem, client-key: certs/client.key}
contexts:
- name: shared
  context: {cluster: c, user: u}
current-context: shared
"#;
    let second = r#"
clusters:
- name: c
  cluster: {server: "https://second.example"}
- name: other
  cluster: {server: "https://other.example"}
users:
- name: t
  user: {tokenFile: token}
contexts:
- name: shared
  context: {cluster: other, user: t}
- name: by-token
  context: {cluster: other, user: t}
current-context: by-token
"#;
    std::fs::write(home.join("first"), first).unwrap();
    std::fs::write(home.join("second"), second).unwrap();
    let list = std::env::join_paths([
        home.join("first"),
        home.join("missing"),
        home.join("second"),
    ])
    .unwrap();
    let keychain = Keychain::in_memory();
    let mut registry = registry(&dir.path().join("config"), &keychain);
    registry.env = Box::new(move |name| (name == "KUBECONFIG").then(|| list.clone()));

    let preview = registry.preview(&KubeconfigSource::Default).unwrap();
    assert!(preview.origin.contains("first") && preview.origin.contains("second"));
    assert!(!preview.origin.contains("missing"), "{}", preview.origin);
    assert_eq!(preview.current_context.as_deref(), Some("shared"));
    let names: Vec<_> = preview.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["shared", "by-token"]);
    assert_eq!(preview.contexts[0].server, "https://first.example");
    assert!(preview.contexts.iter().all(|c| c.problem.is_none()));

    registry
        .import(
            &KubeconfigSource::Default,
            &["shared".to_owned(), "by-token".to_owned()],
        )
        .unwrap();
    let shared = registry.kubeconfig("shared").unwrap();
    let cluster = shared.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(
        cluster.certificate_authority_data.as_deref(),
        Some(&*b64(CA))
    );
    assert_eq!(cluster.certificate_authority, None, "inlined, not a path");
    assert_eq!(secret(&keychain, "shared/client-key").as_deref(), Some(KEY));
    // A token file is kept as its absolute path (its token rotates), never as the token.
    assert_eq!(secret(&keychain, "by-token/token"), None);
    let by_token = registry.kubeconfig("by-token").unwrap();
    let user = by_token.auth_infos[0].auth_info.as_ref().unwrap();
    assert_eq!(
        user.token_file.as_deref(),
        Some(home.join("token").to_str().unwrap())
    );
    assert!(user.token.is_none());
    let listed = std::fs::read_to_string(dir.path().join("config/clusters.json")).unwrap();
    assert!(listed.contains("\"tokenFile\""), "{listed}");
    assert_no_file_contains(&dir.path().join("config"), TOKEN);
}

#[test]
fn without_kubeconfig_the_default_is_home_kube_config() {
    let dir = tempfile::tempdir().unwrap();
    let home: OsString = dir.path().join("home").into();
    let mut registry = registry(&dir.path().join("config"), &Keychain::in_memory());
    let env_home = home.clone();
    registry.env = Box::new(move |name| (name == "HOME").then(|| env_home.clone()));
    let error = registry
        .preview(&KubeconfigSource::Default)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(".kube/config") && error.contains("does not exist"),
        "{error}"
    );
    let kube = Path::new(&home).join(".kube");
    std::fs::create_dir_all(&kube).unwrap();
    std::fs::write(kube.join("config"), kubeconfig_text()).unwrap();
    let preview = registry.preview(&KubeconfigSource::Default).unwrap();
    assert_eq!(preview.contexts.len(), 4);
}

#[test]
fn pasted_text_cannot_resolve_a_relative_file_reference() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path(), &Keychain::in_memory());
    let pasted = r#"
clusters:
- name: c
  cluster: {server: "https://x.example", certificate-authority: ca.pem}
- name: d
  cluster: {server: "https://y.example"}
users:
- name: u
  user: {client-certificate: /nonexistent/client.pem, client-key: /nonexistent/client.key}
contexts:
- name: relative
  context: {cluster: c}
- name: unreadable
  context: {cluster: d, user: u}
- name: dangling
  context: {cluster: gone}
"#;
    let preview = registry.preview(&text(pasted.to_owned())).unwrap();
    let problems: Vec<_> = preview
        .contexts
        .iter()
        .map(|c| c.problem.clone().unwrap())
        .collect();
    assert!(
        problems[0].contains("relative path \"ca.pem\""),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains("/nonexistent/client.pem cannot be read"),
        "{}",
        problems[1]
    );
    assert!(
        problems[2].contains("cluster \"gone\" is not in"),
        "{}",
        problems[2]
    );

    let error = registry
        .preview(&text("clusters: [oops".to_owned()))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("could not read the kubeconfig pasted text"),
        "{error}"
    );
}

fn manual(name: &str, auth: ManualAuth) -> ManualCluster {
    ManualCluster {
        name: name.to_owned(),
        server: "https://10.0.0.1:6443".to_owned(),
        certificate_authority: Some(CA.to_owned()),
        insecure_skip_tls_verify: false,
        auth,
    }
}

#[test]
fn a_cluster_added_by_hand_is_checked_and_kept_like_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Keychain::in_memory();
    let registry = registry(dir.path(), &keychain);
    let entry = registry
        .add(manual(
            "Local",
            ManualAuth::Token {
                token: format!(" {TOKEN}\n"),
            },
        ))
        .unwrap();
    assert_eq!(entry.id, "local-2", "the local cluster's id is taken");
    assert_eq!(entry.auth, AuthKind::Token);
    assert_eq!(secret(&keychain, "local-2/token").as_deref(), Some(TOKEN));

    let exec = registry
        .add(manual(
            "ci runner",
            ManualAuth::Exec {
                command: "get-token".to_owned(),
                args: vec!["--fresh".to_owned()],
                env: vec![EnvVar {
                    name: "API_KEY".to_owned(),
                    value: "exec-secret-3".to_owned(),
                }],
                api_version: String::new(),
            },
        ))
        .unwrap();
    assert_eq!(exec.id, "ci-runner");
    let config = registry.kubeconfig("ci-runner").unwrap();
    let plugin = config.auth_infos[0]
        .auth_info
        .clone()
        .unwrap()
        .exec
        .unwrap();
    assert_eq!(
        plugin.api_version.as_deref(),
        Some("client.authentication.k8s.io/v1")
    );
    assert_eq!(
        plugin.env.unwrap()[0],
        HashMap::from([
            ("name".to_owned(), "API_KEY".to_owned()),
            ("value".to_owned(), "exec-secret-3".to_owned())
        ])
    );
    assert_no_file_contains(dir.path(), "exec-secret-3");
    assert_no_file_contains(dir.path(), TOKEN);

    let refused = |cluster: ManualCluster| registry.add(cluster).unwrap_err().to_string();
    let token = || ManualAuth::Token {
        token: "t".to_owned(),
    };
    assert!(refused(manual("Local", token())).contains("already in the list"));
    assert!(refused(manual(" ", token())).contains("no name"));
    let mut plain = manual("plain", token());
    plain.server = "10.0.0.1:6443".to_owned();
    assert!(refused(plain).contains("https://"));
    let mut bad_ca = manual("bad ca", token());
    bad_ca.certificate_authority = Some("not a cert".to_owned());
    assert!(refused(bad_ca).contains("CA certificate is not PEM"));
    let key_only = ManualAuth::ClientCertificate {
        certificate: CERT.to_owned(),
        key: "secret".to_owned(),
    };
    assert!(refused(manual("key", key_only)).contains("client key is not a PEM"));
    assert!(
        refused(manual(
            "empty",
            ManualAuth::Token {
                token: "  ".to_owned()
            }
        ))
        .contains("token is empty")
    );
    assert_eq!(registry.entries().len(), 2);
}

#[test]
fn a_list_that_cannot_be_written_leaves_no_cluster_and_no_secret_behind() {
    let dir = tempfile::tempdir().unwrap();
    let keychain = Keychain::in_memory();
    let registry = registry(dir.path(), &keychain);
    registry
        .import(&text(kubeconfig_text()), &["prod".to_owned()])
        .unwrap();
    // A folder where the temp file goes: the write fails even for root.
    std::fs::create_dir(dir.path().join("clusters.json.tmp")).unwrap();
    let error = registry
        .import(&text(kubeconfig_text()), &["Dev Box".to_owned()])
        .unwrap_err();
    assert!(
        matches!(error, Error::ClusterList { .. }) && error.to_string().contains("written"),
        "{error}"
    );
    let token = ManualAuth::Token {
        token: "manual-token-1".to_owned(),
    };
    let error = registry.add(manual("by hand", token)).unwrap_err();
    assert!(matches!(error, Error::ClusterList { .. }), "{error}");
    let ids: Vec<_> = registry.entries().into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["prod"]);
    assert_eq!(secret(&keychain, "dev-box/client-key"), None);
    assert_eq!(secret(&keychain, "by-hand/token"), None);
    assert_eq!(secret(&keychain, "prod/token").as_deref(), Some(TOKEN));
    assert!(matches!(
        registry.remove("prod"),
        Err(Error::ClusterList { .. })
    ));
    assert_eq!(
        registry.entries().len(),
        1,
        "still listed after a failed removal"
    );
}

#[test]
fn the_registry_can_be_shared_between_tasks() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Registry>();
}

#[test]
fn ids_are_unique_slugs_of_the_name() {
    let taken = |id: &str| id == "local" || id == "prod";
    assert_eq!(record::unique_id("Prod", taken), "prod-2");
    assert_eq!(record::unique_id("My  Cluster!", taken), "my-cluster");
    assert_eq!(
        record::unique_id("arn:aws:eks:eu/x", taken),
        "arn-aws-eks-eu-x"
    );
    assert_eq!(record::unique_id("---", taken), "cluster");
    assert_eq!(record::unique_id("local", taken), "local-2");
}

#[tokio::test]
async fn kube_reads_the_kubeconfig_as_its_client_config() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path(), &Keychain::in_memory());
    registry
        .import(&text(kubeconfig_text()), &["prod".to_owned()])
        .unwrap();
    let kubeconfig = registry.kubeconfig("prod").unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    assert_eq!(config.cluster_url.to_string(), "https://prod.example:6443/");
    assert_eq!(config.default_namespace, "shop");
    assert_eq!(config.tls_server_name.as_deref(), Some("api.prod"));
    assert_eq!(config.root_cert.unwrap().len(), 1, "the CA from the record");
}
