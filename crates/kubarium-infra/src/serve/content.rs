//! What a lesson puts into a demo pod and wants to see on its page: the files of a mounted
//! ConfigMap or Secret (`$DEMO_FILES`, default `/etc/demo`), the `DEMO_*` environment
//! variables (a Secret or ConfigMap consumed as env), and a persistent volume's marker file
//! (`$DEMO_DATA/created`, written once by the first pod that mounts the volume, so a
//! StatefulSet's re-created pod shows the line its predecessor wrote).

use std::fs;
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Where files are shown from when `$DEMO_FILES` is unset.
const DEFAULT_FILES: &str = "/etc/demo";
/// At most this many files are shown…
pub(crate) const MAX_FILES: usize = 16;
/// …and this much of each.
pub(crate) const MAX_FILE_BYTES: u64 = 4 * 1024;
/// The marker file's name inside `$DEMO_DATA`.
pub(crate) const CREATED: &str = "created";

/// The lesson-provided content, read fresh on each request (a ConfigMap update shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Content {
    pub(crate) files_dir: PathBuf,
    /// `DEMO_*` variables but `DEMO_FILES` and `DEMO_DATA`, sorted by name.
    pub(crate) env: Vec<(String, String)>,
    /// `$DEMO_DATA`, when set.
    pub(crate) data_dir: Option<PathBuf>,
}

impl Content {
    /// From `$DEMO_FILES`, `$DEMO_DATA` and the `DEMO_*` variables.
    pub(crate) fn from_environment() -> Self {
        Self::from_vars(std::env::vars())
    }

    fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut files_dir = PathBuf::from(DEFAULT_FILES);
        let mut data_dir = None;
        let mut env = Vec::new();
        for (name, value) in vars {
            match name.as_str() {
                "DEMO_FILES" if !value.trim().is_empty() => files_dir = value.trim().into(),
                "DEMO_DATA" if !value.trim().is_empty() => data_dir = Some(value.trim().into()),
                "DEMO_FILES" | "DEMO_DATA" => {}
                _ if name.starts_with("DEMO_") => env.push((name, value)),
                _ => {}
            }
        }
        env.sort();
        Self {
            files_dir,
            env,
            data_dir,
        }
    }

    /// The regular files directly in the files directory (symlinks followed, as a mounted
    /// ConfigMap's are; dot files such as its `..data` left out), by name: at most
    /// [`MAX_FILES`], each cut at [`MAX_FILE_BYTES`]. A missing directory has none.
    pub(crate) fn files(&self) -> Vec<(String, String)> {
        let Ok(entries) = fs::read_dir(&self.files_dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .filter(|name| fs::metadata(self.files_dir.join(name)).is_ok_and(|m| m.is_file()))
            .collect();
        names.sort();
        names
            .into_iter()
            .take(MAX_FILES)
            .filter_map(|name| {
                let mut content = Vec::new();
                fs::File::open(self.files_dir.join(&name))
                    .and_then(|file| file.take(MAX_FILE_BYTES).read_to_end(&mut content))
                    .ok()?;
                Some((name, String::from_utf8_lossy(&content).into_owned()))
            })
            .collect()
    }

    /// The marker file's line, when `$DEMO_DATA` is set and it is there.
    pub(crate) fn data(&self) -> Option<String> {
        let dir = self.data_dir.as_ref()?;
        let mut content = Vec::new();
        fs::File::open(dir.join(CREATED))
            .and_then(|file| file.take(MAX_FILE_BYTES).read_to_end(&mut content))
            .ok()?;
        Some(String::from_utf8_lossy(&content).trim_end().to_owned())
    }

    /// At start: writes `line` to `$DEMO_DATA/created` unless it exists. `Ok(None)` without
    /// `$DEMO_DATA`; `Ok(Some(true))` when this pod wrote it, `Ok(Some(false))` when an
    /// earlier one had.
    pub(crate) fn ensure_created(&self, line: &str) -> io::Result<Option<bool>> {
        let Some(dir) = &self.data_dir else {
            return Ok(None);
        };
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "DEMO_DATA is {}, which is not a directory: mount a volume there",
                    dir.display()
                ),
            ));
        }
        // create_new: of two pods sharing the volume, one writes and the other keeps its line.
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(CREATED))
        {
            Ok(mut file) => {
                file.write_all(format!("{line}\n").as_bytes())?;
                file.sync_all()?;
                Ok(Some(true))
            }
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(Some(false)),
            Err(error) => Err(error),
        }
    }
}

/// The marker's line: `created by <pod> (<uid or hostname>) at <RFC 3339 UTC>`.
pub(crate) fn created_line(pod: &str, uid_or_hostname: &str, at: &str) -> String {
    format!("created by {pod} ({uid_or_hostname}) at {at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn demo_variables_are_picked_and_sorted_and_the_directories_default() {
        let content = Content::from_vars(vars(&[
            ("PATH", "/bin"),
            ("DEMO_PASSWORD", "s3cret"),
            ("DEMO_FILES", "/etc/web"),
            ("DEMO_GREETING", "hello"),
            ("DEMO_DATA", "/data"),
        ]));
        assert_eq!(content.files_dir, PathBuf::from("/etc/web"));
        assert_eq!(content.data_dir, Some(PathBuf::from("/data")));
        assert_eq!(
            content.env,
            vars(&[("DEMO_GREETING", "hello"), ("DEMO_PASSWORD", "s3cret")])
        );
        let plain = Content::from_vars(vars(&[("DEMO_FILES", " ")]));
        assert_eq!(plain.files_dir, PathBuf::from(DEFAULT_FILES));
        assert_eq!(plain.data_dir, None);
    }

    #[test]
    fn files_are_read_fresh_like_a_mounted_config_map() {
        let dir = tempfile::tempdir().unwrap();
        // A ConfigMap volume: the keys are symlinks into ..data, a symlink to a timestamped
        // directory.
        let stamped = dir.path().join("..2026_11_29");
        fs::create_dir(&stamped).unwrap();
        fs::write(stamped.join("greeting"), "hello\n").unwrap();
        std::os::unix::fs::symlink("..2026_11_29", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/greeting", dir.path().join("greeting")).unwrap();
        fs::write(dir.path().join("big"), "x".repeat(10_000)).unwrap();
        fs::create_dir(dir.path().join("subdir")).unwrap();
        let content = Content {
            files_dir: dir.path().to_owned(),
            env: Vec::new(),
            data_dir: None,
        };
        let files = content.files();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!((files[0].0.as_str(), files[0].1.len()), ("big", 4096));
        assert_eq!(files[1], ("greeting".to_owned(), "hello\n".to_owned()));
        fs::write(stamped.join("greeting"), "hi again\n").unwrap();
        assert_eq!(content.files()[1].1, "hi again\n");
        for i in 0..20 {
            fs::write(dir.path().join(format!("f{i:02}")), "").unwrap();
        }
        assert_eq!(content.files().len(), MAX_FILES);
        let missing = Content {
            files_dir: dir.path().join("nope"),
            ..content
        };
        assert!(missing.files().is_empty());
    }

    #[test]
    fn the_created_marker_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let content = Content {
            files_dir: PathBuf::from("/nonexistent"),
            env: Vec::new(),
            data_dir: Some(dir.path().to_owned()),
        };
        assert_eq!(content.data(), None);
        let first = created_line("web-0", "uid-1", "2026-11-29T00:00:00.000Z");
        assert_eq!(
            first,
            "created by web-0 (uid-1) at 2026-11-29T00:00:00.000Z"
        );
        assert_eq!(content.ensure_created(&first).unwrap(), Some(true));
        let second = created_line("web-0", "uid-2", "2026-11-29T00:05:00.000Z");
        assert_eq!(content.ensure_created(&second).unwrap(), Some(false));
        assert_eq!(content.data().as_deref(), Some(first.as_str()));

        let unset = Content {
            data_dir: None,
            ..content.clone()
        };
        assert_eq!(unset.ensure_created(&first).unwrap(), None);
        let not_a_dir = Content {
            data_dir: Some(dir.path().join(CREATED)),
            ..content
        };
        let error = not_a_dir.ensure_created(&first).unwrap_err().to_string();
        assert!(error.contains("not a directory"), "{error}");
    }
}
