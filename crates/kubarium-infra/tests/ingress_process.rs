//! `kubarium-infra ingress` as a process, as the Docker plane drives it: the bound port on
//! stderr, SIGHUP re-reads the file (a bad one is reported with its line and the old one
//! kept), SIGTERM exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// Kills the process if the test fails before it stops it.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for a stderr line containing `wanted` and returns it.
fn line_with(lines: &Receiver<String>, wanted: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no stderr line with {wanted:?}"));
        if line.contains(wanted) {
            return line;
        }
    }
}

fn get(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn sighup_reloads_and_sigterm_exits_zero() {
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend_addr = backend.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in backend.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nbackend");
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "# kubarium ingress v1\nhttp 0\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubarium-infra"))
        .arg("ingress")
        .env("KUBARIUM_CONFIG", &config)
        .env("KUBARIUM_INGRESS_LISTEN_HOST", "127.0.0.1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let process = Process(child);
    let (send, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });

    line_with(&lines, "loaded 1 ports / 0 routes / 0 certs");
    let listening = line_with(&lines, "http listening on 127.0.0.1:");
    let addr: SocketAddr = listening.rsplit(' ').next().unwrap().parse().unwrap();
    let response = get(addr);
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(
        response.contains("host \"a.test\" and path \"/x\""),
        "{response}"
    );

    std::fs::write(&config, format!("http 0\ndefault ns/a -> {backend_addr}\n")).unwrap();
    signal(&process.0, "HUP");
    line_with(
        &lines,
        "loaded 1 ports / 0 routes / 0 certs / a default backend",
    );
    assert!(get(addr).ends_with("backend"));

    std::fs::write(&config, "http 0\nroute a.test Prefix /x\n").unwrap();
    signal(&process.0, "HUP");
    let error = line_with(&lines, "keeping the previous configuration");
    assert!(error.contains("line 2: expected `route"), "{error}");
    assert!(get(addr).ends_with("backend"));

    signal(&process.0, "TERM");
    let mut process = process;
    let status = process.0.wait().unwrap();
    assert!(status.success(), "{status}");
}
