//! The `dns` mode as the host runs it: the built binary, its configuration file, SIGHUP to
//! reload and SIGTERM to stop, queried over loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The binary in `dns` mode on a free loopback port, with its stderr lines in a channel.
struct Dns {
    child: Child,
    address: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Dns {
    fn start(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubarium-infra"))
            .arg("dns")
            .env("KUBARIUM_CONFIG", config)
            .env("KUBARIUM_DNS_LISTEN", "127.0.0.1:0")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("dns> {line}");
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let mut dns = Self {
            child,
            address: "0.0.0.0:0".parse().unwrap(),
            log,
        };
        // The first load is logged before the sockets are bound.
        dns.wait_for_log("dns: loaded ");
        let line = dns.wait_for_log("serving UDP and TCP on ");
        dns.address = line.rsplit(' ').next().unwrap().parse().unwrap();
        dns
    }

    fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line with {text:?}"));
            if line.contains(text) {
                return line;
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The address in the answer to an A query for `name`, `None` for an answer without one.
    fn resolve(&self, name: &str) -> (u8, Option<[u8; 4]>) {
        let mut query = vec![0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 1, 0, 1]);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket.send_to(&query, self.address).unwrap();
        let mut reply = [0u8; 512];
        let (len, _) = socket.recv_from(&mut reply).unwrap();
        assert_eq!(reply[..2], [0x12, 0x34]);
        let rcode = reply[3] & 0x0f;
        let answers = u16::from_be_bytes([reply[6], reply[7]]);
        // One A record, last in the message: its address is the last four bytes.
        let address = (answers == 1).then(|| reply[len - 4..len].try_into().unwrap());
        (rcode, address)
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const NAME: &str = "web.default.svc.cluster.local";

#[test]
fn serves_reloads_on_sighup_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!("# kubarium dns v1\ndomain cluster.local\na {NAME} 10.96.0.7\n"),
    )
    .unwrap();
    let mut dns = Dns::start(&config);
    assert_eq!(dns.resolve(NAME), (0, Some([10, 96, 0, 7])));
    assert_eq!(dns.resolve("nope.cluster.local").0, 3);

    std::fs::write(
        &config,
        format!("domain cluster.local\na {NAME} 10.96.0.8\n"),
    )
    .unwrap();
    dns.signal("HUP");
    dns.wait_for_log("loaded 1 records");
    assert_eq!(dns.resolve(NAME), (0, Some([10, 96, 0, 8])));

    // A file that does not parse is reported by line, and the previous table stays.
    std::fs::write(&config, "domain cluster.local\nbogus line\n").unwrap();
    dns.signal("HUP");
    let line = dns.wait_for_log("keeping the previous configuration");
    assert!(
        line.contains("line 2: unknown directive \"bogus\""),
        "{line}"
    );
    assert_eq!(dns.resolve(NAME), (0, Some([10, 96, 0, 8])));

    dns.signal("TERM");
    let status = dns.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_missing_file_is_an_empty_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let dns = Dns::start(&config);
    // Nothing to answer and nowhere to forward: SERVFAIL, and the server stays up.
    assert_eq!(dns.resolve(NAME).0, 2);
    std::fs::write(&config, format!("a {NAME} 10.96.0.9\n")).unwrap();
    dns.signal("HUP");
    dns.wait_for_log("loaded 1 records");
    assert_eq!(dns.resolve(NAME), (0, Some([10, 96, 0, 9])));
}
