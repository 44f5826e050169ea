//! The whole host's usage, for a node that is alone on its machine (`brume agent`): busy CPU
//! time from the `cpu` line of `/proc/stat`, and memory in use from `/proc/meminfo` (proc(5)).
//!
//! Busy time is every jiffy but `idle` and `iowait` (a CPU waiting on I/O is idle; `guest` is
//! already inside `user`). Memory in use is `MemTotal - MemAvailable`: what the kernel could
//! not hand to a new program without swapping, the host-wide counterpart of a container's
//! working set (the kubelet reads the root cgroup's working set, which also leaves out
//! reclaimable cache).

use brume_runtime::process::stats::ticks_per_second;

/// The host's counters at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSample {
    /// Busy CPU time of all CPUs since boot, in nanoseconds.
    pub cpu_busy_ns: u64,
    /// Memory in use, in bytes.
    pub memory_used_bytes: u64,
}

/// Busy jiffies of all CPUs from the text of `/proc/stat`.
pub fn busy_ticks(proc_stat: &str) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice], guest inside user.
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some(total.saturating_sub(idle))
}

/// Memory in use (`MemTotal - MemAvailable`), in bytes, from the text of `/proc/meminfo`.
pub fn memory_used(meminfo: &str) -> Option<u64> {
    let kb = |key: &str| -> Option<u64> {
        let line = meminfo.lines().find_map(|l| l.strip_prefix(key))?;
        line.trim().trim_end_matches("kB").trim().parse().ok()
    };
    Some(
        kb("MemTotal:")?
            .saturating_sub(kb("MemAvailable:")?)
            .saturating_mul(1024),
    )
}

/// Reads the host's counters now.
pub fn read() -> Option<HostSample> {
    let ticks = busy_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let memory = memory_used(&std::fs::read_to_string("/proc/meminfo").ok()?)?;
    Some(HostSample {
        cpu_busy_ns: (u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second().max(1)))
            as u64,
        memory_used_bytes: memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 40 0\ncpu0 50 2 25 500 10 1 1 0 20 0\nintr 1\n";
        // 100 + 5 + 50 + 3 + 2 + 1; guest (40) is inside user already.
        assert_eq!(busy_ticks(stat), Some(161));
        assert_eq!(busy_ticks("cpu0 1 2 3 4\n"), None, "no all-CPU line");
        assert_eq!(busy_ticks("cpu  a b c\n"), None);
    }

    #[test]
    fn memory_in_use_is_total_less_available() {
        let meminfo = "MemTotal:       16384 kB\nMemFree:   1000 kB\nMemAvailable:   12288 kB\n";
        assert_eq!(memory_used(meminfo), Some(4096 * 1024));
        assert_eq!(memory_used("MemTotal: 10 kB\n"), None);
    }

    #[test]
    fn this_host_reads() {
        let s = read().expect("/proc is readable");
        assert!(s.cpu_busy_ns > 0 && s.memory_used_bytes > 0, "{s:?}");
    }
}
