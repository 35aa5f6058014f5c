//! The machine's resources, for Docker nodes: their pods run here, so their capacity is this
//! machine's — its CPUs (as many as this process may use, `available_parallelism`, which
//! honours affinity and cgroup quotas) and memory (`MemTotal` of `/proc/meminfo`) — and each
//! node's allocatable is its share, the machine divided among the simulated nodes, so the
//! scheduler does not place more on the cluster than the machine holds. Read from `/proc`
//! and the standard library rather than the `sysinfo` crate: two numbers do not need a
//! dependency that enumerates every process and disk. Hollow nodes keep their configured
//! capacity.

use crate::node::NodeCapacity;

/// What the machine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostResources {
    pub(crate) cpus: u32,
    pub(crate) memory_bytes: u64,
}

/// This machine's CPUs and memory; `None` where `/proc/meminfo` cannot be read.
pub(crate) fn resources() -> Option<HostResources> {
    let cpus = std::thread::available_parallelism()
        .ok()
        .and_then(|n| u32::try_from(n.get()).ok())?;
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    Some(HostResources {
        cpus,
        memory_bytes: mem_total(&meminfo)?,
    })
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => value.checked_mul(1024),
        Some(_) => None,
    }
}

/// A CPU amount in millicores as the API shows it: `4`, `1500m`.
fn cpu_quantity(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Memory in `Ki`, as the kubelet reports it.
fn memory_quantity(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

/// A Docker node's capacity (the machine) and allocatable (its share among `nodes` nodes);
/// pods and ephemeral storage as `configured`.
pub(crate) fn share(
    host: HostResources,
    nodes: u32,
    configured: &NodeCapacity,
) -> (NodeCapacity, NodeCapacity) {
    let nodes = u64::from(nodes.max(1));
    let capacity = NodeCapacity {
        cpu: host.cpus.to_string(),
        memory: memory_quantity(host.memory_bytes),
        ..configured.clone()
    };
    let allocatable = NodeCapacity {
        cpu: cpu_quantity(u64::from(host.cpus) * 1000 / nodes),
        memory: memory_quantity(host.memory_bytes / nodes),
        ..configured.clone()
    };
    (capacity, allocatable)
}

/// The machine's operating system as `/etc/os-release` names it (`PRETTY_NAME`), the
/// kubelet's `osImage`.
pub(crate) fn os_image() -> Option<String> {
    pretty_name(&std::fs::read_to_string("/etc/os-release").ok()?)
}

fn pretty_name(os_release: &str) -> Option<String> {
    let value = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    let value = value.trim().trim_matches('"').trim_matches('\'');
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_shared_among_the_nodes() {
        let host = HostResources {
            cpus: 2,
            memory_bytes: 24 * 1024 * 1024 * 1024,
        };
        let configured = NodeCapacity::default();
        let (capacity, allocatable) = share(host, 3, &configured);
        assert_eq!(capacity.cpu, "2");
        assert_eq!(capacity.memory, "25165824Ki");
        assert_eq!(capacity.pods, configured.pods);
        assert_eq!(allocatable.cpu, "666m");
        assert_eq!(allocatable.memory, "8388608Ki");
        let (_, alone) = share(host, 1, &configured);
        assert_eq!(alone.cpu, "2");
        let (_, none) = share(host, 0, &configured);
        assert_eq!(none, alone, "no nodes configured counts as one");
        let (_, halves) = share(host, 4, &configured);
        assert_eq!(halves.cpu, "500m");
    }

    #[test]
    fn proc_files_are_read() {
        let meminfo = "MemTotal:       24608476 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total(meminfo), Some(24_608_476 * 1024));
        assert_eq!(mem_total("MemFree: 3 kB"), None);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            pretty_name(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("ID=x"), None);
    }
}
