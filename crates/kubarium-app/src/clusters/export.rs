//! The local cluster's kubeconfig for other tools, only when the user asks: as text to copy,
//! exported to a new file, or merged into their kubeconfig as the context `kubarium` (with a
//! backup of the file first). Nothing here runs on its own.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;
use serde_json::{Map, Value};

use crate::ipc::clusters::MergeOutcome;
use crate::{Error, Result};

/// The name of the cluster, user and context entries a merge adds.
const NAME: &str = "kubarium";

/// `kubeconfig` as YAML, as kubectl reads it.
pub(crate) fn yaml(kubeconfig: &Kubeconfig) -> Result<String> {
    serde_saphyr::to_string(kubeconfig)
        .map_err(|e| Error::Local(format!("the kubeconfig could not be written as YAML: {e}")))
}

/// `path` with a leading `~/` made the home folder.
pub(crate) fn expand_home(path: &str) -> Result<PathBuf> {
    match path.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().map(|home| home.join(rest)).ok_or_else(|| {
            Error::Local(
                "this user has no home folder to put ~ in; give the full path instead".to_owned(),
            )
        }),
        None if path.trim().is_empty() => Err(Error::Local(
            "no file name was given; type the path to export the kubeconfig to".to_owned(),
        )),
        None => Ok(PathBuf::from(path)),
    }
}

/// Writes `kubeconfig` to a new file at `path` (0600: it holds the admin token); returns the
/// path written. An existing file is never overwritten.
pub(crate) fn export(kubeconfig: &Kubeconfig, path: &str) -> Result<String> {
    let path = expand_home(path)?;
    let text = yaml(kubeconfig)?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Local(format!(
            "{} already exists and was left as it is; choose another file name, or merge into it instead",
            path.display()
        )),
        std::io::ErrorKind::NotFound => Error::Local(format!(
            "the folder of {} does not exist; create it or choose another path",
            path.display()
        )),
        _ => Error::Local(format!("{} could not be created: {e}", path.display())),
    })?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::Local(format!("{} could not be written: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// The kubeconfig kubectl reads first: the first `KUBECONFIG` path, else `~/.kube/config`.
pub(crate) fn user_kubeconfig_path() -> Result<PathBuf> {
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .as_deref()
        .and_then(|paths| std::env::split_paths(paths).find(|p| !p.as_os_str().is_empty()))
    {
        return Ok(first);
    }
    dirs::home_dir()
        .map(|home| home.join(".kube").join("config"))
        .ok_or_else(|| {
            Error::Local(
                "this user has no home folder, so there is no ~/.kube/config; set KUBECONFIG"
                    .to_owned(),
            )
        })
}

/// Adds (or replaces) the cluster, user and context `kubarium` in the kubeconfig at `path`,
/// keeping everything else and its current context; saves the file as it was to
/// `<path>.kubarium-backup` first. A new file gets `kubarium` as its current context.
pub(crate) fn merge(kubeconfig: &Kubeconfig, path: &Path) -> Result<MergeOutcome> {
    let shown = path.display();
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::Local(format!("{shown} could not be read: {e}"))),
    };
    let mut document = match &existing {
        Some(text) if !text.trim().is_empty() => match serde_saphyr::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) | Err(_) => {
                return Err(Error::Local(format!(
                    "{shown} is not a kubeconfig Kubarium can read, so it was left as it is; fix it, or export to a new file instead"
                )));
            }
        },
        _ => Map::new(),
    };
    let ours = serde_json::to_value(kubeconfig)
        .map_err(|e| Error::Local(format!("the local kubeconfig could not be read: {e}")))?;
    let entry = |key: &str, inner: &str| -> Value {
        let mut value = ours
            .get(key)
            .and_then(Value::as_array)
            .and_then(|items| items.first())
            .and_then(|item| item.get(inner))
            .cloned()
            .unwrap_or(Value::Null);
        if inner == "context"
            && let Some(context) = value.as_object_mut()
        {
            context.insert("cluster".to_owned(), NAME.into());
            context.insert("user".to_owned(), NAME.into());
        }
        serde_json::json!({ "name": NAME, inner: value })
    };
    for (key, inner) in [
        ("clusters", "cluster"),
        ("users", "user"),
        ("contexts", "context"),
    ] {
        let new = entry(key, inner);
        let list = document
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let Some(items) = list.as_array_mut() {
            match items
                .iter_mut()
                .find(|item| item.get("name").and_then(Value::as_str) == Some(NAME))
            {
                Some(item) => *item = new,
                None => items.push(new),
            }
        }
    }
    document.entry("apiVersion").or_insert_with(|| "v1".into());
    document.entry("kind").or_insert_with(|| "Config".into());
    if existing.as_deref().is_none_or(|t| t.trim().is_empty()) {
        document.insert("current-context".to_owned(), NAME.into());
    }
    let text = serde_saphyr::to_string(&Value::Object(document))
        .map_err(|e| Error::Local(format!("the merged kubeconfig could not be written: {e}")))?;

    let backup = match &existing {
        Some(old) => {
            let backup = PathBuf::from(format!("{}.kubarium-backup", path.display()));
            write_private(&backup, old.as_bytes())?;
            Some(backup.display().to_string())
        }
        None => None,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::Local(format!(
                "the folder {} could not be created: {e}",
                parent.display()
            ))
        })?;
    }
    write_private(path, text.as_bytes())?;
    Ok(MergeOutcome {
        path: path.display().to_string(),
        context: NAME.to_owned(),
        backup,
    })
}

/// Replaces `path` with `contents` atomically (a temp file beside it, then a rename), 0600.
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let failed = |e: std::io::Error| {
        Error::Local(format!(
            "{} could not be written: {e}; it is unchanged",
            path.display()
        ))
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&tmp)
        .and_then(|mut file| file.write_all(contents).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Kubeconfig {
        Kubeconfig::from_yaml(
            r#"
apiVersion: v1
kind: Config
clusters: [{name: kubarium, cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: Q0E=}}]
users: [{name: kubarium-admin, user: {token: local-token}}]
contexts: [{name: kubarium, context: {cluster: kubarium, user: kubarium-admin, namespace: default}}]
current-context: kubarium
"#,
        )
        .unwrap()
    }

    #[test]
    fn merge_keeps_other_contexts_and_the_current_one_and_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let before = r#"apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://prod:6443"}
- name: kubarium
  cluster: {server: "https://old:1"}
users:
- name: prod-admin
  user: {token: prod-token}
contexts:
- name: prod
  context: {cluster: prod, user: prod-admin}
current-context: prod
"#;
        std::fs::write(&path, before).unwrap();
        let outcome = merge(&local(), &path).unwrap();
        assert_eq!(outcome.context, "kubarium");
        let backup = outcome.backup.unwrap();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), before);

        let merged = Kubeconfig::read_from(&path).unwrap();
        assert_eq!(merged.current_context.as_deref(), Some("prod"));
        let names = |v: Vec<String>| v.join(",");
        assert_eq!(
            names(merged.clusters.iter().map(|c| c.name.clone()).collect()),
            "prod,kubarium"
        );
        assert_eq!(
            names(merged.auth_infos.iter().map(|c| c.name.clone()).collect()),
            "prod-admin,kubarium"
        );
        let ours = merged
            .clusters
            .iter()
            .find(|c| c.name == "kubarium")
            .unwrap();
        assert_eq!(
            ours.cluster.as_ref().unwrap().server.as_deref(),
            Some("https://127.0.0.1:6443")
        );
        let context = merged
            .contexts
            .iter()
            .find(|c| c.name == "kubarium")
            .unwrap();
        let context = context.context.as_ref().unwrap();
        assert_eq!(
            (context.cluster.as_str(), context.user.as_deref()),
            ("kubarium", Some("kubarium"))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Merging again replaces, and adds nothing.
        merge(&local(), &path).unwrap();
        assert_eq!(Kubeconfig::read_from(&path).unwrap().contexts.len(), 2);
    }

    #[test]
    fn merge_into_a_new_file_makes_it_current() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".kube/config");
        let outcome = merge(&local(), &path).unwrap();
        assert_eq!(outcome.backup, None);
        let merged = Kubeconfig::read_from(&path).unwrap();
        assert_eq!(merged.current_context.as_deref(), Some("kubarium"));
    }

    #[test]
    fn merge_refuses_a_file_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "- just\n- a list\n").unwrap();
        let error = merge(&local(), &path).unwrap_err().to_string();
        assert!(error.contains("left as it is"), "{error}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "- just\n- a list\n"
        );
    }

    #[test]
    fn export_writes_a_new_private_file_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubarium.kubeconfig");
        let written = export(&local(), path.to_str().unwrap()).unwrap();
        let read = Kubeconfig::read_from(&written).unwrap();
        assert_eq!(read.current_context.as_deref(), Some("kubarium"));
        let error = export(&local(), path.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("already exists"), "{error}");
        assert!(expand_home("~/x").unwrap().ends_with("x"));
        assert!(expand_home("~/x").unwrap().is_absolute());
    }
}
