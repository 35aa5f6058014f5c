//! What the modes configured by the host (`proxy`, `dns`, `ingress`) share about their file:
//! where it is, reading it (a missing file is an empty configuration), its lines, and the
//! error that names the first bad one. The host copies a new file in and sends SIGHUP; a
//! file that cannot be read or parsed leaves the previous configuration in force.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where the host puts the file.
const DEFAULT_PATH: &str = "/etc/kubarium/config";

/// The file: `$KUBARIUM_CONFIG` (tests), else [`DEFAULT_PATH`].
pub(crate) fn path() -> PathBuf {
    std::env::var_os("KUBARIUM_CONFIG").map_or_else(|| PathBuf::from(DEFAULT_PATH), PathBuf::from)
}

/// The file's text; empty when there is no file yet. `None` (logged for `mode`) when it
/// cannot be read, so the caller keeps what it has.
pub(crate) fn read(mode: &str, path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Some(String::new()),
        Err(error) => {
            eprintln!(
                "{mode}: cannot read {}: {error}; keeping the previous configuration",
                path.display()
            );
            None
        }
    }
}

/// The lines that say something, trimmed, with their 1-based numbers: blank lines and
/// `#` comments are left out.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

/// The first line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// 1-based.
    pub(crate) line: usize,
    pub(crate) message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_and_comments_are_left_out_and_numbers_kept() {
        let text = "# kubarium v1\n\n  tcp 80 ->  \r\n\t# note\nudp 53 ->\n";
        let lines: Vec<_> = lines(text).collect();
        assert_eq!(lines, vec![(3, "tcp 80 ->"), (5, "udp 53 ->")]);
        let error = ParseError {
            line: 3,
            message: "bad".into(),
        };
        assert_eq!(error.to_string(), "line 3: bad");
    }

    #[test]
    fn a_missing_file_is_empty_and_an_unreadable_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read("test", &dir.path().join("absent")).as_deref(),
            Some("")
        );
        // A directory cannot be read as text.
        assert_eq!(read("test", dir.path()), None);
    }
}
