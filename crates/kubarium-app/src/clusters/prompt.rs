//! What an exec credential plugin asks of the user while it runs (a device-code sign-in:
//! "open https://microsoft.com/devicelogin and enter the code ABCD-1234"), shown live.
//!
//! kube-rs runs a plugin with its stderr piped and read only once the plugin has exited, so
//! a plugin that waits for the user would hang unseen. On Unix the plugin therefore runs
//! through `/bin/sh -c 'exec "$0" "$@" 2>>"$KUBARIUM_PLUGIN_STDERR"'`: its stderr goes to a
//! file of the cluster's, mode 0600 in a directory of the app's made 0700, which
//! [`follow`] reads while the client is built. The file is emptied before and after each
//! build, and removed with the cluster; a failure's message quotes it.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable naming the file the wrapper appends the plugin's stderr to.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) const STDERR_VAR: &str = "KUBARIUM_PLUGIN_STDERR";

/// The wrapper script: `$0` is the plugin, resolved beforehand; `exec` leaves no shell
/// behind, so the plugin's exit status and stdout are kube-rs's as before.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) const WRAPPER: &str = r#"exec "$0" "$@" 2>>"$KUBARIUM_PLUGIN_STDERR""#;

/// How often the file is read while a plugin runs: a person reads the prompt, so a quarter
/// of a second is quick enough and costs nothing.
const POLL: Duration = Duration::from_millis(250);
/// The most of the file read (its end): prompts are a few lines.
const TAIL_BYTES: u64 = 16 * 1024;
/// The latest lines shown, and the longest line.
const LINES: usize = 8;
const LINE_CHARS: usize = 500;

/// The app's private directory for plugin output, one file per connected cluster.
#[derive(Debug, Clone)]
pub(crate) struct PromptDir(PathBuf);

impl PromptDir {
    /// `dir`, created readable by this user only; files left by an earlier run are removed
    /// (they would name clusters by an earlier run's numbers).
    pub(crate) fn open(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        for entry in std::fs::read_dir(&dir)?.flatten() {
            if entry.path().extension().is_some_and(|e| e == "stderr") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self(dir))
    }

    /// The file of the cluster connection numbered `run` (unique in this process, so a
    /// cluster imported again never shares the file of the connection it replaces).
    pub(crate) fn file(&self, run: u32) -> PluginOutput {
        PluginOutput(self.0.join(format!("{run}.stderr")))
    }
}

/// One cluster's plugin stderr file.
#[derive(Debug, Clone)]
pub(crate) struct PluginOutput(PathBuf);

impl PluginOutput {
    /// Where it is.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Empties it (creating it, mode 0600): before a build, so what follows is this run's;
    /// after one, so nothing a plugin said stays on disk longer than needed.
    pub(crate) fn reset(&self) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&self.0)?;
        #[cfg(unix)]
        {
            // A file that existed keeps its mode through `open`.
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        drop(file);
        Ok(())
    }

    /// Its last few kilobytes, as text; empty when it cannot be read.
    pub(crate) fn read(&self) -> String {
        let Ok(mut file) = std::fs::File::open(&self.0) else {
            return String::new();
        };
        let length = file.metadata().map(|m| m.len()).unwrap_or(0);
        if length > TAIL_BYTES {
            let _ = file.seek(SeekFrom::Start(length - TAIL_BYTES));
        }
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Removes it (the cluster is gone).
    pub(crate) fn remove(&self) {
        if let Err(error) = std::fs::remove_file(&self.0)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %self.0.display(), %error, "the exec plugin's output file could not be removed");
        }
    }
}

/// The latest lines of a plugin's stderr, for the UI: the last [`LINES`] non-blank ones,
/// control characters (colours, carriage returns of progress lines) dropped, each cut at
/// [`LINE_CHARS`]. `None` when it said nothing.
pub(crate) fn latest_lines(text: &str) -> Option<String> {
    let lines: Vec<String> = text
        .lines()
        // A progress line rewritten with `\r` shows its last state.
        .filter_map(|line| line.rsplit('\r').find(|part| !part.trim().is_empty()))
        .map(|line| {
            strip_escapes(line)
                .trim_end()
                .chars()
                .take(LINE_CHARS)
                .collect()
        })
        .filter(|line: &String| !line.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(LINES);
    (start < lines.len()).then(|| lines[start..].join("\n"))
}

/// `line` without ANSI escape sequences and other control characters (tabs become spaces).
fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI (`ESC [ … final`) to its final byte; other escapes are two characters.
                if chars.next_if_eq(&'[').is_some() {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Reads `output` every [`POLL`] and calls `publish` with its latest lines whenever they
/// change; runs until aborted (when the build it watches ends).
pub(crate) async fn follow(output: PluginOutput, mut publish: impl FnMut(Option<String>)) {
    let mut shown = None;
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let reader = output.clone();
        let Ok(text) = tokio::task::spawn_blocking(move || reader.read()).await else {
            continue;
        };
        let latest = latest_lines(&text);
        if latest != shown {
            shown.clone_from(&latest);
            publish(latest);
        }
    }
}

/// Where `command` is found on `path` (a `:`-separated list), as the plugin's `exec` would
/// find it: a name with a slash is taken as it is, if it exists. `None` when it is not found.
#[cfg(unix)]
pub(crate) fn resolve(command: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |candidate: &Path| {
        std::fs::metadata(candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if command.contains('/') {
        let candidate = PathBuf::from(command);
        return candidate.exists().then_some(candidate);
    }
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(command))
        .find(|candidate| executable(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_lines_are_the_last_non_blank_ones_without_escapes() {
        assert_eq!(latest_lines(""), None);
        assert_eq!(latest_lines("\n  \n"), None);
        let device = "\u{1b}[1mTo sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-1234 to authenticate.\u{1b}[0m\n";
        assert_eq!(
            latest_lines(device).as_deref(),
            Some(
                "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-1234 to authenticate."
            )
        );
        let many: String = (1..=20).map(|n| format!("line {n}\n\n")).collect();
        let latest = latest_lines(&many).unwrap();
        assert_eq!(latest.lines().count(), LINES);
        assert!(latest.starts_with("line 13\n"), "{latest}");
        assert!(latest.ends_with("line 20"), "{latest}");
        assert_eq!(
            latest_lines("waiting 1s\rwaiting 2s\r\n").as_deref(),
            Some("waiting 2s")
        );
        let long = "x".repeat(2 * LINE_CHARS);
        assert_eq!(latest_lines(&long).unwrap().len(), LINE_CHARS);
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_and_files_are_private_and_reset() {
        use std::os::unix::fs::PermissionsExt as _;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("plugin-output");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("7.stderr"), "left over").unwrap();
        let prompts = PromptDir::open(dir.clone()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert!(
            !dir.join("7.stderr").exists(),
            "a leftover file was removed"
        );
        let output = prompts.file(3);
        std::fs::write(output.path(), "old").unwrap();
        std::fs::set_permissions(output.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        output.reset().unwrap();
        assert_eq!(mode(output.path()), 0o600);
        assert_eq!(output.read(), "");
        output.remove();
        assert!(!output.path().exists());
    }

    #[cfg(unix)]
    #[test]
    fn commands_resolve_on_the_given_path() {
        assert_eq!(
            resolve("sh", "/nonexistent:/bin"),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(resolve("kubarium-no-such-plugin", "/bin:/usr/bin"), None);
        assert_eq!(resolve("/bin/sh", ""), Some(PathBuf::from("/bin/sh")));
        assert_eq!(resolve("/nonexistent/plugin", "/bin"), None);
    }
}
