//! A remote cluster through `kubarium-app`: a second `kubariumd` on loopback (TLS and a
//! bearer token, as a real cluster) is the remote, next to the app's own local cluster. The
//! app connects, lists and watches its pods, reports its status with version and latency,
//! answers RBAC checks; and tells the truth when it cannot: a wrong token is a 401, a wrong
//! CA a TLS failure naming the certificate's real fingerprint, a stopped server unreachable.
//! An exec plugin, found on the login PATH only, authenticates, and its token's expiry makes
//! the next request run it again; a prompt it prints during that renewal is shown while it
//! waits. A token file's rotated token is what the next request sends. Imported through the app into a real Secret Service (a
//! private GNOME Keyring): no log line and no file of the app's carries the token, the
//! keychain does, and removing a cluster deletes it there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use kubarium_app::clusters::Keychain;
use kubarium_app::ipc::clusters::{AccessCheck, KubeconfigSource};
use kubarium_app::ipc::resources::ResourceBatch;
use kubarium_app::ipc::{AppError, ClusterPhase, ClusterStatus, ErrorCode};
use kubarium_app::{App, LocalCluster};
use kubarium_tests::daemon::Daemon;
use kubarium_tests::keyring::SecretService;
use kube::Api;
use kube::api::ListParams;
use kube::config::Kubeconfig;
use secrecy::ExposeSecret as _;
use tokio::sync::{mpsc, watch};

/// Generous: the machine running the tests is shared and busy.
const WAIT: Duration = Duration::from_secs(90);

/// Log lines written while the test runs, to look for secrets in.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Set in the child that runs the scenario.
const CHILD: &str = "KUBARIUM_REMOTE_SCENARIO";
/// The folder the fake login shell puts on PATH (the child writes the plugin there).
const PLUGINS: &str = "KUBARIUM_REMOTE_PLUGINS";
const SERVICE: &str = "dev.kubarium.remote";

/// libdbus finds the bus only through `DBUS_SESSION_BUS_ADDRESS`, and the login PATH comes
/// from `$SHELL`; changing this process's environment is unsafe, so the scenario runs in a
/// child of this test binary started with both (the test re-runs itself by name).
#[test]
fn a_remote_cluster_through_the_app() {
    if std::env::var_os(CHILD).is_some() {
        return tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap()
            .block_on(scenario());
    }
    let keyring = SecretService::start();
    // A login shell whose PATH has the plugin's folder, which the app's PATH lacks.
    let plugins = tempfile::tempdir().unwrap();
    std::fs::create_dir(plugins.path().join("bin")).unwrap();
    let shell = plugins.path().join("login-shell");
    write_executable(
        &shell,
        &format!(
            // Called as `$SHELL -lc SCRIPT`; a real login shell would read /etc/profile,
            // which resets PATH on this machine.
            "#!/bin/sh\nexport PATH='{}':\"$PATH\"\nexec /bin/sh -c \"$2\"\n",
            plugins.path().join("bin").display()
        ),
    );
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_remote_cluster_through_the_app",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env(PLUGINS, plugins.path())
        .env("SHELL", &shell)
        .env("DBUS_SESSION_BUS_ADDRESS", &keyring.address)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the scenario failed in its child: {status}"
    );
}

async fn scenario() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .unwrap();

    let remote = Daemon::start_on_free_port();
    let remote_kubeconfig = std::fs::read_to_string(remote.kubeconfig()).unwrap();
    let kubeconfig = Kubeconfig::from_yaml(&remote_kubeconfig).unwrap();
    let token = kubeconfig.auth_infos[0]
        .auth_info
        .as_ref()
        .and_then(|a| a.token.as_ref())
        .unwrap()
        .expose_secret()
        .to_owned();
    let ca = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.certificate_authority_data.clone())
        .unwrap();

    // The exec plugin, where only the login shell's PATH finds it.
    let plugins = std::path::PathBuf::from(std::env::var_os(PLUGINS).unwrap());
    let runs = plugins.join("runs");
    let lasts = plugins.join("lasts");
    std::fs::write(&lasts, "5").unwrap();
    write_plugin(&plugins, &token);
    let signed_in = plugins.join("signed-in");
    write_device_code_plugin(&plugins, &token);
    let renewal_runs = plugins.join("renewal-runs");
    let renewal_asks = plugins.join("renewal-asks");
    let renewal_signed_in = plugins.join("renewal-signed-in");
    write_renewal_plugin(&plugins, &token);
    let token_file = plugins.join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();

    let config = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let local = LocalCluster::start(
        kubarium_cluster::ClusterBuilder::new(data.path())
            .listen("127.0.0.1:0".parse().unwrap())
            .runtime(kubarium_cluster::RuntimeKind::Hollow),
    );
    let app = App::new(local, config.path());
    assert_eq!(
        app.keychain_info().await.store.as_deref(),
        Some("Secret Service (D-Bus)")
    );

    // The remote's own kubeconfig, and three variants of it, imported as the UI does.
    let other_ca = rcgen::generate_simple_self_signed(vec!["elsewhere".to_owned()])
        .unwrap()
        .cert
        .pem();
    let imports = [
        ("kubarium", remote_kubeconfig.clone()),
        (
            "wrong-token",
            with_user("wrong-token", &remote.url, &ca, "{token: not-the-token}"),
        ),
        (
            "wrong-ca",
            with_user(
                "wrong-ca",
                &remote.url,
                &base64::engine::general_purpose::STANDARD.encode(other_ca),
                &format!("{{token: {token}}}"),
            ),
        ),
        (
            "exec",
            with_user(
                "exec",
                &remote.url,
                &ca,
                &format!(
                    "{{exec: {{apiVersion: client.authentication.k8s.io/v1, command: kubarium-test-credential, args: ['{}', '{}']}}}}",
                    runs.display(),
                    lasts.display()
                ),
            ),
        ),
        (
            "device-code",
            with_user(
                "device-code",
                &remote.url,
                &ca,
                &format!(
                    "{{exec: {{apiVersion: client.authentication.k8s.io/v1, command: kubarium-test-device-code, args: ['{}']}}}}",
                    signed_in.display()
                ),
            ),
        ),
        (
            "renewal",
            with_user(
                "renewal",
                &remote.url,
                &ca,
                &format!(
                    "{{exec: {{apiVersion: client.authentication.k8s.io/v1, command: kubarium-test-renewal, args: ['{}', '{}', '{}']}}}}",
                    renewal_runs.display(),
                    renewal_asks.display(),
                    renewal_signed_in.display()
                ),
            ),
        ),
        (
            "token-file",
            with_user(
                "token-file",
                &remote.url,
                &ca,
                &format!("{{tokenFile: '{}'}}", token_file.display()),
            ),
        ),
    ];
    for (context, text) in imports {
        let source = KubeconfigSource::Text {
            text,
            origin: format!("{context}.kubeconfig"),
        };
        let imported = app
            .import_kubeconfig(source, vec![context.to_owned()])
            .await
            .unwrap();
        assert_eq!(imported[0].id, context);
    }
    let ids: Vec<String> = app.entries().into_iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        [
            "local",
            "kubarium",
            "wrong-token",
            "wrong-ca",
            "exec",
            "device-code",
            "renewal",
            "token-file"
        ]
    );
    let keychain = Keychain::open().unwrap();
    let secret = |account: &str| keychain.get(SERVICE, account).unwrap();
    assert_eq!(secret("kubarium/token").as_deref(), Some(token.as_bytes()));

    // Every status, local first, pushed on every change.
    let (statuses_tx, statuses) = watch::channel(Vec::<ClusterStatus>::new());
    tokio::spawn(app.watch_statuses(move |s| statuses_tx.send(s).is_ok()));

    let connected = status_where(&statuses, "kubarium", |s| {
        s.phase == ClusterPhase::Connected
    })
    .await;
    let version = connected
        .version
        .expect("a connected cluster has a version");
    assert!(version.git_version.contains("kubarium"), "{version:?}");
    assert!(connected.latency_ms.is_some());
    assert!(!connected.local);
    assert_eq!(connected.server_url.as_deref(), Some(remote.url.as_str()));
    assert_eq!(statuses.borrow()[0].id, "local");

    // Lists and watches pods there; a pod kubectl creates arrives.
    let client = app.client("kubarium").await.unwrap();
    Api::<Pod>::namespaced(client, "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    let (rows_tx, mut rows) = mpsc::unbounded_channel();
    app.watch_resources(
        "kubarium",
        "pods".to_owned(),
        Some("default".to_owned()),
        move |b| rows_tx.send(b).is_ok(),
    )
    .await
    .unwrap();
    let kubectl = &kubarium_tests::kubectls()[0];
    kubarium_tests::kubectl(
        kubectl,
        &remote.kubeconfig(),
        &["run", "from-kubectl", "--image=registry.k8s.io/pause:3.10"],
    );
    tokio::time::timeout(WAIT, async {
        while let Some(batch) = rows.recv().await {
            let rows = match batch {
                ResourceBatch::Reset { rows } => rows,
                ResourceBatch::Changes { upserts, .. } => upserts,
                ResourceBatch::State { .. } => continue,
            };
            if rows.iter().any(|r| r.name == "from-kubectl") {
                return;
            }
        }
        panic!("the watch ended");
    })
    .await
    .expect("the pod kubectl created arrived through the remote watch");

    // RBAC: the remote answers SelfSubjectAccessReviews (it allows its admin everything).
    let allowed = app
        .can_i(
            "kubarium",
            vec![check("list", "pods"), check("delete", "deployments")],
        )
        .await
        .unwrap();
    assert_eq!(allowed, [true, true]);

    // A wrong token is refused, and said so.
    let refused = status_where(&statuses, "wrong-token", |s| s.error.is_some()).await;
    let error = refused.error.unwrap();
    assert_eq!(error.code, ErrorCode::Unauthorized, "{error:?}");
    assert!(
        error
            .message
            .contains("credentials for wrong-token were refused"),
        "{error:?}"
    );
    assert_eq!(refused.phase, ClusterPhase::Unreachable);
    assert!(
        refused.retry_at.is_some(),
        "a failing remote says when it is tried next: {:?}",
        refused.retry_at
    );

    // A CA that did not sign the server's certificate: TLS, with that certificate's real
    // fingerprint (read here by another route: a handshake trusting the right CA).
    let untrusted = status_where(&statuses, "wrong-ca", |s| s.error.is_some()).await;
    let error = untrusted.error.unwrap();
    assert_eq!(error.code, ErrorCode::Tls, "{error:?}");
    let fingerprint = served_fingerprint(&remote).await;
    assert!(
        error
            .message
            .contains(&format!("SHA-256 fingerprint is {fingerprint}")),
        "{error:?} does not name {fingerprint}"
    );

    // The exec plugin: found on the login PATH, authenticates. While its tokens last 5 s,
    // every request runs it again (kube-rs renews a token 60 s before it expires); once they
    // last an hour, the next request renews the short one, and later requests reuse it.
    let by_plugin = status_where(&statuses, "exec", |s| s.phase == ClusterPhase::Connected).await;
    assert!(by_plugin.version.is_some());
    let exec_client = app.client("exec").await.unwrap();
    let pods = Api::<Pod>::namespaced(exec_client, "default");
    let before = plugin_runs(&runs);
    std::fs::write(&lasts, "3600").unwrap();
    pods.list(&ListParams::default()).await.unwrap();
    let renewed = plugin_runs(&runs);
    assert!(
        renewed > before,
        "the expiring token was renewed by running the plugin again"
    );
    for _ in 0..3 {
        pods.list(&ListParams::default()).await.unwrap();
    }
    assert_eq!(
        plugin_runs(&runs),
        renewed,
        "a valid token is reused, not fetched again"
    );

    // A plugin that asks the user something (a device-code sign-in) and waits: what it
    // writes to stderr is the cluster's prompt while it waits, and goes once it is done.
    let asking = status_where(&statuses, "device-code", |s| s.prompt.is_some()).await;
    assert_eq!(
        asking.prompt.as_deref(),
        Some(DEVICE_CODE_PROMPT),
        "{asking:?}"
    );
    assert_ne!(asking.phase, ClusterPhase::Connected);
    // Where the prompt came from: a file of the cluster's that only this user can read.
    let outputs = config.path().join("plugin-output");
    assert_eq!(mode(&outputs), 0o700);
    let asked_in = std::fs::read_dir(&outputs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(DEVICE_CODE_PROMPT)))
        .expect("the prompt was written to a file in the plugin output directory");
    assert_eq!(mode(&asked_in), 0o600, "{asked_in:?}");
    std::fs::write(&signed_in, "").unwrap();
    let signed = status_where(&statuses, "device-code", |s| {
        s.phase == ClusterPhase::Connected
    })
    .await;
    assert_eq!(signed.prompt, None, "{signed:?}");
    assert_eq!(
        std::fs::read_to_string(&asked_in).unwrap(),
        "",
        "what the plugin said is not kept on disk once it is done"
    );
    app.remove_cluster("device-code").await.unwrap();
    assert!(
        !asked_in.exists(),
        "removing the cluster removed its plugin output file"
    );

    // A token that nears its expiry is renewed inside a request; when that run of the plugin
    // asks the user to sign in, the prompt is the cluster's while it waits, the request
    // waits with it, then completes, and the prompt goes.
    status_where(&statuses, "renewal", |s| s.phase == ClusterPhase::Connected).await;
    assert!(plugin_runs(&renewal_runs) >= 1);
    std::fs::write(&renewal_asks, "").unwrap();
    let renewing = Api::<Pod>::namespaced(app.client("renewal").await.unwrap(), "default");
    let request = tokio::spawn(async move { renewing.list(&ListParams::default()).await });
    let asking = status_where(&statuses, "renewal", |s| s.prompt.is_some()).await;
    assert_eq!(asking.prompt.as_deref(), Some(RENEWAL_PROMPT), "{asking:?}");
    assert!(
        !request.is_finished(),
        "the request waits for the renewal, which waits for the user"
    );
    std::fs::write(&renewal_signed_in, "").unwrap();
    tokio::time::timeout(WAIT, request)
        .await
        .expect("the request completed once the user signed in")
        .unwrap()
        .unwrap();
    let renewed = status_where(&statuses, "renewal", |s| s.prompt.is_none()).await;
    assert_ne!(renewed.phase, ClusterPhase::Starting);

    // A token read from a file is read again once the file changes: a rotated token is
    // what the next request sends (a wrong one is refused, the right one accepted again).
    status_where(&statuses, "token-file", |s| {
        s.phase == ClusterPhase::Connected
    })
    .await;
    assert!(
        secret("token-file/token").is_none(),
        "the token file's token is not copied to the keychain"
    );
    let rotated = plugins.join("token.next");
    std::fs::write(&rotated, "not-the-token\n").unwrap();
    std::fs::rename(&rotated, &token_file).unwrap();
    let refused = status_where(&statuses, "token-file", |s| {
        s.error
            .as_ref()
            .is_some_and(|e| e.code == ErrorCode::Unauthorized)
    })
    .await;
    assert_eq!(refused.phase, ClusterPhase::Unreachable);
    std::fs::write(&rotated, format!("{token}\n")).unwrap();
    std::fs::rename(&rotated, &token_file).unwrap();
    // Asked to try again now, as when the user switches to it, rather than after its wait.
    app.retry_cluster("token-file").unwrap();
    let accepted = status_where(&statuses, "token-file", |s| {
        s.phase == ClusterPhase::Connected
    })
    .await;
    assert_eq!(accepted.retry_at, None);
    let listed = std::fs::read_to_string(config.path().join("clusters.json")).unwrap();
    assert!(
        listed.contains(&*token_file.to_string_lossy()),
        "the list keeps the token file's path"
    );

    // Removing a cluster deletes its credentials and ends its connection.
    assert!(secret("wrong-ca/token").is_some());
    app.remove_cluster("wrong-ca").await.unwrap();
    assert_eq!(secret("wrong-ca/token"), None);
    assert!(app.entries().iter().all(|e| e.id != "wrong-ca"));
    let mut listed = statuses.clone();
    tokio::time::timeout(
        WAIT,
        listed.wait_for(|all| all.iter().all(|s| s.id != "wrong-ca")),
    )
    .await
    .expect("the removed cluster left the statuses")
    .unwrap();
    let Err(error) = app.client("wrong-ca").await else {
        panic!("a removed cluster still has a client");
    };
    assert_eq!(AppError::from(error).code, ErrorCode::NotFound);

    // A stopped server: unreachable, naming it.
    let url = remote.url.clone();
    drop(remote);
    let gone = status_where(&statuses, "kubarium", |s| {
        s.phase == ClusterPhase::Unreachable
    })
    .await;
    let error = gone.error.unwrap();
    assert_eq!(error.code, ErrorCode::Unreachable, "{error:?}");
    assert!(
        error.message.contains(&format!("Nothing answers at {url}")),
        "{error:?}"
    );

    // Nothing the app logged, and nothing under the local cluster's data dir, holds the token.
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(!logged.is_empty(), "the log capture works");
    assert!(
        !logged.contains(&token),
        "a log line holds the remote's token"
    );
    assert_no_file_holds(data.path(), &token);
    assert_no_file_holds(config.path(), &token);
    app.local().shutdown().await;
}

/// A kubeconfig with context `name` for `server`, trusting `ca` (base64 PEM), with `user`
/// (a YAML flow map).
fn with_user(name: &str, server: &str, ca: &str, user: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{server}', certificate-authority-data: {ca}}}}}]\nusers: [{{name: u, user: {user}}}]\ncontexts: [{{name: {name}, context: {{cluster: c, user: u, namespace: default}}}}]\ncurrent-context: {name}\n"
    )
}

fn check(verb: &str, resource: &str) -> AccessCheck {
    AccessCheck {
        verb: verb.to_owned(),
        group: if resource == "deployments" {
            "apps"
        } else {
            ""
        }
        .to_owned(),
        resource: resource.to_owned(),
        subresource: None,
        namespace: Some("default".to_owned()),
        name: None,
    }
}

/// Waits for the status of `id` to satisfy `ready`.
async fn status_where(
    statuses: &watch::Receiver<Vec<ClusterStatus>>,
    id: &str,
    ready: impl Fn(&ClusterStatus) -> bool,
) -> ClusterStatus {
    let mut waiting = statuses.clone();
    let found = tokio::time::timeout(
        WAIT,
        waiting.wait_for(|all| all.iter().any(|s| s.id == id && ready(s))),
    )
    .await
    .map(|found| found.unwrap().clone());
    let found = found.unwrap_or_else(|_| {
        panic!(
            "{id} did not reach the awaited status; statuses: {:#?}",
            statuses.borrow()
        )
    });
    found.into_iter().find(|s| s.id == id).unwrap()
}

/// `bin/kubarium-test-credential RUNS LASTS`: counts its runs in RUNS and prints an
/// ExecCredential with `token`, expiring in as many seconds as LASTS says.
fn write_plugin(dir: &Path, token: &str) {
    write_executable(
        &dir.join("bin/kubarium-test-credential"),
        &format!(
            r#"#!/bin/sh
runs=$(( $(cat "$1" 2>/dev/null || echo 0) + 1 ))
echo "$runs" > "$1"
expires=$(date -u -d "+$(cat "$2") seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s","expirationTimestamp":"%s"}}}}' '{token}' "$expires"
"#
        ),
    );
}

/// What `kubarium-test-device-code` writes to stderr, as kubelogin's device-code flow does.
const DEVICE_CODE_PROMPT: &str = "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-1234 to authenticate.";

/// `bin/kubarium-test-device-code SIGNED_IN`: asks the user to sign in, waits until the file
/// SIGNED_IN exists (the test creates it once it has seen the prompt), then prints an
/// ExecCredential with `token`.
fn write_device_code_plugin(dir: &Path, token: &str) {
    write_executable(
        &dir.join("bin/kubarium-test-device-code"),
        &format!(
            r#"#!/bin/sh
echo '{DEVICE_CODE_PROMPT}' >&2
while [ ! -e "$1" ]; do sleep 0.2; done
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s"}}}}' '{token}'
"#
        ),
    );
}

/// What `kubarium-test-renewal` writes to stderr when it asks the user to sign in again.
const RENEWAL_PROMPT: &str =
    "To sign in again, open https://login.example/device and enter the code WXYZ-9876.";

/// `bin/kubarium-test-renewal RUNS ASKS SIGNED_IN`: counts its runs in RUNS; while the file
/// ASKS is missing, prints an ExecCredential with `token` expiring in 5 s (so every request
/// runs it again); once ASKS exists, asks the user to sign in, waits until SIGNED_IN exists,
/// and prints one lasting an hour.
fn write_renewal_plugin(dir: &Path, token: &str) {
    write_executable(
        &dir.join("bin/kubarium-test-renewal"),
        &format!(
            r#"#!/bin/sh
runs=$(( $(cat "$1" 2>/dev/null || echo 0) + 1 ))
echo "$runs" > "$1"
lasts=5
if [ -e "$2" ]; then
  echo '{RENEWAL_PROMPT}' >&2
  while [ ! -e "$3" ]; do sleep 0.2; done
  lasts=3600
fi
expires=$(date -u -d "+$lasts seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s","expirationTimestamp":"%s"}}}}' '{token}' "$expires"
"#
        ),
    );
}

/// A file's permission bits.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
    drop(file);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn plugin_runs(runs: &Path) -> u32 {
    std::fs::read_to_string(runs)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The SHA-256 fingerprint of the certificate `daemon` serves, as `AB:CD:…`: from a
/// handshake that trusts its CA, hashed by `sha256sum`.
async fn served_fingerprint(daemon: &Daemon) -> String {
    let kubeconfig = Kubeconfig::read_from(daemon.kubeconfig()).unwrap();
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(
            kubeconfig.clusters[0]
                .cluster
                .as_ref()
                .unwrap()
                .certificate_authority_data
                .as_ref()
                .unwrap(),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let address = daemon.url.strip_prefix("https://").unwrap().to_owned();
    let host = address.rsplit_once(':').unwrap().0.to_owned();
    let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(rustls_pki_types::ServerName::try_from(host).unwrap(), tcp)
        .await
        .unwrap();
    let der = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("served.der");
    std::fs::write(&file, der).unwrap();
    let output = std::process::Command::new("sha256sum")
        .arg(&file)
        .output()
        .unwrap();
    let hex = String::from_utf8(output.stdout).unwrap();
    let hex = hex.split_whitespace().next().unwrap().to_uppercase();
    hex.as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap())
        .collect::<Vec<_>>()
        .join(":")
}

/// No file under `dir` contains `secret`.
fn assert_no_file_holds(dir: &Path, secret: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_no_file_holds(&path, secret);
        } else if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "{} holds the secret",
                path.display()
            );
        }
    }
}
