//! A pseudo-terminal on this machine (Unix only): a program started in a new session with
//! the terminal's slave side as its standard streams and controlling terminal, as a terminal
//! emulator starts a shell, so job control, line editing, colours and `SIGWINCH` work.
//!
//! The app's only `unsafe`: std offers no way to give a child a new session and a
//! controlling terminal but `pre_exec`.
#![allow(
    unsafe_code,
    reason = "Command::pre_exec, to make the pty the child's controlling terminal"
)]

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

use rustix::fs::{Mode, OFlags};
use rustix::io::{FdFlags, fcntl_setfd};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};

/// Starts `command` on a new pseudo-terminal of `cols` × `rows`; returns the master side
/// (read it for the output, write it for input) and the child.
pub(crate) fn spawn(
    mut command: Command,
    cols: u16,
    rows: u16,
) -> std::io::Result<(OwnedFd, Child)> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
    // Not every platform's openpt takes CLOEXEC: other programs the app starts must not
    // inherit the master, or the terminal would never see its shell's end.
    fcntl_setfd(&master, FdFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    resize(&master, cols, rows)?;
    command
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it makes two system calls (setsid, ioctl) through rustix, which
    // allocates nothing and takes no lock. fd 0 is the slave by then (std sets up the
    // standard streams before running it) and stays open for the call.
    unsafe {
        command.pre_exec(|| {
            // A new session without a controlling terminal, then the slave becomes it: the
            // shell gets job control and the terminal's signals (Ctrl-C, SIGWINCH).
            rustix::process::setsid()?;
            rustix::process::ioctl_tiocsctty(BorrowedFd::borrow_raw(0))?;
            Ok(())
        });
    }
    let child = command.spawn()?;
    // `command` (and with it this side's copies of the slave) is dropped here: once the
    // child's are the only ones, reading the master ends when the session does.
    Ok((master, child))
}

/// Tells the terminal its size; the kernel sends `SIGWINCH` to its foreground job.
pub(crate) fn resize(master: &OwnedFd, cols: u16, rows: u16) -> std::io::Result<()> {
    tcsetwinsize(
        master,
        Winsize {
            ws_row: rows.max(1),
            ws_col: cols.max(1),
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )?;
    Ok(())
}

/// Hangs up the session whose leader is `pid`, as closing a terminal window does: `SIGHUP`
/// (and `SIGCONT`, for a stopped job) to its process group, then to the leader itself.
pub(crate) fn hang_up(pid: u32) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    // The group or the process may be gone already: nothing to do then.
    let _ = kill_process_group(pid, Signal::HUP);
    let _ = kill_process_group(pid, Signal::CONT);
    let _ = kill_process(pid, Signal::HUP);
}

/// Ends process `pid` for good (a shell that ignored the hang-up).
pub(crate) fn kill(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, Signal::KILL);
    }
}
