//! Tests of the host terminal through its real pseudo-terminal (a `/bin/sh`, no cluster
//! needed for most), and of the kubectl terminal's environment on a hollow cluster.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::ipc::streams::ExecOutput;
use crate::streams::{Streams, TerminalCommand};
use crate::{App, Tasks};

/// Generous: the machine is shared and noisy; only a hang should hit it.
const PATIENCE: Duration = Duration::from_secs(60);

fn sh(args: &[&str]) -> TerminalCommand {
    TerminalCommand {
        program: PathBuf::from("/bin/sh"),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: vec![("KUBECONFIG".to_owned(), "/tmp/the-kubeconfig".to_owned())],
        cwd: None,
        notice: None,
    }
}

/// A terminal's output as text, and its exit.
struct Screen {
    rx: mpsc::UnboundedReceiver<ExecOutput>,
    text: String,
}

impl Screen {
    fn new() -> (Self, impl FnMut(ExecOutput) -> bool + Send + 'static) {
        let (tx, rx) = mpsc::unbounded_channel();
        let screen = Self {
            rx,
            text: String::new(),
        };
        (screen, move |output| tx.send(output).is_ok())
    }

    /// Reads output until `text` shows; panics with what came after [`PATIENCE`].
    async fn wait_for(&mut self, text: &str) {
        let reading = async {
            while !self.text.contains(text) {
                match self.rx.recv().await {
                    Some(ExecOutput::Stdout { data } | ExecOutput::Stderr { data }) => {
                        self.text.push_str(&String::from_utf8_lossy(&data));
                    }
                    Some(ExecOutput::Exit { .. }) | None => return false,
                }
            }
            true
        };
        let found = tokio::time::timeout(PATIENCE, reading).await;
        assert!(
            matches!(found, Ok(true)),
            "{text:?} never showed; the terminal said {:?}",
            self.text
        );
    }

    /// Reads output until the exit; returns its code.
    async fn exit(&mut self) -> Option<i32> {
        let reading = async {
            loop {
                match self.rx.recv().await {
                    Some(ExecOutput::Stdout { data } | ExecOutput::Stderr { data }) => {
                        self.text.push_str(&String::from_utf8_lossy(&data));
                    }
                    Some(ExecOutput::Exit { code, .. }) => return code,
                    None => panic!(
                        "the terminal ended without an exit; it said {:?}",
                        self.text
                    ),
                }
            }
        };
        tokio::time::timeout(PATIENCE, reading)
            .await
            .unwrap_or_else(|_| panic!("no exit; the terminal said {:?}", self.text))
    }
}

#[tokio::test]
async fn a_program_runs_on_a_terminal_of_the_size_asked_with_its_environment() {
    let (streams, tasks) = (Streams::default(), Tasks::default());
    let (mut screen, send) = Screen::new();
    let command = sh(&["-c", "tty; echo \"K=$KUBECONFIG\"; stty size; exit 3"]);
    streams
        .terminal_start(&tasks, command, 100, 30, send)
        .unwrap();
    let code = screen.exit().await;
    assert_eq!(code, Some(3), "{}", screen.text);
    assert!(screen.text.contains("/dev/"), "{}", screen.text);
    assert!(!screen.text.contains("not a tty"), "{}", screen.text);
    assert!(
        screen.text.contains("K=/tmp/the-kubeconfig"),
        "{}",
        screen.text
    );
    assert!(screen.text.contains("30 100"), "{}", screen.text);
}

#[tokio::test]
async fn typed_input_and_a_new_size_reach_the_shell() {
    let (streams, tasks) = (Streams::default(), Tasks::default());
    let (mut screen, send) = Screen::new();
    let mut command = sh(&[]);
    command.notice = Some("a notice first\r\n".to_owned());
    let id = streams
        .terminal_start(&tasks, command, 80, 24, send)
        .unwrap();
    screen.wait_for("a notice first").await;
    streams.terminal_resize(id, 132, 43).unwrap();
    // Both halves of the marker are echoed separately, so only the command's output joins
    // them; the terminal echoes the typed line itself too.
    streams
        .terminal_input(id, b"stty size; echo SIZE-\"\"SHOWN; exit 5\n".to_vec())
        .unwrap();
    screen.wait_for("SIZE-SHOWN").await;
    assert_eq!(screen.exit().await, Some(5), "{}", screen.text);
    assert!(screen.text.contains("43 132"), "{}", screen.text);
    // It has ended: its id no longer takes input.
    assert!(streams.terminal_input(id, b"x".to_vec()).is_err());
}

/// `stop_stream` hangs the terminal up: the shell and what it runs end.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn stopping_the_stream_ends_the_program() {
    let (streams, tasks) = (Streams::default(), Tasks::default());
    let (mut screen, send) = Screen::new();
    let command = sh(&["-c", "echo \"PID=$$.\"; exec sleep 1000"]);
    let id = streams
        .terminal_start(&tasks, command, 80, 24, send)
        .unwrap();
    screen.wait_for(".").await;
    let pid: u32 = screen
        .text
        .split("PID=")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {:?}", screen.text));
    let proc = PathBuf::from(format!("/proc/{pid}"));
    assert!(proc.exists());
    tasks.stop(id);
    crate::actions::testing::eventually("the program to end", || async {
        (!proc.exists()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_program_that_cannot_start_is_an_error() {
    let (streams, tasks) = (Streams::default(), Tasks::default());
    let (_screen, send) = Screen::new();
    let mut command = sh(&[]);
    command.program = PathBuf::from("/nonexistent/shell");
    let error = streams
        .terminal_start(&tasks, command, 80, 24, send)
        .unwrap_err();
    assert!(error.to_string().contains("/nonexistent/shell"), "{error}");
}

#[test]
fn kubectl_is_looked_for_on_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().display().to_string();
    assert!(!super::terminal::on_path("kubectl", Some(&path)));
    let kubectl = dir.path().join("kubectl");
    std::fs::write(&kubectl, "#!/bin/sh\n").unwrap();
    assert!(
        !super::terminal::on_path("kubectl", Some(&path)),
        "not executable"
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let both = format!("/nonexistent:{path}");
    assert!(super::terminal::on_path("kubectl", Some(&both)));
    assert!(!super::terminal::on_path("kubectl", None));
}

/// The kubectl terminal on the local cluster: its KUBECONFIG is a private copy whose
/// context has the lesson's namespace, TERM is set, and a bad namespace is refused.
#[tokio::test]
async fn the_kubectl_terminal_points_at_the_local_cluster_in_the_namespace() {
    let hollow = crate::actions::testing::Hollow::start().await;
    let app = App::local_only(std::sync::Arc::clone(&hollow.local));
    let (mut screen, send) = Screen::new();
    let id = app
        .terminal_start_with(
            Some(PathBuf::from("/bin/sh")),
            Some("learn-pods".to_owned()),
            80,
            24,
            send,
        )
        .await
        .unwrap();
    app.streams()
        .terminal_input(
            id,
            b"echo \"K=$KUBECONFIG.\"; echo \"T=$TERM.\"; grep -c 'namespace: learn-pods' \"$KUBECONFIG\"; exit\n"
                .to_vec(),
        )
        .unwrap();
    assert_eq!(screen.exit().await, Some(0), "{}", screen.text);
    let file = screen
        .text
        .rsplit("K=")
        .next()
        .and_then(|rest| rest.split(".\r").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no KUBECONFIG in {:?}", screen.text));
    assert!(file.starts_with(hollow.dir.path()), "{}", file.display());
    assert!(screen.text.contains("T=xterm-256color."), "{}", screen.text);
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let config = kube::config::Kubeconfig::read_from(&file).unwrap();
    let context = &config.contexts[0];
    assert_eq!(
        context.context.as_ref().unwrap().namespace.as_deref(),
        Some("learn-pods")
    );
    let error = app
        .terminal_start_with(None, Some("Not A Namespace".to_owned()), 80, 24, |_| true)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("not a namespace name"),
        "{error}"
    );
    hollow.stop().await;
}
