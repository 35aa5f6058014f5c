//! `kubarium-infra`: the one program Kubarium puts inside containers, built as a small static
//! binary and imported into Docker as `kubarium.dev/infra:<version>`. Its first argument picks
//! the mode:
//!
//! - `pause`: the pod sandbox's process, which holds the pod's namespaces. It does nothing,
//!   reaps orphaned children and exits 0 on SIGTERM or SIGINT.
//! - `serve`: the demo web server for lessons and tests (see [`serve`]).
//! - `echo`: a TCP and UDP echo server on one port.
//! - `send`: a one-shot TCP or UDP client for tests and lessons.

mod echo;
mod pause;
mod send;
mod serve;
mod sys;

use std::process::ExitCode;

const USAGE: &str = "usage: kubarium-infra pause | serve | echo
  pause  hold the pod's namespaces: sleep, reap children, exit 0 on SIGTERM/SIGINT
  serve  the demo web server on $PORT (default 8080): / (HTML), /api (JSON), /healthz,
         /readyz (503 while /tmp/unready exists or after /unready), /crash (exits 1)
  echo   echo TCP connections and UDP datagrams on $PORT (default 8080)
  send   send tcp|udp <ip:port> <text>: send the text once, print the answer";

fn main() -> ExitCode {
    let mode = std::env::args().nth(1);
    let result = match mode.as_deref() {
        Some("pause") => pause::run(),
        Some("serve") => serve::run(),
        Some("echo") => echo::run(),
        Some("send") => send::run(&std::env::args().skip(2).collect::<Vec<_>>()),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("kubarium-infra: unknown mode {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kubarium-infra: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The port a server mode listens on: `$PORT`, else 8080.
fn port() -> std::io::Result<u16> {
    match std::env::var("PORT") {
        Ok(text) => text.trim().parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("PORT must be a port number (1-65535), not {text:?}"),
            )
        }),
        Err(_) => Ok(8080),
    }
}
