//! `hit URL COUNT`: COUNT GETs, each on a new connection so a Service spreads them over its
//! endpoints, one line per answer: the body's first line (the demo server's `/name` answers
//! with the pod's name), or `error: <reason>` (a non-2xx status or a failed connection).
//! Exit 0 when at least one request was answered with 2xx. The Services lesson runs
//! `hit http://web/name 10` to show the round robin.

use std::io::Write;

use super::{describe, refuse};
use crate::client::{self, Url};

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
    let mut answered = false;
    for _ in 0..count {
        let line = match client::get(&url) {
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
