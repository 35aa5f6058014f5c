//! `kubarium-infra`: the one program Kubarium puts inside containers, built as a small static
//! binary and imported into Docker as `kubarium.dev/infra:<version>`. Its first argument picks
//! the mode:
//!
//! - `pause`: the pod sandbox's process, which holds the pod's namespaces. It does nothing,
//!   reaps orphaned children and exits 0 on SIGTERM or SIGINT.
//! - `serve`: the demo web server for lessons and tests (see [`serve`]).
//! - `echo`: a TCP and UDP echo server on one port.
//! - `proxy`: one Service's data plane, kube-proxy in a container (see [`proxy`]): forwards
//!   the ports of `/etc/kubarium/config` to the Service's endpoints, re-reading it on SIGHUP.
//! - `load`: an HTTP/1.1 load generator for the Service benchmarks (see [`load`]).
//! - `send`: a one-shot TCP or UDP client for tests and lessons.
//! - `dns`: the cluster's DNS server (see [`dns`]).
//! - `ingress`: the cluster's ingress controller data plane, an HTTP/HTTPS reverse proxy
//!   configured through `/etc/kubarium/config` (see [`ingress`]).
//! - the applets `cat`, `ls`, `env`, `echo`, `sleep`, `hostname`, `wget` and `hit` (see
//!   [`applets`]): picked by the name the binary runs under, as busybox does, since the
//!   demo image links them into `/bin`; or by the first argument (but `echo` there is the
//!   echo server).

mod applets;
mod client;
mod conf;
mod dns;
mod echo;
mod ingress;
mod load;
mod pause;
mod proxy;
mod send;
mod serve;
mod sys;

use std::process::ExitCode;

const USAGE: &str =
    "usage: kubarium-infra pause | serve | echo | proxy | load URL N SECONDS | send | dns | ingress
       kubarium-infra APPLET [ARG]...
  pause  hold the pod's namespaces: sleep, reap children, exit 0 on SIGTERM/SIGINT
  serve  the demo web server on $PORT (default 8080): / (HTML), /api (JSON), /healthz,
         /readyz (503 while /tmp/unready exists or after /unready), /crash (exits 1)
  echo   echo TCP connections and UDP datagrams on $PORT (default 8080)
  proxy  forward a Service's TCP and UDP ports to its endpoints as /etc/kubarium/config
         (or $KUBARIUM_CONFIG) says; re-read on SIGHUP, exit 0 on SIGTERM/SIGINT
  load   GET http://host:port/path on N keep-alive connections for SECONDS (with
         --new-connection: a connection per request); prints one JSON line: requests,
         errors, seconds, rps, p50_us, p99_us, max_us
  send   send tcp|udp <ip:port> <text>: send the text once, print the answer
  dns    the cluster DNS server on UDP+TCP $KUBARIUM_DNS_LISTEN (default 0.0.0.0:53), records
         from $KUBARIUM_CONFIG (default /etc/kubarium/config), re-read on SIGHUP
  ingress  HTTP/HTTPS reverse proxy for Ingresses, per /etc/kubarium/config (SIGHUP re-reads)
applets (run as /bin/<name> in the demo image; as a mode, echo is the server):
  cat [FILE]... | ls [-1alA] [PATH]... | env | echo [-n] ARG... | sleep SECONDS|infinity
  hostname [-i] | wget -qO- URL | hit URL COUNT (COUNT GETs on new connections, a line each)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Run as /bin/cat (a hard link in the demo image): the applet of that name.
    let invoked = args
        .first()
        .and_then(|arg0| std::path::Path::new(arg0).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(code) = applets::run(&invoked, args.get(1..).unwrap_or_default()) {
        return code;
    }
    // `kubarium-infra echo` stays the echo server; the echo applet is only /bin/echo.
    if let Some(mode) = args.get(1).filter(|mode| *mode != "echo")
        && let Some(code) = applets::run(mode, &args[2..])
    {
        return code;
    }
    let result = match args.get(1).map(String::as_str) {
        Some("pause") => pause::run(),
        Some("serve") => serve::run(),
        Some("echo") => echo::run(),
        Some("proxy") => proxy::run(),
        Some("load") => load::run(&args[2..]),
        Some("send") => send::run(&args[2..]),
        Some("dns") => dns::run(),
        Some("ingress") => ingress::run(),
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
