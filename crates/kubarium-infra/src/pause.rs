//! `pause`: the sandbox container's process. As PID 1 of its PID namespace it has no default
//! signal actions, so it waits for SIGTERM/SIGINT explicitly, and it reaps the orphans the
//! kernel hands to it, as Kubernetes' own pause does.

use crate::sys::{self, Signal};

pub(crate) fn run() -> std::io::Result<()> {
    let signals = sys::Signals::block()?;
    loop {
        match signals.wait()? {
            Signal::Terminate => return Ok(()),
            Signal::Child => sys::reap_children(),
            Signal::Reload => {} // not asked for: SIGHUP is not blocked here
        }
    }
}
