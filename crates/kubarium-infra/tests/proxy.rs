//! The `proxy` mode as a process: configuration from `$KUBARIUM_CONFIG`, SIGHUP reloads,
//! a bad file keeps the previous configuration, SIGTERM exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Proxy {
    child: Child,
    stderr: Receiver<String>,
}

impl Proxy {
    fn start(config: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubarium-infra"))
            .arg("proxy")
            .env("KUBARIUM_CONFIG", config)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Self {
            child,
            stderr: receiver,
        }
    }

    /// The next stderr line, which must contain `expected`.
    fn logged(&self, expected: &str) -> String {
        let line = self.stderr.recv_timeout(TIMEOUT).unwrap();
        assert!(
            line.contains(expected),
            "{line:?} does not contain {expected:?}"
        );
        line
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A backend that says `hello` to each connection and closes.
fn backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"hello");
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn greeting(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn reloads_on_sighup_keeps_the_last_good_file_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let mut proxy = Proxy::start(&config);
    proxy.logged("loaded 0 ports");

    let (port, upstream) = (free_port(), backend());
    std::fs::write(
        &config,
        format!("# kubarium proxy v1\ntcp {port} -> 127.0.0.1:{upstream}\n"),
    )
    .unwrap();
    proxy.signal("HUP");
    proxy.logged("loaded 1 ports");
    assert_eq!(greeting(port), "hello");

    std::fs::write(
        &config,
        format!("tcp {port} -> 127.0.0.1:{upstream}\nroute / -> x\n"),
    )
    .unwrap();
    proxy.signal("HUP");
    let line = proxy.logged("line 2: unknown directive \"route\"");
    assert!(
        line.contains("keeping the previous configuration"),
        "{line}"
    );
    assert_eq!(greeting(port), "hello");

    proxy.signal("TERM");
    let status = proxy.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
