//! The few system calls std does not offer: waiting for signals, reaping children, the
//! container's own IPv4 address, and the socket options and shutdowns the proxy needs. The
//! crate's only `unsafe` with `proxy::netlink` (the nf_tables socket), each call with its
//! reason.
//!
//! Signals are taken synchronously: they are blocked in every thread (the mask is inherited,
//! so [`Signals::block`] runs before any thread starts) and one thread takes them with
//! `sigwait`. No handler runs, so nothing here has to be async-signal-safe, and a blocked
//! signal reaches even PID 1, which the kernel would otherwise spare from default actions.
#![allow(
    unsafe_code,
    reason = "libc calls for signals, waitpid, getifaddrs and socket options"
)]

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

/// What a received signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM or SIGINT: stop.
    Terminate,
    /// SIGCHLD: a child (or an adopted orphan) exited.
    Child,
    /// SIGHUP, for the modes that asked for it ([`Signals::block_with_reload`]): re-read the
    /// configuration.
    Reload,
}

/// SIGTERM, SIGINT, SIGCHLD (and SIGHUP if asked for), blocked in the calling thread and every
/// thread it starts.
pub(crate) struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    /// Blocks the signals; call before starting threads.
    pub(crate) fn block() -> io::Result<Self> {
        Self::block_these(&[libc::SIGTERM, libc::SIGINT, libc::SIGCHLD])
    }

    /// Blocks the signals and SIGHUP, which [`Signals::wait`] then returns as
    /// [`Signal::Reload`]; call before starting threads.
    pub(crate) fn block_with_reload() -> io::Result<Self> {
        Self::block_these(&[libc::SIGTERM, libc::SIGINT, libc::SIGCHLD, libc::SIGHUP])
    }

    fn block_these(signals: &[libc::c_int]) -> io::Result<Self> {
        // SAFETY: `set` is a plain C struct initialised by sigemptyset before any other use;
        // the pointers passed live for the duration of each call.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &signal in signals {
                libc::sigaddset(&mut set, signal);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(Self { set })
        }
    }

    /// Waits for the next of the blocked signals.
    pub(crate) fn wait(&self) -> io::Result<Signal> {
        loop {
            let mut signal: libc::c_int = 0;
            // SAFETY: `self.set` was initialised in `block`; `signal` outlives the call.
            let rc = unsafe { libc::sigwait(&self.set, &mut signal) };
            if rc == libc::EINTR {
                continue;
            }
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            return Ok(match signal {
                libc::SIGCHLD => Signal::Child,
                libc::SIGHUP => Signal::Reload,
                _ => Signal::Terminate,
            });
        }
    }
}

/// Reaps every child that has exited, without blocking.
pub(crate) fn reap_children() {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` outlives the call; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return; // 0: children remain but none has exited; -1: no children at all.
        }
    }
}

/// The first IPv4 address of an interface that is up and not loopback: the pod's address
/// when the container shares the sandbox's network namespace.
pub(crate) fn own_ipv4() -> Option<Ipv4Addr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return None;
        }
        let mut found = None;
        let mut entry = list;
        while !entry.is_null() {
            let ifa = &*entry;
            let up = ifa.ifa_flags & libc::IFF_UP as libc::c_uint != 0;
            let loopback = ifa.ifa_flags & libc::IFF_LOOPBACK as libc::c_uint != 0;
            if up
                && !loopback
                && !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
            {
                let addr = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                found = Some(Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)));
                break;
            }
            entry = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
        found
    }
}

/// Makes closing `socket` send a reset instead of a FIN (`SO_LINGER` on with a zero timeout):
/// how the proxy refuses a connection it has already accepted.
pub(crate) fn set_linger_zero(socket: &impl AsRawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` outlives the call and the length given is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Shuts down the reading side of any socket, which wakes a thread blocked in `accept` on a
/// listener (it fails with `EINVAL`) or in `recv` on a UDP socket (it returns 0) — how a
/// thread serving a socket is told to stop. Linux accepts this even on sockets that are not
/// connected (it reports `ENOTCONN` but marks the socket shut down), so errors are ignored.
pub(crate) fn shutdown_read(socket: &impl AsRawFd) {
    // SAFETY: shutdown takes no pointers; a stale descriptor only yields an error.
    unsafe {
        libc::shutdown(socket.as_raw_fd(), libc::SHUT_RD);
    }
}

/// Whether a connected socket has nothing to read right now (and so still looks open): one
/// `recv(MSG_PEEK | MSG_DONTWAIT)`, which leaves the socket blocking. False on EOF, on an
/// error, or when bytes are waiting. For an idle keep-alive connection before reuse.
pub(crate) fn nothing_to_read(socket: &impl AsRawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer we own; a stale descriptor only yields an error.
    let read = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    read < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

/// The size asked for a [`Pipe`] (within `/proc/sys/fs/pipe-max-size`, 1 MiB by default).
pub(crate) const PIPE_SIZE: usize = 256 * 1024;

/// A pipe for moving socket data with `splice(2)`: the kernel hands the pages from one
/// socket to the other without copying them through user space.
pub(crate) struct Pipe {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
}

impl Pipe {
    pub(crate) fn new() -> io::Result<Self> {
        use std::os::fd::FromRawFd;
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
        let pipe = unsafe {
            Self {
                read: std::os::fd::OwnedFd::from_raw_fd(fds[0]),
                write: std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            }
        };
        // A larger pipe moves more per call; the default (64 KiB) is fine when refused.
        // SAFETY: F_SETPIPE_SZ takes an int argument and no pointers.
        unsafe {
            libc::fcntl(
                pipe.write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_SIZE as libc::c_int,
            );
        }
        Ok(pipe)
    }

    /// Moves what `from` has (up to `max` bytes, waiting for some) into the pipe; 0 at EOF.
    pub(crate) fn fill(&self, from: &impl AsRawFd, max: usize) -> io::Result<usize> {
        splice(from.as_raw_fd(), self.write.as_raw_fd(), max)
    }

    /// Moves up to `len` bytes from the pipe to `to`.
    pub(crate) fn drain(&self, to: &impl AsRawFd, len: usize) -> io::Result<usize> {
        splice(self.read.as_raw_fd(), to.as_raw_fd(), len)
    }
}

fn splice(from: libc::c_int, to: libc::c_int, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: null offsets (both ends are a socket or a pipe); no other pointers.
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE,
            )
        };
        if let Ok(n) = usize::try_from(n) {
            return Ok(n);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaping_without_children_returns() {
        reap_children();
    }

    #[test]
    fn own_address_is_never_loopback() {
        if let Some(ip) = own_ipv4() {
            assert!(!ip.is_loopback());
        }
    }
}
