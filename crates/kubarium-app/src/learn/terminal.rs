//! What Learn mode's kubectl terminal runs: the user's shell on their login PATH, with
//! `KUBECONFIG` pointing at a private copy of the local cluster's kubeconfig whose context
//! has the lesson's namespace, so `kubectl get pods` lists the lesson's pods as it would on a
//! cluster the user set up themselves. Unix only, as the terminal is.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use crate::streams::TerminalCommand;
use crate::{Error, LocalCluster, Result};

/// Where installing kubectl is explained.
const INSTALL_KUBECTL: &str = "https://kubernetes.io/docs/tasks/tools/";

/// The terminal's command for the local cluster, in `namespace` (`None`: `default`), running
/// `shell` (else the user's).
pub(crate) async fn command(
    local: &LocalCluster,
    namespace: Option<&str>,
    shell: Option<PathBuf>,
) -> Result<TerminalCommand> {
    if let Some(namespace) = namespace
        && !is_dns_label(namespace)
    {
        return Err(Error::Local(format!(
            "{namespace:?} is not a namespace name (lowercase letters, digits and dashes); open the terminal with another."
        )));
    }
    let kubeconfig = with_namespace(local.kubeconfig().await?, namespace);
    let file = local.data_dir().join("terminal").join(match namespace {
        Some(namespace) => format!("kubeconfig-{namespace}"),
        None => "kubeconfig".to_owned(),
    });
    write_private(&file, &kubeconfig)?;
    let path = crate::clusters::connect::login_path().await;
    let mut env = vec![
        ("KUBECONFIG".to_owned(), file.display().to_string()),
        ("TERM".to_owned(), "xterm-256color".to_owned()),
    ];
    if let Some(path) = path {
        env.push(("PATH".to_owned(), path.to_owned()));
    }
    let notice = (!on_path("kubectl", path)).then(|| {
        format!(
            "kubectl is not installed here (not found on your PATH). Install it ({INSTALL_KUBECTL}), then open the terminal again; this shell already points at the local cluster.\r\n"
        )
    });
    Ok(TerminalCommand {
        program: shell.unwrap_or_else(user_shell),
        args: Vec::new(),
        env,
        cwd: dirs::home_dir(),
        notice,
    })
}

/// `$SHELL`, else bash, else sh.
pub(crate) fn user_shell() -> PathBuf {
    std::env::var_os("SHELL")
        .filter(|shell| !shell.is_empty())
        .map(PathBuf::from)
        .filter(|shell| shell.is_file())
        .or_else(|| {
            let bash = PathBuf::from("/bin/bash");
            bash.is_file().then_some(bash)
        })
        .unwrap_or_else(|| PathBuf::from("/bin/sh"))
}

/// `config` with its current context in `namespace`.
pub(crate) fn with_namespace(mut config: Kubeconfig, namespace: Option<&str>) -> Kubeconfig {
    let current = config.current_context.clone();
    for named in &mut config.contexts {
        if Some(&named.name) == current.as_ref()
            && let Some(context) = named.context.as_mut()
        {
            context.namespace = namespace.map(str::to_owned);
        }
    }
    config
}

/// Writes the kubeconfig (it holds the admin token) readable by the user alone.
fn write_private(file: &Path, config: &Kubeconfig) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| cannot_write(file, &e))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| cannot_write(dir, &e))?;
    }
    kubarium_cluster::kubeconfig::write(file, config).map_err(|e| cannot_write(file, &e))
}

fn cannot_write(path: &Path, error: &dyn std::fmt::Display) -> Error {
    Error::Local(format!(
        "The terminal's kubeconfig could not be written to {}: {error}. Check that the data folder is writable, then open the terminal again.",
        path.display()
    ))
}

/// Whether an executable `program` is in one of `path`'s folders.
pub(crate) fn on_path(program: &str, path: Option<&str>) -> bool {
    let Some(path) = path else {
        return false;
    };
    std::env::split_paths(path).any(|dir| is_executable(&dir.join(program)))
}

fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A Kubernetes namespace name: a DNS label.
fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}
