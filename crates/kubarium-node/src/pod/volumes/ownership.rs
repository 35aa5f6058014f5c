//! A pod's `fsGroup` on the volumes the agent writes, as the kubelet's
//! `SetVolumeOwnership`: every file and directory of the volume becomes of group `fsGroup`,
//! files gain group read and write (read only for read-only volumes: configMap, secret,
//! downwardAPI, projected), directories also group execute and setgid, so what a container
//! writes there later is of that group too. Symlinks change group, never mode. With
//! `fsGroupChangePolicy: OnRootMismatch` a volume whose root already has the group and the
//! bits is left alone. hostPath volumes and claims are never changed (as upstream's
//! hostPath plugin).
//!
//! Changing a file's group to one the agent's user is not in takes root (the kubelet always
//! has it); an agent without it keeps the files as they are and says so once per volume,
//! rather than failing every pod that names an `fsGroup`. The containers get the group
//! either way.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown};
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

/// Group read and write, for files of a writable volume.
const READ_WRITE: u32 = 0o660;
/// Group read, for files of a read-only volume.
const READ_ONLY: u32 = 0o440;
/// Group search, added on directories.
const SEARCH: u32 = 0o110;
/// The setgid bit: files made in the directory get its group.
const SETGID: u32 = 0o2000;

/// A pod's `fsGroup` and how eagerly it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsGroup {
    /// The group id.
    pub(crate) gid: u32,
    /// `fsGroupChangePolicy: OnRootMismatch`.
    pub(crate) on_root_mismatch: bool,
}

impl FsGroup {
    /// The pod's `securityContext.fsGroup`, if it has one that is a valid group id.
    pub(crate) fn of(pod: &Pod) -> Option<Self> {
        let context = pod.spec.as_ref()?.security_context.as_ref()?;
        let gid = u32::try_from(context.fs_group?).ok()?;
        Some(Self {
            gid,
            on_root_mismatch: context.fs_group_change_policy.as_deref() == Some("OnRootMismatch"),
        })
    }

    /// The mode a file of a read-only volume is written with: its own, group read added.
    pub(crate) fn file_mode(self, mode: u32) -> u32 {
        mode | READ_ONLY
    }

    /// The bits added to an entry: `READ_WRITE` or `READ_ONLY`, plus search and setgid on
    /// directories.
    fn mask(read_only: bool, dir: bool) -> u32 {
        let mask = if read_only { READ_ONLY } else { READ_WRITE };
        if dir { mask | SEARCH | SETGID } else { mask }
    }

    /// Applies the group to `root` and everything under it (without following symlinks).
    pub(crate) fn apply(self, root: &Path, read_only: bool) -> io::Result<()> {
        if self.on_root_mismatch {
            let meta = fs::metadata(root)?;
            let mask = Self::mask(read_only, true);
            if meta.gid() == self.gid && meta.mode() & mask == mask {
                return Ok(());
            }
        }
        let mut stack = vec![root.to_path_buf()];
        while let Some(path) = stack.pop() {
            let meta = fs::symlink_metadata(&path)?;
            lchown(&path, None, Some(self.gid))?;
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode() & 0o7777;
            let wanted = mode | Self::mask(read_only, meta.is_dir());
            if wanted != mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(wanted))?;
            }
            if meta.is_dir() {
                for entry in fs::read_dir(&path)? {
                    stack.push(entry?.path());
                }
            }
        }
        Ok(())
    }

    /// [`FsGroup::apply`], with a failure for want of privilege reported rather than
    /// returned (see the module's header); any other failure is the volume's.
    pub(crate) fn apply_or_warn(self, root: &Path, read_only: bool) -> Result<(), String> {
        match self.apply(root, read_only) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                tracing::warn!(
                    volume = %root.display(),
                    gid = self.gid,
                    %error,
                    "cannot give the volume to the pod's fsGroup (that takes root); its files keep their group"
                );
                Ok(())
            }
            Err(error) => Err(format!(
                "set the ownership of {} to group {}: {error}",
                root.display(),
                self.gid
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn files_gain_group_bits_and_directories_setgid() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vol");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        fs::set_permissions(root.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(root.join("sub/file"), "x").unwrap();
        fs::set_permissions(root.join("sub/file"), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink("sub/file", root.join("link")).unwrap();
        // The agent's own primary group: a change any user may make.
        let gid = fs::metadata(dir.path()).unwrap().gid();
        let group = FsGroup {
            gid,
            on_root_mismatch: false,
        };
        group.apply(&root, false).unwrap();
        assert_eq!(mode(&root), 0o2777);
        assert_eq!(mode(&root.join("sub")), 0o2775);
        assert_eq!(mode(&root.join("sub/file")), 0o660);
        assert_eq!(fs::symlink_metadata(root.join("link")).unwrap().gid(), gid);

        let secret = dir.path().join("secret");
        fs::create_dir(&secret).unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(secret.join("key"), "k").unwrap();
        fs::set_permissions(secret.join("key"), fs::Permissions::from_mode(0o400)).unwrap();
        group.apply(&secret, true).unwrap();
        assert_eq!(mode(&secret), 0o2755);
        assert_eq!(mode(&secret.join("key")), 0o440);
        assert_eq!(group.file_mode(0o400), 0o440);
        assert_eq!(group.file_mode(0o644), 0o644);
    }

    #[test]
    fn on_root_mismatch_leaves_a_volume_whose_root_is_right() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vol");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o2777)).unwrap();
        fs::write(root.join("file"), "x").unwrap();
        fs::set_permissions(root.join("file"), fs::Permissions::from_mode(0o600)).unwrap();
        let gid = fs::metadata(dir.path()).unwrap().gid();
        let group = FsGroup {
            gid,
            on_root_mismatch: true,
        };
        group.apply(&root, false).unwrap();
        assert_eq!(mode(&root.join("file")), 0o600, "not walked");
        FsGroup {
            on_root_mismatch: false,
            ..group
        }
        .apply(&root, false)
        .unwrap();
        assert_eq!(mode(&root.join("file")), 0o660);
    }

    #[test]
    fn the_pods_fs_group_is_read_with_its_policy() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "spec": {
                "containers": [],
                "securityContext": {"fsGroup": 2000, "fsGroupChangePolicy": "OnRootMismatch"}
            }
        }))
        .unwrap();
        assert_eq!(
            FsGroup::of(&pod),
            Some(FsGroup {
                gid: 2000,
                on_root_mismatch: true
            })
        );
        assert_eq!(FsGroup::of(&Pod::default()), None);
    }
}
