//! `env`, `echo`, `sleep` and `hostname`.

use std::io::Write;
use std::time::Duration;

use super::{describe, refuse};
use crate::sys::{self, Signal};

/// `env`: prints the environment. Running a command under a changed environment is not
/// supported (the image has nothing else to run).
pub(super) fn env(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    if !args.is_empty() {
        return refuse(
            err,
            "env",
            "only `env` (print the environment) is supported in this image",
        );
    }
    for (name, value) in std::env::vars_os() {
        let _ = writeln!(
            out,
            "{}={}",
            name.to_string_lossy(),
            value.to_string_lossy()
        );
    }
    0
}

/// `echo [-n] [ARG]...`.
pub(super) fn echo(args: &[String], out: &mut dyn Write, _err: &mut dyn Write) -> u8 {
    let (newline, words) = match args.first().map(String::as_str) {
        Some("-n") => (false, &args[1..]),
        _ => (true, args),
    };
    let _ = write!(
        out,
        "{}{}",
        words.join(" "),
        if newline { "\n" } else { "" }
    );
    0
}

/// `sleep SECONDS...`: the durations' sum, or forever with `infinity`. SIGTERM and SIGINT
/// end it with 143, as if killed, also when it is a container's PID 1 (which the kernel
/// spares from a signal's default action).
pub(super) fn sleep(args: &[String], _out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let duration = match total(args) {
        Ok(duration) => duration,
        Err(message) => return refuse(err, "sleep", &message),
    };
    let signals = match sys::Signals::block() {
        Ok(signals) => signals,
        Err(error) => return refuse(err, "sleep", &describe(&error)),
    };
    if let Some(duration) = duration {
        std::thread::spawn(move || {
            std::thread::sleep(duration);
            std::process::exit(0);
        });
    }
    loop {
        match signals.wait() {
            Ok(Signal::Terminate) => return 143,
            Ok(_) => sys::reap_children(),
            Err(error) => return refuse(err, "sleep", &describe(&error)),
        }
    }
}

/// The sum of the arguments, `None` for forever.
fn total(args: &[String]) -> Result<Option<Duration>, String> {
    if args.is_empty() {
        return Err("missing operand\nusage: sleep SECONDS (a number, with an optional s, m, h or d suffix, or infinity)".to_owned());
    }
    let mut sum = Duration::ZERO;
    for arg in args {
        if matches!(arg.as_str(), "infinity" | "inf") {
            return Ok(None);
        }
        let (number, unit) = match arg.strip_suffix(['s', 'm', 'h', 'd']) {
            Some(number) => (number, &arg[number.len()..]),
            None => (arg.as_str(), "s"),
        };
        let seconds: f64 = number
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| format!("invalid number '{arg}'"))?;
        let scale = match unit {
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => 1.0,
        };
        let part = Duration::try_from_secs_f64(seconds * scale)
            .map_err(|_| format!("invalid number '{arg}'"))?;
        sum = sum.saturating_add(part);
    }
    Ok(Some(sum))
}

/// `hostname [-i]`: the host name (a pod's is its name), or its IPv4 address with `-i`.
pub(super) fn hostname(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => match std::fs::read_to_string("/proc/sys/kernel/hostname") {
            Ok(name) => {
                let _ = writeln!(out, "{}", name.trim());
                0
            }
            Err(error) => refuse(err, "hostname", &describe(&error)),
        },
        ["-i"] => match sys::own_ipv4() {
            Some(ip) => {
                let _ = writeln!(out, "{ip}");
                0
            }
            None => refuse(
                err,
                "hostname",
                "no IPv4 address on any interface but loopback",
            ),
        },
        _ => refuse(
            err,
            "hostname",
            "only `hostname` and `hostname -i` are supported in this image (a pod's host name is set by Kubernetes)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::capture;
    use super::*;

    #[test]
    fn echo_joins_its_arguments() {
        assert_eq!(capture(echo, &["hello", "world"]).1, "hello world\n");
        assert_eq!(capture(echo, &["-n", "a"]).1, "a");
        assert_eq!(capture(echo, &[]).1, "\n");
    }

    #[test]
    fn env_prints_the_environment_and_refuses_commands() {
        let (code, out, _) = capture(env, &[]);
        assert_eq!(code, 0);
        let path = std::env::var("PATH").unwrap_or_default();
        assert!(out.lines().any(|l| l == format!("PATH={path}")), "{out}");
        let (code, _, err) = capture(env, &["A=1", "cat"]);
        assert_eq!(code, 1);
        assert!(err.starts_with("env: only `env`"), "{err}");
    }

    #[test]
    fn sleep_durations_add_up_and_bad_ones_are_refused() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(total(&args(&["2"])), Ok(Some(Duration::from_secs(2))));
        assert_eq!(
            total(&args(&["1.5", "1m", "1h"])),
            Ok(Some(Duration::from_millis(3_661_500)))
        );
        assert_eq!(total(&args(&["1", "infinity"])), Ok(None));
        assert_eq!(total(&args(&["x"])), Err("invalid number 'x'".to_owned()));
        assert!(total(&args(&["-1"])).is_err());
        assert!(total(&args(&[])).unwrap_err().contains("usage: sleep"));
        let (code, _, err) = capture(sleep, &["soon"]);
        assert_eq!((code, err.as_str()), (1, "sleep: invalid number 'soon'\n"));
    }

    #[test]
    fn hostname_prints_the_kernels_name_and_refuses_to_set_it() {
        let (code, out, _) = capture(hostname, &[]);
        assert_eq!(code, 0);
        let expected = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(out.trim(), expected.trim());
        let (code, _, err) = capture(hostname, &["web"]);
        assert_eq!(code, 1);
        assert!(err.contains("only `hostname`"), "{err}");
    }
}
