//! Volumes that live outside the pod's directory: `hostPath` (with the kubelet's type
//! checks and their messages) and `persistentVolumeClaim` (the bound PersistentVolume's
//! hostPath or local path, where the volumes controller's provisioner made it).

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kubarium_controllers::objects::Objects;
use kube::Client;

/// Checks (and for the `…OrCreate` types, makes) `path` as `hostPath.type` says.
pub(crate) fn check_type(path: &Path, kind: Option<&str>) -> Result<(), String> {
    let shown = path.display();
    let meta = fs::metadata(path);
    let exists = meta.is_ok();
    let file_type = meta.as_ref().map(fs::Metadata::file_type).ok();
    let is = |test: fn(&fs::FileType) -> bool| file_type.as_ref().is_some_and(test);
    match kind.unwrap_or_default() {
        // No check; a missing path becomes a directory, as container runtimes make
        // missing bind-mount sources.
        "" => {
            if !exists {
                fs::create_dir_all(path).map_err(|e| format!("mkdir {shown}: {e}"))?;
            }
        }
        "DirectoryOrCreate" if !exists => {
            fs::create_dir_all(path).map_err(|e| format!("mkdir {shown}: {e}"))?;
            set_mode(path, 0o755)?;
        }
        "DirectoryOrCreate" | "Directory" => {
            if !is(fs::FileType::is_dir) {
                return Err(format!(
                    "hostPath type check failed: {shown} is not a directory"
                ));
            }
        }
        "FileOrCreate" if !exists => {
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(|e| format!("open {shown}: {e}"))?;
            set_mode(path, 0o644)?;
        }
        "FileOrCreate" | "File" => {
            if !is(fs::FileType::is_file) {
                return Err(format!("hostPath type check failed: {shown} is not a file"));
            }
        }
        "Socket" => {
            if !is(FileTypeExt::is_socket) {
                return Err(format!(
                    "hostPath type check failed: {shown} is not a socket file"
                ));
            }
        }
        "CharDevice" => {
            if !is(FileTypeExt::is_char_device) {
                return Err(format!(
                    "hostPath type check failed: {shown} is not a character device"
                ));
            }
        }
        "BlockDevice" => {
            if !is(FileTypeExt::is_block_device) {
                return Err(format!(
                    "hostPath type check failed: {shown} is not a block device"
                ));
            }
        }
        other => return Err(format!("{other} is an invalid volume type")),
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// The host directory behind claim `namespace/name`: its bound volume's `hostPath.path`
/// or `local.path`, made if missing.
pub(crate) async fn claim_path(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<PathBuf, String> {
    let claims = Objects::<PersistentVolumeClaim>::namespaced(client.clone(), namespace);
    let claim = match claims.get_opt(name).await {
        Ok(Some(claim)) => claim,
        Ok(None) => return Err(format!("persistentvolumeclaim {name:?} not found")),
        Err(error) => return Err(format!("error getting PVC {namespace}/{name}: {error}")),
    };
    let phase = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    if phase != "Bound" || volume.is_empty() {
        return Err(format!(
            "PVC {namespace}/{name} has non-bound phase ({phase:?}) or empty pvc.Spec.VolumeName ({volume:?})"
        ));
    }
    let volumes = Objects::<PersistentVolume>::all(client.clone());
    let pv = match volumes.get_opt(&volume).await {
        Ok(Some(pv)) => pv,
        Ok(None) => return Err(format!("persistentvolume {volume:?} not found")),
        Err(error) => return Err(format!("error getting PV {volume}: {error}")),
    };
    let spec = pv.spec.unwrap_or_default();
    let path = spec
        .host_path
        .map(|h| h.path)
        .or_else(|| spec.local.map(|l| l.path))
        .ok_or_else(|| {
            format!(
                "persistentvolume {volume:?} is neither a hostPath nor a local volume, which is all this node can mount"
            )
        })?;
    let path = PathBuf::from(path);
    if !path.exists() {
        fs::create_dir_all(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_with_the_kubelets_messages() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let missing = dir.path().join("missing");
        assert_eq!(
            check_type(&file, Some("Directory")).unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a directory",
                file.display()
            )
        );
        assert_eq!(
            check_type(&missing, Some("Directory")).unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a directory",
                missing.display()
            )
        );
        assert_eq!(
            check_type(dir.path(), Some("File")).unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a file",
                dir.path().display()
            )
        );
        assert_eq!(
            check_type(&file, Some("Socket")).unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a socket file",
                file.display()
            )
        );
        assert_eq!(
            check_type(&file, Some("Weird")).unwrap_err(),
            "Weird is an invalid volume type"
        );
        check_type(&file, Some("File")).unwrap();
        check_type(dir.path(), Some("Directory")).unwrap();
        check_type(&missing, Some("DirectoryOrCreate")).unwrap();
        assert!(missing.is_dir());
        let created = dir.path().join("created");
        check_type(&created, Some("FileOrCreate")).unwrap();
        assert!(created.is_file());
        check_type(&dir.path().join("plain"), None).unwrap();
    }
}
