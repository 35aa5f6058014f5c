//! `hit URL COUNT`: COUNT GETs, each on a new connection so a Service spreads them over its
//! endpoints, one line per answer: the body's first line (the demo server's `/name` answers
//! with the pod's name), or `error: <reason>` (a non-2xx status or a failed connection).
//! Exit 0 when at least one request was answered with 2xx. The Services lesson runs
//! `hit http://web/name 10` to show the round robin.
//!
//! Short timeouts and an overall budget keep a run within the 20 s a lesson's one-shot exec
//! waits, even when an endpoint is unreachable (its node stopped): the requests left when the
//! budget is spent are given up with one line saying so.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{describe, refuse};
use crate::client::{self, Timeouts, Url};

/// Inside a cluster a connection is made in well under a millisecond; one that takes
/// longer is to an address that does not answer.
const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(1),
    io: Duration::from_secs(3),
};
/// No new request starts after this long.
const BUDGET: Duration = Duration::from_secs(15);

const USAGE: &str = "usage: hit URL COUNT (COUNT from 1 to 1000 GETs, each on a new connection)";
const MAX_COUNT: u32 = 1000;

pub(super) fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let [url, count] = args else {
        return refuse(err, "hit", USAGE);
    };
    let count = match count.parse::<u32>() {
        Ok(n) if (1..=MAX_COUNT).contains(&n) => n,
        _ => {
            return refuse(
                err,
                "hit",
                &format!("COUNT must be 1 to 1000, not {count:?}\n{USAGE}"),
            );
        }
    };
    let url = match Url::parse(url) {
        Ok(url) => url,
        Err(message) => return refuse(err, "hit", &message),
    };
    run_with(&url, count, BUDGET, out)
}

/// The requests, stopping when `budget` is spent; the exit code.
fn run_with(url: &Url, count: u32, budget: Duration, out: &mut dyn Write) -> u8 {
    let started = Instant::now();
    let mut answered = false;
    for sent in 0..count {
        if started.elapsed() >= budget {
            let _ = writeln!(
                out,
                "error: gave up after {} s; {} of {count} requests not sent",
                budget.as_secs(),
                count - sent
            );
            break;
        }
        let line = match client::get(url, TIMEOUTS) {
            Ok(answer) if (200..300).contains(&answer.status) => {
                answered = true;
                let body = String::from_utf8_lossy(&answer.body);
                let first = body.lines().next().unwrap_or_default().trim();
                if first.is_empty() {
                    "(empty answer)".to_owned()
                } else {
                    first.to_owned()
                }
            }
            Ok(answer) => format!("error: {}", answer.status_line),
            Err(error) => format!("error: {}", describe(&error)),
        };
        // Line by line, so a slow run shows its progress.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    u8::from(!answered)
}

#[cfg(test)]
mod tests {
    use super::super::tests::capture;
    use super::*;
    use crate::client::tests::serve;

    #[test]
    fn each_answer_is_a_line_and_errors_say_why() {
        let port = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n  web-a  \nmore",
            "HTTP/1.1 200 OK\r\n\r\nweb-b\n",
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        ]);
        let url = format!("http://localhost:{port}/name");
        let (code, out, _) = capture(run, &[&url, "4"]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..3],
            ["web-a", "web-b", "error: HTTP/1.1 503 Service Unavailable"]
        );
        assert!(lines[3].starts_with("error: "), "{out}");
    }

    #[test]
    fn no_answer_at_all_fails() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let (code, out, _) = capture(run, &[&format!("http://127.0.0.1:{port}/"), "2"]);
        assert_eq!((code, out.lines().count()), (1, 2));
    }

    #[test]
    fn a_spent_budget_gives_up_with_a_line_saying_so() {
        let port = serve(vec!["HTTP/1.1 200 OK\r\n\r\nweb-a\n"]);
        let url = Url::parse(&format!("http://localhost:{port}/name")).unwrap();
        let mut out = Vec::new();
        assert_eq!(run_with(&url, 3, Duration::ZERO, &mut out), 1);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "error: gave up after 0 s; 3 of 3 requests not sent\n"
        );
    }

    #[test]
    fn bad_arguments_show_the_usage() {
        for args in [
            &["http://web/"][..],
            &["http://web/", "0"],
            &["http://web/", "ten"],
        ] {
            let (code, _, err) = capture(run, args);
            assert_eq!(code, 1);
            assert!(err.contains("usage: hit URL COUNT"), "{err}");
        }
    }
}
