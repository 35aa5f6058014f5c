//! Busybox-like applets, so the demo image (which has no shell and no other programs) can be
//! used the way lessons use a real image: `kubectl exec web -- cat /etc/web/greeting`. The
//! image holds `/bin/<name>` as hard links to `/kubarium-infra`, which picks the applet by
//! the basename of `argv[0]`; `kubarium-infra <name> …` runs one too.
//!
//! Each is a small subset of its busybox namesake, with busybox's messages where it has them;
//! anything else is refused with a line saying what is supported:
//!
//! - `cat [FILE]...`: the files (or stdin) to stdout.
//! - `ls [-1alA] [PATH]...`: one name per line, sorted, dot files only with `-a`/`-A`; `-l`
//!   adds the type and permissions, the size and a symlink's target.
//! - `env`: the environment, one `NAME=value` a line.
//! - `echo [-n] [ARG]...`: the arguments.
//! - `sleep SECONDS...`: integer or decimal seconds (`s`, `m`, `h`, `d` suffixes) or
//!   `infinity`; SIGTERM ends it (exit 143), even as a container's first process.
//! - `hostname [-i]`: the host name (the pod's name), or with `-i` the pod's IPv4 address.
//! - `wget -qO- URL` / `wget -O- URL`: one HTTP GET, the body to stdout (see [`wget`]).
//! - `hit URL COUNT`: COUNT GETs on new connections, a line per answer (see [`hit`]).

mod basic;
mod files;
mod hit;
mod wget;

use std::io::{self, Write};
use std::process::ExitCode;

/// The applets, as the image's `/bin` names them.
pub(crate) const NAMES: [&str; 8] = [
    "cat", "echo", "env", "hit", "hostname", "ls", "sleep", "wget",
];

/// Runs applet `name` with `args` (after the name), or `None` when `name` is not one.
pub(crate) fn run(name: &str, args: &[String]) -> Option<ExitCode> {
    if !NAMES.contains(&name) {
        return None;
    }
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let code = match name {
        "cat" => files::cat(args, &mut out, &mut err),
        "ls" => files::ls(args, &mut out, &mut err),
        "env" => basic::env(args, &mut out, &mut err),
        "echo" => basic::echo(args, &mut out, &mut err),
        "sleep" => basic::sleep(args, &mut out, &mut err),
        "hostname" => basic::hostname(args, &mut out, &mut err),
        "wget" => wget::run(args, &mut out, &mut err),
        "hit" => hit::run(args, &mut out, &mut err),
        _ => return None,
    };
    let _ = out.flush();
    Some(ExitCode::from(code))
}

/// An I/O error as busybox words it: the system's message without Rust's "(os error N)".
pub(crate) fn describe(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// Writes a usage error, `<applet>: <message>`, and gives the exit code 1.
fn refuse(err: &mut dyn Write, applet: &str, message: &str) -> u8 {
    let _ = writeln!(err, "{applet}: {message}");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs an applet function on string arguments, returning (code, stdout, stderr).
    pub(super) fn capture(
        applet: impl FnOnce(&[String], &mut dyn Write, &mut dyn Write) -> u8,
        args: &[&str],
    ) -> (u8, String, String) {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = applet(&args, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn errors_are_worded_without_rust_decoration() {
        let error = std::fs::read("/nonexistent/kubarium").unwrap_err();
        assert_eq!(describe(&error), "No such file or directory");
        let plain = io::Error::other("bad address 'web'");
        assert_eq!(describe(&plain), "bad address 'web'");
    }

    #[test]
    fn unknown_names_are_not_applets() {
        assert!(run("serve", &[]).is_none());
        assert!(
            NAMES.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
    }
}
