//! Terminals on this machine (Learn mode's kubectl terminal): a program on a real
//! pseudo-terminal, its output sent to the UI like an exec session's (chunks at most 16 ms
//! apart), typed input and sizes coming back through [`Streams`] by id. `stop_stream` ends
//! the task, which hangs the terminal up as closing a window would.
//!
//! Unix only for now; elsewhere starting one fails with a sentence that says so.

use std::path::PathBuf;

use super::{Streams, lock, send_to};
use crate::ipc::resources::StreamId;
use crate::ipc::streams::ExecOutput;
use crate::{Error, Result, Tasks};

/// What a terminal runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalCommand {
    /// The program (a shell).
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Variables set on top of the app's own environment.
    pub env: Vec<(String, String)>,
    /// Where it starts; `None`: the app's working directory.
    pub cwd: Option<PathBuf>,
    /// Text shown before the program's first output (a missing tool, say); lines end in
    /// `\r\n`, as a terminal needs.
    pub notice: Option<String>,
}

/// How a running terminal is reached: its input and (on Unix) the master side, for sizes.
pub struct TerminalSession {
    input: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    #[cfg(unix)]
    master: std::sync::Arc<std::os::fd::OwnedFd>,
}

impl Streams {
    /// Starts `command` on a new terminal of `cols` × `rows`. Output and the exit go to
    /// `send` until it returns false. Fails when the program cannot start.
    #[cfg(unix)]
    pub fn terminal_start(
        &self,
        tasks: &Tasks,
        command: TerminalCommand,
        cols: u16,
        rows: u16,
        send: impl FnMut(ExecOutput) -> bool + Send + 'static,
    ) -> Result<StreamId> {
        let program = command.program.display().to_string();
        let started = unix::start(command, cols, rows, send).map_err(|error| {
            Error::Local(format!(
                "The terminal could not start {program}: {error}. Check that this shell exists and runs (set SHELL to another one), then open the terminal again."
            ))
        })?;
        let (task, input, master) = started;
        let id = tasks.spawn(task);
        let mut sessions = lock(&self.terminals);
        sessions.retain(|_, session| !session.input.is_closed());
        sessions.insert(id, TerminalSession { input, master });
        Ok(id)
    }

    /// Starting a terminal fails here: only Unix has one yet.
    #[cfg(not(unix))]
    pub fn terminal_start(
        &self,
        _tasks: &Tasks,
        _command: TerminalCommand,
        _cols: u16,
        _rows: u16,
        _send: impl FnMut(ExecOutput) -> bool + Send + 'static,
    ) -> Result<StreamId> {
        Err(not_available())
    }

    /// Types `data` into terminal `id`.
    pub fn terminal_input(&self, id: StreamId, data: Vec<u8>) -> Result<()> {
        send_to(&self.terminals, id, |session| &session.input, data)
    }

    /// Tells terminal `id` its new size.
    pub fn terminal_resize(&self, id: StreamId, cols: u16, rows: u16) -> Result<()> {
        let mut sessions = lock(&self.terminals);
        let Some(session) = sessions.get(&id).filter(|s| !s.input.is_closed()) else {
            sessions.remove(&id);
            return Err(Error::UnknownStream(id));
        };
        #[cfg(unix)]
        super::pty::resize(&session.master, cols, rows).map_err(|error| {
            Error::Local(format!(
                "The terminal could not be resized: {error}. Close it and open it again."
            ))
        })?;
        #[cfg(not(unix))]
        let _ = (session, cols, rows);
        Ok(())
    }
}

/// Why there is no terminal on this platform, and what to do instead.
#[cfg(not(unix))]
pub(crate) fn not_available() -> Error {
    Error::Local(
        "The built-in terminal is not available on Windows yet. Run kubectl in your own terminal with the local cluster's kubeconfig (the Overview shows its path and a kubectl command).".to_owned(),
    )
}

#[cfg(unix)]
mod unix {
    //! The Unix side: the pty, a thread reading its master, one writing it, one waiting for
    //! the program; the task between them and the UI.

    use std::fs::File;
    use std::io::{Read as _, Write as _};
    use std::os::fd::OwnedFd;
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::ExitStatus;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use tokio::sync::{mpsc, oneshot};
    use tokio::time::Instant;

    use super::TerminalCommand;
    use crate::ipc::streams::ExecOutput;
    use crate::streams::pty;

    /// How long output waits for more before it is sent.
    const COALESCE: Duration = Duration::from_millis(16);
    /// After the program exits, how long its last output (or that of jobs it left behind
    /// holding the terminal) may still take before the exit is reported.
    const LINGER: Duration = Duration::from_secs(1);
    /// How long a hung-up program has before it is killed.
    const HANG_UP_GRACE: Duration = Duration::from_secs(3);

    type Started = (
        std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
        mpsc::UnboundedSender<Vec<u8>>,
        Arc<OwnedFd>,
    );

    /// Spawns the program and the threads; returns the task to run, the input sender and
    /// the master.
    pub(super) fn start(
        command: TerminalCommand,
        cols: u16,
        rows: u16,
        send: impl FnMut(ExecOutput) -> bool + Send + 'static,
    ) -> std::io::Result<Started> {
        let mut process = std::process::Command::new(&command.program);
        process
            .args(&command.args)
            .envs(command.env.iter().cloned());
        if let Some(cwd) = &command.cwd {
            process.current_dir(cwd);
        }
        let (master, mut child) = pty::spawn(process, cols, rows)?;
        let pid = child.id();
        let reaped = Arc::new(AtomicBool::new(false));
        let guard = HangUp {
            pid,
            reaped: Arc::clone(&reaped),
        };
        let reader = File::from(master.try_clone()?);
        let writer = File::from(master.try_clone()?);
        let (output_tx, output) = mpsc::channel(64);
        let (writes, writes_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let (exit_tx, exit) = oneshot::channel();
        // The guard hangs the child up should a thread fail to start below.
        std::thread::Builder::new()
            .name("terminal-wait".to_owned())
            .spawn(move || {
                let status = child.wait();
                reaped.store(true, Ordering::SeqCst);
                let _ = exit_tx.send(status);
            })?;
        std::thread::Builder::new()
            .name("terminal-read".to_owned())
            .spawn(move || read_master(reader, &output_tx))?;
        std::thread::Builder::new()
            .name("terminal-write".to_owned())
            .spawn(move || {
                let mut writer = writer;
                while let Ok(data) = writes_rx.recv() {
                    if writer.write_all(&data).is_err() {
                        break;
                    }
                }
            })?;
        let (input, input_rx) = mpsc::unbounded_channel();
        let task = run(command.notice, output, input_rx, writes, exit, guard, send);
        Ok((Box::pin(task), input, Arc::new(master)))
    }

    /// Reads the master until the terminal's last user closes it (EIO on Linux, 0 bytes
    /// elsewhere) or nobody listens.
    fn read_master(mut reader: File, output: &mpsc::Sender<Vec<u8>>) {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if output.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    /// Hangs the program up when the task ends before it did (`stop_stream`, or the UI
    /// went away), and kills it if it ignores that.
    struct HangUp {
        pid: u32,
        reaped: Arc<AtomicBool>,
    }

    impl Drop for HangUp {
        fn drop(&mut self) {
            if self.reaped.load(Ordering::SeqCst) {
                return;
            }
            pty::hang_up(self.pid);
            let (pid, reaped) = (self.pid, Arc::clone(&self.reaped));
            // Checked again after the grace: once reaped, the pid may belong to another.
            let _ = std::thread::Builder::new()
                .name("terminal-kill".to_owned())
                .spawn(move || {
                    std::thread::sleep(HANG_UP_GRACE);
                    if !reaped.load(Ordering::SeqCst) {
                        pty::kill(pid);
                    }
                });
        }
    }

    /// The terminal's task: input in, output out, then the exit.
    #[allow(clippy::too_many_arguments)] // the ends of the threads it sits between
    async fn run(
        notice: Option<String>,
        mut output: mpsc::Receiver<Vec<u8>>,
        mut input: mpsc::UnboundedReceiver<Vec<u8>>,
        writes: std::sync::mpsc::Sender<Vec<u8>>,
        mut exit: oneshot::Receiver<std::io::Result<ExitStatus>>,
        guard: HangUp,
        mut send: impl FnMut(ExecOutput) -> bool + Send,
    ) {
        let _guard = guard;
        if let Some(notice) = notice
            && !send(ExecOutput::Stdout {
                data: notice.into_bytes(),
            })
        {
            return;
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut deadline: Option<Instant> = None;
        let mut linger: Option<Instant> = None;
        let mut status: Option<std::io::Result<ExitStatus>> = None;
        let (mut output_open, mut input_open) = (true, true);
        while output_open || status.is_none() {
            tokio::select! {
                chunk = output.recv(), if output_open => match chunk {
                    Some(chunk) => {
                        pending.extend_from_slice(&chunk);
                        deadline.get_or_insert_with(|| Instant::now() + COALESCE);
                    }
                    None => output_open = false,
                },
                data = input.recv(), if input_open => match data {
                    // A write to a terminal that is gone fails there, and is dropped.
                    Some(data) => { let _ = writes.send(data); }
                    None => input_open = false,
                },
                result = &mut exit, if status.is_none() => {
                    status = Some(result.unwrap_or_else(|_| Err(std::io::Error::other("the wait for it ended"))));
                    linger = Some(Instant::now() + LINGER);
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    deadline = None;
                    if !pending.is_empty() && !send(ExecOutput::Stdout { data: std::mem::take(&mut pending) }) {
                        return;
                    }
                }
                () = sleep_until(linger), if linger.is_some() => break,
            }
        }
        if !pending.is_empty() && !send(ExecOutput::Stdout { data: pending }) {
            return;
        }
        let (code, message) = match status {
            Some(Ok(status)) => exit_of(status),
            Some(Err(error)) => (
                None,
                format!(
                    "The terminal's program could not be waited for: {error}. Open the terminal again."
                ),
            ),
            None => (None, "The terminal ended.".to_owned()),
        };
        send(ExecOutput::Exit { code, message });
    }

    /// The exit code and a sentence for the UI.
    pub(super) fn exit_of(status: ExitStatus) -> (Option<i32>, String) {
        match (status.code(), status.signal()) {
            (Some(code), _) => (
                Some(code),
                format!(
                    "The shell exited with code {code}. Open the terminal again to start a new one."
                ),
            ),
            (None, Some(signal)) => (
                None,
                format!(
                    "The shell was ended by signal {signal}. Open the terminal again to start a new one."
                ),
            ),
            (None, None) => (
                None,
                "The shell ended. Open the terminal again to start a new one.".to_owned(),
            ),
        }
    }

    async fn sleep_until(deadline: Option<Instant>) {
        if let Some(deadline) = deadline {
            tokio::time::sleep_until(deadline).await;
        }
    }
}
