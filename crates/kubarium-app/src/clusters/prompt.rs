//! What an exec credential plugin asks of the user while it runs (a device-code sign-in:
//! "open https://microsoft.com/devicelogin and enter the code ABCD-1234"), shown live — when
//! the client is built and whenever kube-rs runs the plugin again to renew an expiring token.
//!
//! kube-rs runs a plugin with its stderr piped and read only once the plugin has exited, so
//! a plugin that waits for the user would hang unseen. On Unix the plugin therefore runs
//! through [`WRAPPER`]: its stderr goes to a file of the cluster's, mode 0600 in a directory
//! of the app's made 0700, after a start mark; a run that succeeds empties the file as it
//! ends, one that fails appends an end mark (its message quotes what it said). [`follow`]
//! reads the file for the client's whole life: lines after a start mark with no end mark are
//! a plugin running now, shown as the cluster's prompt. The file is removed with the
//! cluster.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variable naming the file the wrapper appends the plugin's stderr to.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) const STDERR_VAR: &str = "KUBARIUM_PLUGIN_STDERR";

/// The wrapper script: `$0` is the plugin, resolved beforehand. It writes [`START`] over
/// the file, runs the plugin with its stderr appended there (its stdout and exit status are
/// kube-rs's as before), then empties the file when the plugin succeeded, or appends
/// [`END`] and the status when it failed. `umask` keeps a file it has to create private.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) const WRAPPER: &str = r#"umask 077; f=$KUBARIUM_PLUGIN_STDERR; printf '\036kubarium-plugin-started\n' >"$f"; "$0" "$@" 2>>"$f"; s=$?; if [ "$s" -eq 0 ]; then : >"$f"; else printf '\n\036kubarium-plugin-ended %s\n' "$s" >>"$f"; fi; exit "$s""#;

/// The line the wrapper writes before the plugin runs, and the start of the one it writes
/// after a failed run (record separator first: no prompt starts with it).
const START: &str = "\u{1e}kubarium-plugin-started";
const END: &str = "\u{1e}kubarium-plugin-ended";

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

/// The last plugin run in `text` (the output file's content): what it wrote to stderr, the
/// marks left out, and whether it is still running (a start mark with no end mark after
/// it). Text without a start mark is one finished run's.
pub(crate) fn last_run(text: &str) -> (&str, bool) {
    let Some(at) = text.rfind(START) else {
        let said = text.find(END).map_or(text, |end| &text[..end]);
        return (said, false);
    };
    let after = &text[at + START.len()..];
    let after = after.strip_prefix('\n').unwrap_or(after);
    match after.find(END) {
        Some(end) => (&after[..end], false),
        None => (after, true),
    }
}

/// What the last run in `text` wrote to stderr, for a failure's message.
pub(crate) fn said(text: &str) -> &str {
    last_run(text).0
}

/// The prompt to show for `text`: the latest lines of a plugin running now; `None` when none
/// runs or it says nothing.
pub(crate) fn prompt_of(text: &str) -> Option<String> {
    match last_run(text) {
        (said, true) => latest_lines(said),
        (_, false) => None,
    }
}

/// What tells that the file changed: its length and modification time (`None` when it is
/// not there).
type Stamp = Option<(u64, std::time::SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?))
}

/// Reads `output` every [`POLL`] (only when it changed) and calls `publish` with the prompt
/// of the plugin running now after every read (`publish` compares it with what is shown);
/// runs until aborted (the cluster's connection ends). `gate` is held from each read to its publication, so whoever holds it
/// can clear the prompt knowing no earlier read is published after.
pub(crate) async fn follow(
    output: PluginOutput,
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    mut publish: impl FnMut(Option<String>),
) {
    let mut seen: Stamp = None;
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let _gate = gate.lock().await;
        let reader = output.clone();
        let before = seen;
        let Ok((now, text)) = tokio::task::spawn_blocking(move || {
            let now = stamp(reader.path());
            let text = (now != before).then(|| reader.read());
            (now, text)
        })
        .await
        else {
            continue;
        };
        seen = now;
        if let Some(text) = text {
            publish(prompt_of(&text));
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

    #[test]
    fn the_last_run_is_running_until_its_end_mark() {
        assert_eq!(prompt_of(""), None);
        let running = format!("{START}\nopen https://login.example and enter WXYZ\n");
        assert_eq!(
            prompt_of(&running).as_deref(),
            Some("open https://login.example and enter WXYZ")
        );
        let failed = format!("{running}\n{END} 3\n");
        assert_eq!(prompt_of(&failed), None);
        assert_eq!(
            said(&failed).trim(),
            "open https://login.example and enter WXYZ"
        );
        // An earlier failed run is not the one running now.
        let again = format!("{failed}{START}\nsecond\n");
        assert_eq!(prompt_of(&again).as_deref(), Some("second"));
        assert_eq!(said("plain stderr\n"), "plain stderr\n");
    }

    /// The wrapper as kube-rs runs it: marks around the plugin's stderr, the file emptied
    /// when it succeeds, its stdout and exit status passed through.
    #[cfg(unix)]
    #[test]
    fn the_wrapper_marks_a_run_and_empties_the_file_after_success() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("run.stderr");
        let run = |script: &str| {
            std::process::Command::new("/bin/sh")
                .args(["-c", WRAPPER, "/bin/sh", "-c", script])
                .env(STDERR_VAR, &file)
                .output()
                .unwrap()
        };
        let ok = run(&format!(
            "echo asking >&2; grep -q asking {}; echo token",
            file.display()
        ));
        assert!(
            ok.status.success(),
            "{ok:?}: the prompt was in the file while it ran"
        );
        assert_eq!(ok.stdout, b"token\n");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "");
        let failed = run("echo please sign in >&2; exit 3");
        assert_eq!(failed.status.code(), Some(3));
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(prompt_of(&text), None, "{text:?}");
        assert_eq!(said(&text).trim(), "please sign in");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::remove_file(&file).unwrap();
        run("true");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a file the wrapper creates is private");
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
