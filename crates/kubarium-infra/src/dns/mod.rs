//! `dns`: the cluster's DNS server, one per cluster at the `kube-dns` Service's cluster IP.
//!
//! It answers the names the services controller writes into `/etc/kubarium/config` (A, CNAME,
//! SRV, and PTR for every `a` address), is authoritative for the cluster domain (unknown names
//! under it are NXDOMAIN) and forwards everything else to `upstream` (Docker's embedded DNS).
//! The file is re-read on SIGHUP; a file that does not parse is reported with its line number
//! and the previous table kept. SIGTERM and SIGINT exit 0.
//!
//! `KUBARIUM_CONFIG` overrides the file's path and `KUBARIUM_DNS_LISTEN` the address
//! (`0.0.0.0:53`; port 0 picks a free one), for tests.
//!
//! - [`config`]: the file and the lookup table.
//! - [`wire`]: the message format.
//! - [`answer`]: one query → one reply, or "forward".
//! - [`server`]: UDP and TCP sockets, forwarding.

mod answer;
mod config;
mod server;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::sys::{self, Signal};
use config::Zone;
use server::{Server, Table};

const DEFAULT_LISTEN: &str = "0.0.0.0:53";

pub(crate) fn run() -> io::Result<()> {
    let signals = sys::Signals::block_with_reload()?;
    let path = crate::conf::path();
    let listen = std::env::var("KUBARIUM_DNS_LISTEN").unwrap_or_else(|_| DEFAULT_LISTEN.into());
    let listen: SocketAddr = listen.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("KUBARIUM_DNS_LISTEN must be an address:port, not {listen:?}"),
        )
    })?;
    let table = Arc::new(Table::new(Zone::default()));
    load(&path, &table);
    let server = Server::bind(listen, Arc::clone(&table)).map_err(|error| {
        io::Error::new(error.kind(), format!("cannot listen on {listen}: {error}"))
    })?;
    eprintln!("dns: serving UDP and TCP on {}", server.local_addr()?);
    server.start()?;
    loop {
        match signals.wait()? {
            Signal::Terminate => return Ok(()),
            Signal::Reload => load(&path, &table),
            Signal::Child => sys::reap_children(),
        }
    }
}

/// Reads the file into the table, logging one line. A missing file is an empty table; one
/// that cannot be read or parsed leaves the table as it was.
fn load(path: &Path, table: &Table) {
    let Some(text) = crate::conf::read("dns", path) else {
        return;
    };
    match Zone::parse(&text) {
        Ok(zone) => {
            let line = format!(
                "dns: loaded {} records from {} (domain {}, upstream {})",
                zone.records,
                path.display(),
                zone.domain.as_deref().unwrap_or("none"),
                zone.upstream
                    .map_or_else(|| "none".to_string(), |upstream| upstream.to_string()),
            );
            // Swapped in before the line is logged: whoever reads the log sees the new answers.
            table.set(zone);
            eprintln!("{line}");
        }
        Err(error) => eprintln!(
            "dns: {}: {error}; keeping the previous configuration",
            path.display()
        ),
    }
}
