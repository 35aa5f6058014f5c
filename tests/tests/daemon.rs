//! `kubariumd` end to end: kubectl and kube-rs against the real binary.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kubarium_tests::daemon::Daemon;
use kubarium_tests::{kubectl, kubectls};

#[test]
fn kubectl_version_works_across_versions() {
    let daemon = Daemon::start_on_free_port();
    for kubectl_bin in kubectls() {
        let out = kubectl(
            &kubectl_bin,
            &daemon.kubeconfig(),
            &["version", "-o", "json"],
        );
        let version: serde_json::Value = serde_json::from_str(&out).unwrap();
        let server = version["serverVersion"]["gitVersion"]
            .as_str()
            .unwrap_or_default();
        assert!(
            server.starts_with("v1.33.0+kubarium."),
            "{} saw {server:?}",
            kubectl_bin.display()
        );
        assert_eq!(version["serverVersion"]["major"], "1");
    }
    // The line kubariumd prints for people to try is the one that works.
    let tried: Vec<String> = daemon.stdout.try_iter().collect();
    assert!(
        tried.iter().any(|l| l
            == &format!(
                "Try: kubectl --kubeconfig {} version",
                daemon.kubeconfig().display()
            )),
        "{tried:?}"
    );
}

#[tokio::test]
async fn every_route_demands_the_token() {
    let daemon = Daemon::start_on_free_port();
    let paths = [
        "/version",
        "/healthz",
        "/livez",
        "/readyz",
        "/api",
        "/apis/apps/v1/deployments",
        "/no/such",
    ];

    let mut anonymous = kube::config::Kubeconfig::read_from(daemon.kubeconfig()).unwrap();
    let mut wrong = anonymous.clone();
    anonymous.auth_infos[0].auth_info.as_mut().unwrap().token = None;
    wrong.auth_infos[0].auth_info.as_mut().unwrap().token = Some("not-the-token".to_owned().into());
    for kubeconfig in [anonymous, wrong] {
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        for path in paths {
            let request = http::Request::get(path).body(Vec::new()).unwrap();
            match client.request_text(request).await {
                Err(kube::Error::Api(status)) => {
                    assert_eq!(status.code, 401, "{path}: {status:?}");
                    assert_eq!(status.reason, "Unauthorized", "{path}");
                }
                other => panic!("{path} without a valid token answered {other:?}"),
            }
        }
    }

    let client = daemon.client().await;
    for path in ["/healthz", "/livez", "/readyz"] {
        let request = http::Request::get(path).body(Vec::new()).unwrap();
        assert_eq!(client.request_text(request).await.unwrap(), "ok", "{path}");
    }
}

/// A client certificate for `subject`, PEM with its key, signed by the cluster CA in
/// `data_dir` or, without one, by a CA of its own.
fn client_certificate(
    data_dir: Option<&std::path::Path>,
    subject: &[(rcgen::DnType, &str)],
) -> (String, String) {
    // The issuer's subject must read as the cluster CA's for the chain to verify.
    let mut ca = rcgen::CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "kubarium-ca");
    let ca_key = match data_dir {
        Some(dir) => {
            let pem = std::fs::read_to_string(dir.join("pki/ca.key")).unwrap();
            rcgen::KeyPair::from_pem(&pem).unwrap()
        }
        None => rcgen::KeyPair::generate().unwrap(),
    };
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (kind, value) in subject {
        params.distinguished_name.push(kind.clone(), *value);
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn a_client_certificate_from_the_cluster_ca_is_a_credential() {
    use base64::Engine as _;
    use rcgen::DnType::{CommonName, OrganizationName};
    let daemon = Daemon::start_on_free_port();
    let config = kube::config::Kubeconfig::read_from(daemon.kubeconfig()).unwrap();
    let cluster = config.clusters[0].cluster.clone().unwrap();
    let kubeconfig_with = |name: &str, (cert, key): (String, String)| {
        let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
            cluster.server.clone().unwrap(),
            cluster.certificate_authority_data.clone().unwrap(),
            b64(&cert),
            b64(&key),
        );
        let path = daemon.data_dir().join(name);
        std::fs::write(&path, yaml).unwrap();
        path
    };
    let jane = kubeconfig_with(
        "jane.kubeconfig",
        client_certificate(
            Some(daemon.data_dir()),
            &[(CommonName, "jane"), (OrganizationName, "system:masters")],
        ),
    );
    let nameless = kubeconfig_with(
        "nameless.kubeconfig",
        client_certificate(Some(daemon.data_dir()), &[(OrganizationName, "dev")]),
    );
    let stranger = kubeconfig_with(
        "stranger.kubeconfig",
        client_certificate(None, &[(CommonName, "jane")]),
    );
    for kubectl_bin in kubectls() {
        // No token anywhere: the certificate alone gets jane in.
        let names = kubectl(&kubectl_bin, &jane, &["get", "namespaces", "-o", "name"]);
        assert!(names.contains("namespace/default"), "{names}");
        let refusal = |kubeconfig: &std::path::Path| {
            let output = std::process::Command::new(&kubectl_bin)
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["get", "namespaces"])
                .output()
                .unwrap();
            assert!(!output.status.success());
            String::from_utf8_lossy(&output.stderr).into_owned()
        };
        // A certificate without a common name names no user: 401.
        let stderr = refusal(&nameless);
        assert!(stderr.contains("Unauthorized"), "{stderr}");
        // One the cluster CA did not sign names no one either: 401, as kube-apiserver
        // answers (it asks for a certificate and checks it after the handshake).
        let stderr = refusal(&stranger);
        assert!(stderr.contains("Unauthorized"), "{stderr}");
    }
}

#[test]
fn listens_on_loopback_by_default_and_keeps_the_kubeconfig_private() {
    use std::os::unix::fs::PermissionsExt;
    // No --listen: the default address, 127.0.0.1:6443.
    assert!(
        std::net::TcpListener::bind("127.0.0.1:6443").is_ok(),
        "port 6443 is taken (another cluster on this machine?); this test checks kubariumd's \
         default address, so stop whatever listens there"
    );
    let daemon = Daemon::start(&[]);
    assert_eq!(daemon.url, "https://127.0.0.1:6443");
    let listening = listening_sockets(6443);
    assert_eq!(
        listening,
        vec!["127.0.0.1".to_owned()],
        "sockets listening on 6443"
    );
    let mode = std::fs::metadata(daemon.kubeconfig())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let pki = std::fs::metadata(daemon.data_dir().join("pki"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(pki, 0o700);
}

/// Local addresses of TCP sockets in LISTEN state on `port`, from /proc/net/tcp{,6}.
fn listening_sockets(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let table = std::fs::read_to_string(file).unwrap_or_default();
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((addr, hex_port)) = local.split_once(':') else {
                continue;
            };
            if *state != "0A" || u16::from_str_radix(hex_port, 16) != Ok(port) {
                continue;
            }
            found.push(if v6 {
                format!("v6:{addr}")
            } else {
                let n = u32::from_str_radix(addr, 16).unwrap();
                std::net::Ipv4Addr::from(n.swap_bytes()).to_string()
            });
        }
    }
    found
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut daemon = Daemon::start_on_free_port();
        let port: u16 = daemon.url.rsplit(':').next().unwrap().parse().unwrap();
        let status = daemon.stop_with(signal);
        assert!(status.success(), "SIG{signal}: {status}");
        let logs = daemon.logs();
        assert!(logs.contains(&format!("received SIG{signal}")), "{logs}");
        assert!(logs.contains("cluster stopped"), "{logs}");
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("port released");
    }
}

#[test]
fn a_second_daemon_on_the_same_data_dir_says_which_process_holds_it() {
    let first = Daemon::start_on_free_port();
    let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
    let output = Daemon::command(first.data_dir(), &["--listen", &listen])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "is in use by another Kubarium cluster (process {})",
            first.pid()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let output = Daemon::command(dir.path(), &["--listen", &listen])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {listen}")),
        "{stderr}"
    );
    assert!(stderr.contains("--listen 127.0.0.1:<port>"), "{stderr}");
}

#[tokio::test]
async fn logs_go_to_a_file_and_rust_log_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
    let mut child = Daemon::command(dir.path(), &["--listen", &listen])
        .env("RUST_LOG", "info,kubarium_apiserver=debug")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    kubarium_tests::wait_until("the kubeconfig", Duration::from_secs(20), || {
        kubeconfig.exists().then_some(())
    });
    // One request without credentials: logged at debug level only.
    let mut anonymous = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    anonymous.auth_infos[0].auth_info.as_mut().unwrap().token = None;
    let config = kube::Config::from_custom_kubeconfig(anonymous, &Default::default())
        .await
        .unwrap();
    let _ = kube::Client::try_from(config)
        .unwrap()
        .apiserver_version()
        .await;
    let logs = kubarium_tests::wait_until(
        "the debug line in the log file",
        Duration::from_secs(10),
        || {
            let logs = kubarium_tests::logs(dir.path(), "kubariumd");
            logs.contains("rejected a request without a valid credential")
                .then_some(logs)
        },
    );
    assert!(logs.contains("cluster started"), "{logs}");
    assert!(!logs.contains(&std::fs::read_to_string(dir.path().join("pki/admin.token")).unwrap()));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn bad_flags_get_a_usage_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let output = Daemon::command(dir.path(), &["--runtime", "podman"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'podman'") && stderr.contains("docker, hollow"),
        "{stderr}"
    );
}
