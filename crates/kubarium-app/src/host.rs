//! This machine's CPU and memory use for the status bar, read from `/proc/stat` and
//! `/proc/meminfo` as `kubarium-node`'s `host.rs` reads capacity: two files do not need a
//! dependency that enumerates every process. Elsewhere than Linux there are no figures.

use crate::ipc::HostStats;

/// CPU time counters from the first line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

/// Samples the machine; CPU use is the share between two samples, so it keeps the last.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    last: Option<CpuTimes>,
}

impl Sampler {
    /// The figures now; `None` where `/proc/meminfo` cannot be read.
    pub(crate) fn sample(&mut self) -> Option<HostStats> {
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let (total, available) = memory(&meminfo)?;
        let now = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| cpu_times(&stat));
        let cpu_percent = match (self.last, now) {
            (Some(before), Some(now)) => busy_percent(before, now),
            _ => None,
        };
        if now.is_some() {
            self.last = now;
        }
        Some(HostStats {
            cpu_percent,
            memory_used_bytes: total.saturating_sub(available),
            memory_total_bytes: total,
        })
    }
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
fn memory(meminfo: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = meminfo.lines().find(|l| l.starts_with(name))?;
        let mut words = line.split_whitespace().skip(1);
        let value: u64 = words.next()?.parse().ok()?;
        match words.next() {
            Some("kB") | None => value.checked_mul(1024),
            Some(_) => None,
        }
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// The aggregate `cpu` line: user nice system idle iowait irq softirq steal (guest time is
/// already inside user and nice, so it is not added again).
fn cpu_times(stat: &str) -> Option<CpuTimes> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if values.len() < 4 {
        return None;
    }
    let total: u64 = values.iter().sum();
    // Idle and waiting for I/O both leave the CPU free.
    let idle = values[3] + values.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

fn busy_percent(before: CpuTimes, now: CpuTimes) -> Option<f64> {
    let total = now.total.checked_sub(before.total)?;
    if total == 0 {
        return None;
    }
    let busy = now.busy.saturating_sub(before.busy);
    Some((busy as f64 / total as f64 * 100.0).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_read() {
        let meminfo = "MemTotal:       16000 kB\nMemFree:  1000 kB\nMemAvailable:   4000 kB\n";
        assert_eq!(memory(meminfo), Some((16000 * 1024, 4000 * 1024)));
        assert_eq!(memory("MemTotal: 3 kB\n"), None, "no MemAvailable");

        let before = cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(
            before,
            CpuTimes {
                busy: 200,
                total: 1000
            }
        );
        let now = cpu_times("cpu  250 0 150 1400 200 0 0 0 0 0\n").unwrap();
        // 200 busy ticks of 1000.
        assert_eq!(busy_percent(before, now), Some(20.0));
        assert_eq!(busy_percent(now, now), None, "no time passed");
        assert_eq!(cpu_times("intr 1 2 3"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_is_sampled() {
        let mut sampler = Sampler::default();
        let first = sampler.sample().unwrap();
        assert!(first.cpu_percent.is_none(), "one sample gives no rate");
        assert!(first.memory_total_bytes > 0);
        assert!(first.memory_used_bytes <= first.memory_total_bytes);
        // Spin a little so some ticks pass between the samples.
        let mut second = sampler.sample().unwrap();
        let mut spins = 0u64;
        while second.cpu_percent.is_none() && spins < 1000 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            second = sampler.sample().unwrap();
            spins += 1;
        }
        let cpu = second.cpu_percent.unwrap();
        assert!((0.0..=100.0).contains(&cpu), "{cpu}");
    }
}
