//! The few system calls std does not offer: waiting for signals, reaping children, and the
//! container's own IPv4 address. The crate's only `unsafe`, each call with its reason.
//!
//! Signals are taken synchronously: they are blocked in every thread (the mask is inherited,
//! so [`Signals::block`] runs before any thread starts) and one thread takes them with
//! `sigwait`. No handler runs, so nothing here has to be async-signal-safe, and a blocked
//! signal reaches even PID 1, which the kernel would otherwise spare from default actions.
#![allow(unsafe_code, reason = "libc calls for signals, waitpid and getifaddrs")]

use std::io;
use std::net::Ipv4Addr;

/// What a received signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM or SIGINT: stop.
    Terminate,
    /// SIGCHLD: a child (or an adopted orphan) exited.
    Child,
    /// SIGHUP: re-read the configuration (modes without one ignore it).
    Reload,
}

/// SIGTERM, SIGINT, SIGCHLD and SIGHUP, blocked in the calling thread and every thread it starts.
pub(crate) struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    /// Blocks the signals; call before starting threads.
    pub(crate) fn block() -> io::Result<Self> {
        // SAFETY: `set` is a plain C struct initialised by sigemptyset before any other use;
        // the pointers passed live for the duration of each call.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGCHLD, libc::SIGHUP] {
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
