//! Connecting to a remote cluster: a `kube::Client` from its kubeconfig (held in memory
//! only), with exec credential plugins run on the user's login PATH, and the failures of a
//! connection told the way a person can act on them — nothing answers, the certificate does
//! not verify (with its fingerprint), the credentials were refused, the plugin is missing.
//!
//! kube-rs runs exec plugins: when the client is built (up to three times — for the TLS
//! identity, its validity and the token — which plugins that cache their token, as aws, gke
//! and kubelogin do, answer at once), then again on the first request within 60 s of the
//! token's `expirationTimestamp`; a token without an expiry is kept for the client's life
//! (as client-go does). `tests/tests/remote.rs` checks the renewal and the reuse.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use kube::client::AuthError;
use kube::config::{ExecConfig, ExecInteractiveMode, Kubeconfig};
use tokio::sync::OnceCell;

use super::prompt::{self, PluginOutput};
use super::token_file::{TokenFile, TokenFileLayer};
use crate::{Error, Result};

/// How long the login shell may take to print its PATH, and a handshake to fetch a
/// certificate's fingerprint.
const SHELL_TIMEOUT: Duration = Duration::from_secs(5);
const FINGERPRINT_TIMEOUT: Duration = Duration::from_secs(5);

/// What identifies a cluster in messages, and what a failure's explanation needs.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The name the user sees.
    pub(crate) name: String,
    /// The API server URL.
    pub(crate) server: String,
    /// The name to verify the certificate against, when it is not the URL's host.
    pub(crate) tls_server_name: Option<String>,
    /// The exec plugin, if the cluster's user has one.
    pub(crate) exec: Option<ExecConfig>,
}

impl Endpoint {
    /// The endpoint of `kubeconfig`'s current context (its first, if none is current).
    pub(crate) fn of(name: &str, kubeconfig: &Kubeconfig) -> Self {
        let context = kubeconfig
            .contexts
            .iter()
            .find(|c| Some(&c.name) == kubeconfig.current_context.as_ref())
            .or_else(|| kubeconfig.contexts.first())
            .and_then(|c| c.context.as_ref());
        let cluster = context
            .and_then(|c| kubeconfig.clusters.iter().find(|n| n.name == c.cluster))
            .and_then(|n| n.cluster.as_ref());
        let user = context
            .and_then(|c| c.user.as_ref())
            .and_then(|u| kubeconfig.auth_infos.iter().find(|n| &n.name == u))
            .and_then(|n| n.auth_info.as_ref());
        Self {
            name: name.to_owned(),
            server: cluster.and_then(|c| c.server.clone()).unwrap_or_default(),
            tls_server_name: cluster.and_then(|c| c.tls_server_name.clone()),
            exec: user.and_then(|u| u.exec.clone()),
        }
    }
}

/// A client for the cluster `kubeconfig` describes. Runs its exec plugin, if it has one (on
/// a blocking thread: kube-rs runs it synchronously), so a missing or failing plugin is
/// reported here. With `output` (Unix), the plugin's stderr goes to that file, emptied
/// before the build and after it, so [`super::prompt::follow`] can show its prompts live.
pub(crate) async fn client(
    name: &str,
    mut kubeconfig: Kubeconfig,
    output: Option<&PluginOutput>,
) -> Result<kube::Client> {
    // Taken before the plugin is wrapped, so messages name the plugin, not the wrapper.
    let endpoint = Endpoint::of(name, &kubeconfig);
    let runs_plugin = kubeconfig
        .auth_infos
        .iter()
        .any(|n| n.auth_info.as_ref().is_some_and(|a| a.exec.is_some()));
    let output = match output.filter(|_| runs_plugin).map(|o| (o, o.reset())) {
        Some((output, Ok(()))) => Some(output),
        Some((output, Err(error))) => {
            tracing::warn!(file = %output.path().display(), %error, "the exec plugin's output file could not be prepared; its prompts are not shown");
            None
        }
        None => None,
    };
    prepare_exec(&mut kubeconfig, &endpoint, output).await?;
    let token_file = match take_token_file(&mut kubeconfig) {
        Some(path) => Some(TokenFile::open(&path).map_err(|reason| {
            Error::Local(format!(
                "the token file {path} of {name} cannot be read ({reason}); check that it exists and holds the token"
            ))
        })?),
        None => None,
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| {
            Error::Local(format!(
                "the kubeconfig of {name} cannot be used: {e}; import it again, or add the cluster by hand"
            ))
        })?;
    let built = tokio::task::spawn_blocking(move || match token_file {
        Some(file) => crate::retry::client_with(config, &TokenFileLayer(file)),
        None => crate::retry::client(config),
    })
    .await
    .map_err(|e| Error::Local(format!("connecting to {name} failed: {e}")))?;
    let said = match output {
        Some(output) => {
            let output = output.clone();
            tokio::task::spawn_blocking(move || {
                let said = output.read();
                let _ = output.reset();
                said
            })
            .await
            .unwrap_or_default()
        }
        None => String::new(),
    };
    match built {
        Ok(client) => Ok(client),
        Err(error) => Err(explain(&endpoint, error, prompt::said(&said)).await),
    }
}

/// The `tokenFile` of the users without an inline token (which takes precedence, as in
/// kube-rs and client-go), taken out so that [`TokenFileLayer`] reads it instead of kube-rs.
fn take_token_file(kubeconfig: &mut Kubeconfig) -> Option<String> {
    kubeconfig
        .auth_infos
        .iter_mut()
        .filter_map(|n| n.auth_info.as_mut())
        .filter_map(|auth| match auth.token {
            Some(_) => None,
            None => auth.token_file.take(),
        })
        .next()
}

/// Runs every exec plugin on the login PATH, with no terminal: a desktop app has none, so
/// the plugin's stderr (its prompts and failures) is captured — into `output` when given,
/// through the [`prompt::WRAPPER`] (which needs the plugin found first: a missing one is
/// reported here, naming it).
async fn prepare_exec(
    kubeconfig: &mut Kubeconfig,
    endpoint: &Endpoint,
    output: Option<&PluginOutput>,
) -> Result<()> {
    let login = login_path().await;
    for exec in kubeconfig
        .auth_infos
        .iter_mut()
        .filter_map(|n| n.auth_info.as_mut())
        .filter_map(|a| a.exec.as_mut())
    {
        exec.interactive_mode = Some(ExecInteractiveMode::Never);
        let env = exec.env.get_or_insert_with(Vec::new);
        let own_path = env
            .iter()
            .find(|var| var.get("name").is_some_and(|n| n == "PATH"))
            .and_then(|var| var.get("value").cloned());
        let path = match (own_path, login) {
            (Some(path), _) => Some(path),
            (None, Some(path)) => {
                // On Unix a PATH in the command's environment is also where the program is
                // looked up, so `aws` or `kubelogin` installed by the user's shell profile is
                // found.
                env.push(variable("PATH", path));
                Some(path.to_owned())
            }
            (None, None) => None,
        };
        #[cfg(unix)]
        if let Some(output) = output
            && let Some(command) = exec.command.clone()
        {
            let Some(program) = prompt::resolve(&command, path.as_deref().unwrap_or_default())
            else {
                return Err(Error::ExecPlugin(missing_plugin(
                    endpoint,
                    path.as_deref().unwrap_or("(no PATH)"),
                )));
            };
            let mut args = vec![
                "-c".to_owned(),
                prompt::WRAPPER.to_owned(),
                program.to_string_lossy().into_owned(),
            ];
            args.extend(exec.args.take().unwrap_or_default());
            exec.command = Some("/bin/sh".to_owned());
            exec.args = Some(args);
            let file = output.path().to_string_lossy();
            exec.env
                .get_or_insert_with(Vec::new)
                .push(variable(prompt::STDERR_VAR, &file));
        }
        #[cfg(not(unix))]
        let _ = (endpoint, output, path);
    }
    Ok(())
}

/// An exec plugin's environment variable, as the kubeconfig spells it.
fn variable(name: &str, value: &str) -> std::collections::HashMap<String, String> {
    [("name", name), ("value", value)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The user's login PATH, as their terminal has it (apps started from a desktop session
/// often get a shorter one): asked of `$SHELL -lc` once, falling back to this process's.
pub(crate) async fn login_path() -> Option<&'static str> {
    static PATH: OnceCell<Option<String>> = OnceCell::const_new();
    PATH.get_or_init(|| async {
        match ask_login_shell().await {
            Some(path) => Some(path),
            None => std::env::var("PATH").ok(),
        }
    })
    .await
    .as_deref()
}

async fn ask_login_shell() -> Option<String> {
    const MARK: &str = "__kubarium_path__";
    let shell = std::env::var("SHELL").ok().filter(|s| !s.is_empty())?;
    let mut command = tokio::process::Command::new(&shell);
    command
        .args(["-lc", &format!("printf '{MARK}%s' \"$PATH\"")])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(SHELL_TIMEOUT, command.output()).await {
        Ok(Ok(output)) if output.status.success() => output,
        Ok(Ok(output)) => {
            tracing::warn!(%shell, status = %output.status, "the login shell failed; exec plugins use the app's PATH");
            return None;
        }
        Ok(Err(error)) => {
            tracing::warn!(%shell, %error, "the login shell did not start; exec plugins use the app's PATH");
            return None;
        }
        Err(_) => {
            tracing::warn!(%shell, "the login shell did not print its PATH in time; exec plugins use the app's PATH");
            return None;
        }
    };
    // A profile may print to stdout too; the PATH is what follows the mark.
    let text = String::from_utf8_lossy(&output.stdout);
    let path = text.rsplit_once(MARK)?.1.trim();
    (!path.is_empty()).then(|| path.to_owned())
}

/// Turns a failure talking to `endpoint` into the error that says what happened: the
/// plugin (quoting `said`, what it wrote to its output file), 401, TLS (fetching the
/// certificate's fingerprint), unreachable; else as it came.
pub(crate) async fn explain(endpoint: &Endpoint, error: kube::Error, said: &str) -> Error {
    if let kube::Error::Api(status) = &error
        && status.code == 401
    {
        return Error::Unauthorized {
            cluster: endpoint.name.clone(),
        };
    }
    let path = login_path().await.unwrap_or("(no PATH)");
    if let Some(message) = causes(&error)
        .find_map(|e| e.downcast_ref::<AuthError>())
        .map(|auth| exec_failure(endpoint, auth, path, said))
    {
        return Error::ExecPlugin(message);
    }
    if let Some(reason) = tls_failure(&error) {
        let fingerprint = fingerprint(&endpoint.server, endpoint.tls_server_name.as_deref()).await;
        return Error::Tls {
            server: endpoint.server.clone(),
            reason,
            fingerprint,
        };
    }
    if let Some(reason) = connect_failure(&error) {
        return Error::Unreachable {
            server: endpoint.server.clone(),
            reason,
        };
    }
    Error::Kube(error)
}

/// What went wrong running the plugin, naming it and what to do.
fn exec_failure(endpoint: &Endpoint, error: &AuthError, path: &str, said: &str) -> String {
    let command = endpoint
        .exec
        .as_ref()
        .and_then(|e| e.command.clone())
        .unwrap_or_else(|| "(none)".to_owned());
    match error {
        AuthError::AuthExecStart(io) if io.kind() == std::io::ErrorKind::NotFound => {
            missing_plugin(endpoint, path)
        }
        AuthError::AuthExecStart(io) => format!(
            "The exec credential plugin {command:?} of {} could not start: {io}. Check that it is executable.",
            endpoint.name
        ),
        AuthError::AuthExecRun { out, .. } => {
            // Without the wrapper the plugin's stderr is in `out`; with it, in `said`.
            let stderr = format!("{}\n{said}", String::from_utf8_lossy(&out.stderr));
            let stderr: String = stderr.trim().chars().take(2000).collect();
            format!(
                "The exec credential plugin {command:?} of {} failed ({}){}. Run it in a terminal to sign in or see why, then try again.",
                endpoint.name,
                out.status,
                if stderr.is_empty() {
                    String::new()
                } else {
                    format!("; it said: {stderr}")
                }
            )
        }
        AuthError::AuthExecParse(e) => format!(
            "The exec credential plugin {command:?} of {} printed something that is not an ExecCredential ({e}); check its version and arguments.",
            endpoint.name
        ),
        other => format!(
            "The credentials of {} could not be obtained from the exec plugin {command:?}: {other}.",
            endpoint.name
        ),
    }
}

/// The plugin is not on `path`: which one, for which cluster, and how to install it.
fn missing_plugin(endpoint: &Endpoint, path: &str) -> String {
    let command = endpoint
        .exec
        .as_ref()
        .and_then(|e| e.command.clone())
        .unwrap_or_else(|| "(none)".to_owned());
    let hint = endpoint
        .exec
        .as_ref()
        .and_then(|e| e.install_hint.clone())
        .unwrap_or_else(|| install_hint(&command));
    format!(
        "The exec credential plugin {command:?} that {} needs is not installed: it is not found on your login PATH ({path}). {}",
        endpoint.name,
        hint.trim()
    )
}

/// How to install a well-known plugin.
fn install_hint(command: &str) -> String {
    let program = command.rsplit('/').next().unwrap_or(command);
    match program {
        "aws" => "Install the AWS CLI v2 (https://aws.amazon.com/cli/), then sign in with `aws sso login` or `aws configure`.".to_owned(),
        "gke-gcloud-auth-plugin" => "Install it with `gcloud components install gke-gcloud-auth-plugin` (https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl).".to_owned(),
        "kubelogin" => "Install kubelogin (https://azure.github.io/kubelogin/install.html), e.g. `az aks install-cli`.".to_owned(),
        "kubectl" => "Install kubectl and its oidc-login plugin (`kubectl krew install oidc-login`).".to_owned(),
        "aws-iam-authenticator" => "Install aws-iam-authenticator (https://github.com/kubernetes-sigs/aws-iam-authenticator).".to_owned(),
        _ => format!("Install {program}, or put its full path in the kubeconfig's exec command, then import it again."),
    }
}

/// Every error in `error`'s chain, looking inside `io::Error`s (whose `source` skips the
/// error they wrap).
fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e: &&'a (dyn StdError + 'static)| {
        match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        }
    })
}

/// The credential plugin's failure, if getting credentials is what failed.
pub(crate) fn auth_failure(error: &kube::Error) -> Option<String> {
    causes(error).find_map(|e| {
        e.downcast_ref::<AuthError>().map(|auth| match auth {
            // Its Display has the plugin's stdout, which may hold a credential, and `cmd` has
            // its environment, which may hold secret values.
            AuthError::AuthExecRun { out, .. } => format!(
                "the exec plugin failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            other => other.to_string(),
        })
    })
}

/// Why the server's certificate did not verify, if that is what failed.
pub(crate) fn tls_failure(error: &kube::Error) -> Option<String> {
    causes(error).find_map(|e| match e.downcast_ref::<rustls::Error>() {
        Some(
            tls @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::InvalidCertRevocationList(_)
            | rustls::Error::NoCertificatesPresented),
        ) => Some(tls.to_string()),
        _ => None,
    })
}

/// Why nothing answered, if the connection itself failed (refused, timed out, no route,
/// no such host).
pub(crate) fn connect_failure(error: &kube::Error) -> Option<String> {
    use std::io::ErrorKind::*;
    let mut found = false;
    let mut reason = None;
    for cause in causes(error) {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
                    | AddrNotAvailable
            )
        {
            found = true;
        }
        let text = cause.to_string();
        if [
            "dns error",
            "tcp connect error",
            "failed to lookup address",
            "elapsed",
            "timed out",
        ]
        .iter()
        .any(|needle| text.contains(needle))
        {
            found = true;
        }
        reason = Some(text);
    }
    // The innermost error is the most specific ("Connection refused (os error 111)").
    found.then(|| reason.unwrap_or_default())
}

/// The SHA-256 fingerprint of the certificate `server` presents, as `AB:CD:…`, fetched with a
/// handshake that accepts any certificate — only to show the user what they would trust.
pub(crate) async fn fingerprint(server: &str, tls_server_name: Option<&str>) -> Option<String> {
    let (host, port) = host_port(server)?;
    let name = tls_server_name.unwrap_or(&host).to_owned();
    let name = rustls_pki_types::ServerName::try_from(name).ok()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .ok()?;
        let tls = connector.connect(name, tcp).await.ok()?;
        let (_, session) = tls.get_ref();
        let der = session.peer_certificates()?.first()?.clone();
        Some(der)
    };
    let der = tokio::time::timeout(FINGERPRINT_TIMEOUT, handshake)
        .await
        .ok()??;
    Some(sha256_fingerprint(&der))
}

/// `AB:CD:…`, as browsers and `openssl x509 -fingerprint -sha256` show it.
pub(crate) fn sha256_fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The host and port of an `https://host:port/path` URL (443 by default).
fn host_port(server: &str) -> Option<(String, u16)> {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = rest.strip_prefix(':').map_or(Ok(443), str::parse).ok()?;
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), 443)),
    }
}

/// Accepts every certificate: used only by [`fingerprint`], which sends nothing over the
/// connection and closes it after the handshake.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls_pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls_pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_the_server_url() {
        assert_eq!(
            host_port("https://127.0.0.1:6443"),
            Some(("127.0.0.1".to_owned(), 6443))
        );
        assert_eq!(
            host_port("https://api.example.com/prefix"),
            Some(("api.example.com".to_owned(), 443))
        );
        assert_eq!(
            host_port("https://[::1]:8443"),
            Some(("::1".to_owned(), 8443))
        );
    }

    #[test]
    fn fingerprints_are_colon_separated_sha256() {
        let fingerprint = sha256_fingerprint(b"");
        assert_eq!(
            fingerprint,
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55"
        );
    }

    #[test]
    fn well_known_plugins_say_how_to_install_them() {
        assert!(
            install_hint("/usr/local/bin/gke-gcloud-auth-plugin")
                .contains("gcloud components install")
        );
        assert!(install_hint("my-plugin").starts_with("Install my-plugin"));
    }

    #[tokio::test]
    async fn a_missing_plugin_is_named_with_its_install_hint() {
        let kubeconfig = Kubeconfig::from_yaml(
            r#"
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: kubarium-no-such-plugin, installHint: "Get it from the wiki."}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"#,
        )
        .unwrap();
        let (_dir, outputs) = outputs();
        for output in outputs {
            let Err(error) = client("x", kubeconfig.clone(), output.as_ref()).await else {
                panic!("a missing plugin connected");
            };
            let message = error.to_string();
            assert!(matches!(error, Error::ExecPlugin(_)), "{error:?}");
            assert!(message.contains("\"kubarium-no-such-plugin\""), "{message}");
            assert!(message.contains("Get it from the wiki."), "{message}");
        }
    }

    /// No output file (kube-rs captures stderr), and one (the wrapper writes it there).
    fn outputs() -> (tempfile::TempDir, Vec<Option<PluginOutput>>) {
        let dir = tempfile::tempdir().unwrap();
        let prompts = prompt::PromptDir::open(dir.path().join("plugin-output")).unwrap();
        (dir, vec![None, Some(prompts.file(1))])
    }

    #[tokio::test]
    async fn a_failing_plugin_says_what_it_printed() {
        let kubeconfig = Kubeconfig::from_yaml(
            r#"
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: sh, args: ["-c", "echo please sign in first >&2; exit 3"]}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"#,
        )
        .unwrap();
        let (_dir, outputs) = outputs();
        for output in outputs {
            let Err(error) = client("x", kubeconfig.clone(), output.as_ref()).await else {
                panic!("a failing plugin connected");
            };
            let message = error.to_string();
            assert!(message.contains("please sign in first"), "{message}");
            assert!(message.contains("exit status: 3"), "{message}");
            if let Some(output) = output {
                assert_eq!(
                    output.read(),
                    "",
                    "the output file is emptied after the build"
                );
            }
        }
    }
}
