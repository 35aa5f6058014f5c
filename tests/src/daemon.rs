//! `kubariumd` as a child process on a private data dir and port.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running `kubariumd`; killed on drop if still running.
pub struct Daemon {
    child: Child,
    dir: TempDir,
    /// The API server URL it printed.
    pub url: String,
    /// Lines it printed to stdout after the URL line.
    pub stdout: mpsc::Receiver<String>,
}

impl Daemon {
    /// Starts `kubariumd --data-dir <temp> --runtime hollow --secrets-key file` plus `args` (which should
    /// include `--listen` unless the test means the default), waiting for its "running at" line.
    pub fn start(args: &[&str]) -> Self {
        Self::start_in(TempDir::new().unwrap(), args)
    }

    /// As [`Daemon::start`] with a port of its own.
    pub fn start_on_free_port() -> Self {
        let listen = format!("127.0.0.1:{}", crate::free_port());
        Self::start(&["--listen", &listen])
    }

    /// As [`Daemon::start`], in an existing data dir.
    pub fn start_in(dir: TempDir, args: &[&str]) -> Self {
        Self::start_in_env(dir, args, &[])
    }

    /// As [`Daemon::start_in`], with extra environment variables.
    pub fn start_in_env(dir: TempDir, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Self::command(dir.path(), args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("Kubarium cluster is running at ") {
                        break url.to_owned();
                    }
                }
                Err(_) => {
                    let status = child.try_wait().unwrap();
                    panic!(
                        "kubariumd did not report it was running (exit: {status:?}); logs:\n{}",
                        crate::logs(dir.path(), "kubariumd")
                    );
                }
            }
        };
        Self {
            child,
            dir,
            url,
            stdout: rx,
        }
    }

    /// The `kubariumd` command for `data_dir` and `args`, not yet started.
    pub fn command(data_dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(crate::bin("kubariumd"));
        command.arg("--data-dir").arg(data_dir);
        if !args.contains(&"--runtime") {
            command.args(["--runtime", "hollow"]);
        }
        // Keep throwaway clusters' keys out of the keychain of whoever runs the tests.
        if !args.contains(&"--secrets-key") {
            command.args(["--secrets-key", "file"]);
        }
        command.args(args).stdin(Stdio::null());
        command
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The kubeconfig it wrote.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A kube-rs client from its kubeconfig, as any external program would build one.
    pub async fn client(&self) -> kube::Client {
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(self.kubeconfig()).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// Sends `signal` and waits for the exit.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        crate::send_signal(self.pid(), signal);
        self.wait(Duration::from_secs(15))
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        crate::wait_until("kubariumd to exit", timeout, || {
            self.child.try_wait().unwrap()
        })
    }

    /// Takes the data directory out of this daemon (after it has exited), to start
    /// another on it.
    pub fn take_dir(&mut self) -> TempDir {
        std::mem::replace(&mut self.dir, TempDir::new().unwrap())
    }

    /// Its log files' text.
    pub fn logs(&self) -> String {
        crate::logs(self.dir.path(), "kubariumd")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
