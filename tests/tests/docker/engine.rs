//! A Docker engine of the test's own: a second `dockerd` on its own socket, data root, exec
//! root and pid file, so a scenario can stop and start Docker under a cluster while the
//! other scenarios keep the engine they share.
//!
//! It must not fight that engine. Its default bridge is one the test makes (`--bridge`:
//! `--bridge=none` would make it delete the host's `docker0`, the shared engine's), and it
//! leaves the host's iptables alone (`--iptables=false`: an engine that manages them flushes
//! the `DOCKER` chains of the other on start). Its networks come from a /16 of its own in
//! 10.0.0.0/8 that no route of the host covers (`--default-address-pool`, on its first start
//! only: see [`Engine::run`] for why), and one `FORWARD` rule, removed
//! with the engine, lets its containers reach each other across its bridges: the shared
//! engine sets the chain's policy to `DROP`, and bridged traffic passes through it
//! (`br_netfilter`). Its containerd (its own, or the system's) keeps them in namespaces of
//! their own. Published ports work through Docker's userland proxy.
//!
//! [`Engine`]'s drop stops it and removes everything it made, however the test ended.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the engine may take to answer after it starts, and to exit after SIGTERM (it
/// stops its containers first, each given its stop timeout).
const PATIENCE: Duration = Duration::from_secs(60);
/// How long one `docker` command against it may take.
const ANSWER: Duration = Duration::from_secs(30);

/// A private `dockerd`, stopped and removed on drop.
pub(crate) struct Engine {
    /// Everything it keeps: socket, data root, exec root, pid file, log.
    dir: PathBuf,
    /// The /16 its networks are taken from.
    pool: String,
    /// The process (`dockerd`, or `sudo` running it), while it runs.
    child: Option<Child>,
    /// The `FORWARD` rule was added (and is deleted on drop).
    forward_rule: bool,
    /// Its default bridge, made by the test (and deleted on drop) once made.
    bridge: Option<String>,
}

impl Engine {
    /// Starts an engine and waits until it answers. Panics, saying what to do, when `dockerd`
    /// is not installed or cannot be run as root.
    pub(crate) fn start() -> Self {
        let dockerd = Command::new("sh")
            .args(["-c", "command -v dockerd"])
            .output()
            .is_ok_and(|output| output.status.success());
        assert!(
            dockerd,
            "this scenario runs a Docker engine of its own and `dockerd` is not on PATH: install Docker's engine (`apt-get install -y docker.io`, as `cargo xtask test` does)"
        );
        assert!(
            privileged("true").status().is_ok_and(|s| s.success()),
            "this scenario runs a Docker engine of its own, which needs root: run it as root or with password-less sudo"
        );
        let dir = tempfile::Builder::new()
            .prefix("kubarium-dockerd-")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        let mut engine = Self {
            dir,
            pool: free_pool(),
            child: None,
            forward_rule: false,
            bridge: None,
        };
        engine.make_bridge();
        engine.allow_forwarding();
        engine.run();
        engine
    }

    /// The address clients reach it at, as `DOCKER_HOST` takes it.
    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    /// `docker -H <this engine>` with `args`; its stdout, trimmed. Panics with its stderr if it
    /// fails.
    pub(crate) fn docker(&self, args: &[&str]) -> String {
        let output = self.client(ANSWER).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "docker {args:?} on the private engine failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Stops the engine as a service manager does (SIGTERM; no live-restore, so it stops its
    /// containers) and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), "TERM");
        let exited = wait_exit(&mut child, PATIENCE);
        assert!(
            exited,
            "the private dockerd did not exit within {PATIENCE:?} of SIGTERM; its log:\n{}",
            self.log()
        );
    }

    /// Starts the engine again on the same data root, and waits until it answers.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// `docker -H <this engine>`, killed after `limit` (a hung engine fails the test instead
    /// of stalling it).
    fn client(&self, limit: Duration) -> Command {
        let mut command = Command::new("timeout");
        command
            .arg(limit.as_secs().to_string())
            .args(["docker", "-H", &self.host()]);
        command
    }

    /// The last lines of the engine's log, for failure messages.
    pub(crate) fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn data_root(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run(&mut self) {
        let path = |name: &str| self.dir.join(name).display().to_string();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .unwrap();
        let unique = self
            .dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut command = privileged("dockerd");
        command
            .args(["--host", &self.host()])
            .args(["--data-root", &path("data")])
            .args(["--exec-root", &path("exec")])
            .args(["--pidfile", &path("dockerd.pid")])
            .args(["--bridge", self.bridge.as_deref().unwrap_or_default()])
            .args(["--iptables=false", "--ip-masq=false"]);
        // The pool only on the first start: an engine that starts with address pools and
        // finds its default network from a previous start deletes the link named `docker0`
        // (moby's initNetworkController clears the stale bridge, then
        // removeDefaultBridgeInterface), which is the shared engine's. Networks made on the
        // first start keep their subnets; none is made after.
        if !self.data_root().exists() {
            command.args([
                "--default-address-pool",
                &format!("base={},size=20", self.pool),
            ]);
        }
        command
            .args(["--containerd-namespace", &unique])
            .args([
                "--containerd-plugins-namespace",
                &format!("{unique}-plugins"),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answers = self
                .client(Duration::from_secs(5))
                .args(["version", "--format", "{{.Server.Version}}"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if answers {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the private dockerd exited ({status}) before it answered; its log:\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                self.child = Some(child);
                panic!(
                    "the private dockerd did not answer within {PATIENCE:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.child = Some(child);
    }

    /// Makes the engine's default bridge, on the last /24 of its pool.
    fn make_bridge(&mut self) {
        let name = format!("kbd{}", std::process::id());
        let (base, _) = self.pool.split_once('/').unwrap_or_default();
        let address = base.replacen(".0.0", ".255.1", 1);
        for args in [
            vec!["link", "add", &name, "type", "bridge"],
            vec!["addr", "add", &format!("{address}/24"), "dev", &name],
            vec!["link", "set", &name, "up"],
        ] {
            let status = privileged("ip").args(&args).status().unwrap();
            if args[1] == "add" && args[0] == "link" && status.success() {
                self.bridge = Some(name.clone());
            }
            assert!(status.success(), "ip {args:?} failed");
        }
    }

    /// Lets the engine's containers reach each other (see the module header).
    fn allow_forwarding(&mut self) {
        let has_iptables = Command::new("sh")
            .args(["-c", "command -v iptables"])
            .output()
            .is_ok_and(|output| output.status.success());
        if !has_iptables {
            // No firewall rules anywhere, so nothing drops forwarded traffic.
            return;
        }
        let status = privileged("iptables")
            .arg("-I")
            .args(self.forward_args())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "could not add the FORWARD rule for {}",
            self.pool
        );
        self.forward_rule = true;
    }

    /// The `FORWARD` rule, after `-I`/`-D`.
    fn forward_args(&self) -> Vec<String> {
        let comment = format!("kubarium test engine {}", self.dir.display());
        [
            "FORWARD",
            "-s",
            &self.pool,
            "-d",
            &self.pool,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            "ACCEPT",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Whatever is still mounted under the engine's directory, deepest first.
    fn mounts(&self) -> Vec<String> {
        let prefix = self.dir.display().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|point| point.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        mounts.sort_by_key(|point| std::cmp::Reverse(point.len()));
        mounts
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            if !wait_exit(&mut child, PATIENCE) {
                signal(child.id(), "KILL");
                let _ = child.wait();
            }
        }
        // A containerd the engine started itself outlives a killed engine.
        let containerd = self.dir.join("exec/containerd/containerd.pid");
        if let Some(pid) = std::fs::read_to_string(containerd)
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .filter(|pid| kubarium_tests::process_alive(*pid))
        {
            signal(pid, "KILL");
        }
        for point in self.mounts() {
            let _ = privileged("umount").args(["-l", &point]).status();
        }
        if self.forward_rule {
            let _ = privileged("iptables")
                .arg("-D")
                .args(self.forward_args())
                .status();
        }
        // Its networks' bridges outlive it (the kernel keeps a bridge until it is deleted).
        for bridge in self.bridge.iter().cloned().chain(bridges_in(&self.pool)) {
            let _ = privileged("ip").args(["link", "del", &bridge]).status();
        }
        let _ = privileged("rm").arg("-rf").arg(&self.dir).status();
    }
}

/// The host's `br-…` links with an IPv4 address in `pool` (an `a.b.0.0/16`).
fn bridges_in(pool: &str) -> Vec<String> {
    let prefix = pool.split_once(".0.0/").map(|(ab, _)| format!("{ab}."));
    let output = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let name = fields.next()?;
            let address = fields.nth(1)?;
            (name.starts_with("br-") && address.starts_with(prefix.as_deref()?))
                .then(|| name.to_owned())
        })
        .collect()
}

/// `program` as root: itself when the test is root, else through `sudo -n`.
fn privileged(program: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0");
    if root {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", program]);
        sudo
    }
}

fn signal(pid: u32, signal: &str) {
    let _ = privileged("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A /16 of 10.0.0.0/8 that no route of the host overlaps (the host's bridges, the shared
/// engine's networks, another test engine's), from a start that differs per process.
fn free_pool() -> String {
    let routes = routes();
    let start = std::process::id() % 100;
    (0..100)
        .map(|i| 100 + (start + i) % 100)
        .map(|second| u32::from_be_bytes([10, second as u8, 0, 0]))
        .find(|&base| {
            let mask = 0xFFFF_0000;
            routes.iter().all(|&(dest, route_mask)| {
                route_mask == 0 || (dest & mask) != base && (base & route_mask) != dest
            })
        })
        .map(|base| format!("{}/16", std::net::Ipv4Addr::from(base)))
        .expect("every 10.100–199.0.0/16 overlaps a route of this host")
}

/// The host's IPv4 routes, `(destination, mask)`, from `/proc/net/route`.
fn routes() -> Vec<(u32, u32)> {
    let table = std::fs::read_to_string(Path::new("/proc/net/route")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // Each address is printed as the u32 in memory, whose bytes are in network order.
            let address = |field: &str| {
                let raw = u32::from_str_radix(field, 16).ok()?;
                Some(u32::from_be_bytes(raw.to_ne_bytes()))
            };
            Some((address(fields.get(1)?)?, address(fields.get(7)?)?))
        })
        .collect()
}
