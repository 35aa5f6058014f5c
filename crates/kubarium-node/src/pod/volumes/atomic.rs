//! Writes a volume's files so a container sees either the old set or the new one, never a
//! mix, as the kubelet's AtomicWriter does: the files go into a fresh timestamped directory
//! (`..2026_11_28_12_00_00.123456789`), a `..data` symlink is swapped to it with one
//! rename, and the names a container reads are symlinks into `..data`. The previous
//! timestamped directory and names no longer in the payload are then removed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path};

/// `..data`: the symlink to the current timestamped directory.
pub(crate) const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// One file of a volume: its bytes and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct File {
    pub(crate) data: Vec<u8>,
    pub(crate) mode: u32,
}

/// A volume's files by relative path.
pub(crate) type Payload = BTreeMap<String, File>;

/// Checks that every path stays inside the volume, with the kubelet's messages.
pub(crate) fn validate(payload: &Payload) -> Result<(), String> {
    for path in payload.keys() {
        if path.is_empty() {
            return Err("invalid path: must not be empty".to_owned());
        }
        if path.len() > 4096 {
            return Err(format!(
                "invalid path: must be less than or equal to 4096 characters: {path}"
            ));
        }
        if Path::new(path).is_absolute() {
            return Err(format!("invalid path: must be relative path: {path}"));
        }
        if path.starts_with("..") {
            return Err(format!("invalid path: must not start with '..': {path}"));
        }
        for part in Path::new(path).components() {
            match part {
                Component::ParentDir => {
                    return Err(format!("invalid path: must not contain '..': {path}"));
                }
                Component::Normal(name) if name.len() > 255 => {
                    return Err(format!(
                        "invalid path: each path component must be less than or equal to 255 characters: {path}"
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The first component of each path: the names a container sees at the volume's root.
fn visible(payload: &Payload) -> BTreeSet<String> {
    payload
        .keys()
        .filter_map(|p| p.split('/').find(|s| !s.is_empty() && *s != "."))
        .map(str::to_owned)
        .collect()
}

/// Whether `dir` (the current timestamped directory) already holds exactly `payload`.
fn holds(dir: &Path, payload: &Payload) -> bool {
    payload.iter().all(|(path, file)| {
        let path = dir.join(path);
        match (fs::read(&path), fs::symlink_metadata(&path)) {
            (Ok(data), Ok(meta)) => {
                data == file.data && meta.permissions().mode() & 0o7777 == file.mode
            }
            _ => false,
        }
    }) && files_under(dir).len() == payload.len()
}

/// Every regular file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) => {
                    if let Ok(relative) = path.strip_prefix(dir) {
                        found.push(relative.to_string_lossy().into_owned());
                    }
                }
                Err(_) => {}
            }
        }
    }
    found
}

/// Writes `payload` into `dir` atomically; `Ok(false)` when it was there already.
pub(crate) fn write(dir: &Path, payload: &Payload) -> io::Result<bool> {
    validate(payload).map_err(io::Error::other)?;
    fs::create_dir_all(dir)?;
    let data = dir.join(DATA);
    let old = fs::read_link(&data).ok();
    let old_visible: BTreeSet<String> = old
        .as_ref()
        .map(|_| {
            fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| !name.starts_with(".."))
                .collect()
        })
        .unwrap_or_default();
    let new_visible = visible(payload);
    if let Some(old) = &old
        && holds(&dir.join(old), payload)
        && old_visible == new_visible
    {
        return Ok(false);
    }
    let stamp = jiff::Zoned::now()
        .strftime("..%Y_%m_%d_%H_%M_%S.%f")
        .to_string();
    let mut name = stamp.clone();
    let mut n = 0;
    while dir.join(&name).exists() {
        n += 1;
        name = format!("{stamp}{n}");
    }
    let timestamped = dir.join(&name);
    fs::create_dir(&timestamped)?;
    fs::set_permissions(&timestamped, fs::Permissions::from_mode(0o755))?;
    for (path, file) in payload {
        let target = timestamped.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&target, &file.data)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(file.mode))?;
    }
    let tmp = dir.join(DATA_TMP);
    let _ = fs::remove_file(&tmp);
    symlink(&name, &tmp)?;
    fs::rename(&tmp, &data)?;
    for name in &new_visible {
        let link = dir.join(name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA).join(name), &link)?;
        }
    }
    for name in old_visible.difference(&new_visible) {
        let path = dir.join(name);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path)?,
            Ok(_) => fs::remove_file(&path)?,
            Err(_) => {}
        }
    }
    if let Some(old) = old
        && old.as_os_str() != name.as_str()
    {
        let old = dir.join(old);
        if old.starts_with(dir) && old != *dir {
            let _ = fs::remove_dir_all(old);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(path, data, mode)| {
                (
                    (*path).to_owned(),
                    File {
                        data: data.as_bytes().to_vec(),
                        mode: *mode,
                    },
                )
            })
            .collect()
    }

    /// The volume as a container sees it: names, where symlinks point (timestamps
    /// masked), file contents and modes.
    fn listing(dir: &Path) -> String {
        let mut lines = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(at) = stack.pop() {
            for entry in fs::read_dir(&at).into_iter().flatten().flatten() {
                let path = entry.path();
                let relative = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy();
                let relative = mask(&relative);
                let meta = fs::symlink_metadata(&path).unwrap();
                if meta.file_type().is_symlink() {
                    let target = fs::read_link(&path).unwrap();
                    lines.push(format!("{relative} -> {}", mask(&target.to_string_lossy())));
                } else if meta.is_dir() {
                    lines.push(format!(
                        "{relative}/ {:o}",
                        meta.permissions().mode() & 0o7777
                    ));
                    stack.push(path);
                } else {
                    let data = fs::read_to_string(&path).unwrap();
                    lines.push(format!(
                        "{relative} {:o} {data:?}",
                        meta.permissions().mode() & 0o7777
                    ));
                }
            }
        }
        lines.sort();
        lines.join("\n")
    }

    fn mask(path: &str) -> String {
        path.split('/')
            .map(|part| {
                if part.starts_with("..") && part != DATA && part.len() > 10 {
                    "..<timestamp>"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn files_are_links_into_the_current_data() {
        let dir = tempfile::tempdir().unwrap();
        let files = payload(&[
            ("game.properties", "lives=3", 0o644),
            ("ui/colour", "blue", 0o400),
        ]);
        assert!(write(dir.path(), &files).unwrap());
        insta::assert_snapshot!(listing(dir.path()), @r#"
        ..<timestamp>/ 755
        ..<timestamp>/game.properties 644 "lives=3"
        ..<timestamp>/ui/ 755
        ..<timestamp>/ui/colour 400 "blue"
        ..data -> ..<timestamp>
        game.properties -> ..data/game.properties
        ui -> ..data/ui
        "#);
        assert_eq!(
            fs::read_to_string(dir.path().join("ui/colour")).unwrap(),
            "blue"
        );
        assert!(!write(dir.path(), &files).unwrap(), "nothing changed");
    }

    #[test]
    fn an_update_replaces_everything_at_once_and_old_files_go() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &payload(&[("a", "1", 0o644), ("b", "2", 0o644)]),
        )
        .unwrap();
        let before = fs::read_link(dir.path().join(DATA)).unwrap();
        assert!(
            write(
                dir.path(),
                &payload(&[("a", "10", 0o644), ("c", "3", 0o600)])
            )
            .unwrap()
        );
        let after = fs::read_link(dir.path().join(DATA)).unwrap();
        assert_ne!(before, after);
        assert!(!dir.path().join(&before).exists(), "the old data is gone");
        insta::assert_snapshot!(listing(dir.path()), @r#"
        ..<timestamp>/ 755
        ..<timestamp>/a 644 "10"
        ..<timestamp>/c 600 "3"
        ..data -> ..<timestamp>
        a -> ..data/a
        c -> ..data/c
        "#);
    }

    #[test]
    fn a_mode_change_alone_is_an_update() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &payload(&[("a", "1", 0o644)])).unwrap();
        assert!(write(dir.path(), &payload(&[("a", "1", 0o400)])).unwrap());
        let mode = fs::metadata(dir.path().join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
    }

    #[test]
    fn paths_stay_inside_the_volume() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "..data/x", ""] {
            let error = validate(&payload(&[(bad, "", 0o644)])).unwrap_err();
            assert!(error.starts_with("invalid path"), "{bad}: {error}");
        }
        assert!(validate(&payload(&[("a/b/c", "", 0o644), ("./d", "", 0o644)])).is_ok());
    }

    #[test]
    fn an_empty_payload_is_an_empty_volume() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &payload(&[("a", "1", 0o644)])).unwrap();
        write(dir.path(), &Payload::new()).unwrap();
        insta::assert_snapshot!(listing(dir.path()), @r"
        ..<timestamp>/ 755
        ..data -> ..<timestamp>
        ");
    }
}
