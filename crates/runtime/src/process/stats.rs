//! The CPU and memory counters of a host-process container ([`crate::ContainerStats`]).
//!
//! - A container that runs in its own cgroup (limits enforced, see [`super::cgroup`]) is read
//!   from the group, which counts every process in it, past ones included: `cpu.stat`'s
//!   `usage_usec`, and `memory.current` less `memory.stat`'s `inactive_file` (the working set
//!   as cAdvisor computes it for the kubelet).
//! - Otherwise the process group is read from `/proc` (proc(5)): the sum over its live members
//!   of `utime + stime + cutime + cstime` (a reaped child's time moves into its parent's
//!   `cutime`, so the sum does not drop when a member that forked exits), and of their resident
//!   set. Pages shared by members (a shell and the program it forked) are counted once per
//!   member, so the memory of a group of several processes errs high; a member that left the
//!   process group is no longer counted.

use std::path::Path;

use crate::ContainerStats;

/// What one `/proc/<pid>/stat` line says about a process's usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcUsage {
    /// The process group id (field 5).
    pub pgrp: i32,
    /// `utime + stime + cutime + cstime` (fields 14 to 17), in clock ticks.
    pub cpu_ticks: u64,
    /// The resident set (field 24), in pages.
    pub rss_pages: u64,
}

/// Parses the usage fields of a `/proc/<pid>/stat` line; fields are counted from the last `)`
/// since the command name may hold spaces and parentheses.
pub fn parse_proc_usage(line: &str) -> Option<ProcUsage> {
    let rest = &line[line.rfind(')')? + 1..];
    // `rest` starts at field 3, so field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    let ticks = |n: usize| -> Option<u64> {
        // cutime and cstime are signed in the kernel's format; never negative in practice.
        Some(field(n)?.parse::<i64>().ok()?.max(0) as u64)
    };
    Some(ProcUsage {
        pgrp: field(5)?.parse().ok()?,
        cpu_ticks: ticks(14)? + ticks(15)? + ticks(16)? + ticks(17)?,
        rss_pages: field(24)?.parse::<i64>().ok()?.max(0) as u64,
    })
}

/// The value of `key` in a flat-keyed cgroup file (`cpu.stat`, `memory.stat`): lines of
/// `key value`.
pub fn flat_keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The counters of a cgroup v2 group from the text of its `cpu.stat`, `memory.current` and
/// `memory.stat`.
pub fn cgroup_stats(
    cpu_stat: &str,
    memory_current: &str,
    memory_stat: &str,
) -> Option<ContainerStats> {
    let usage_usec = flat_keyed(cpu_stat, "usage_usec")?;
    let current: u64 = memory_current.trim().parse().ok()?;
    let inactive = flat_keyed(memory_stat, "inactive_file").unwrap_or(0);
    Some(ContainerStats {
        cpu_usage_ns: usage_usec.saturating_mul(1000),
        memory_working_set_bytes: current.saturating_sub(inactive),
    })
}

/// Reads a container's cgroup, or `None` when the group cannot be read.
pub fn read_cgroup(dir: &Path) -> Option<ContainerStats> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    cgroup_stats(
        &read("cpu.stat")?,
        &read("memory.current")?,
        &read("memory.stat").unwrap_or_default(),
    )
}

/// Sums the usage of the processes of group `pgid` among `processes`, with the kernel's clock
/// tick rate and page size.
pub fn group_stats(
    processes: impl IntoIterator<Item = ProcUsage>,
    pgid: i32,
    ticks_per_second: u64,
    page_size: u64,
) -> ContainerStats {
    let (ticks, pages) = processes
        .into_iter()
        .filter(|p| p.pgrp == pgid)
        .fold((0u64, 0u64), |(t, r), p| {
            (t.saturating_add(p.cpu_ticks), r.saturating_add(p.rss_pages))
        });
    ContainerStats {
        cpu_usage_ns: (u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second.max(1)))
            as u64,
        memory_working_set_bytes: pages.saturating_mul(page_size),
    }
}

/// Reads the process group `pgid` from `/proc`.
pub fn read_process_group(pgid: i32) -> ContainerStats {
    let processes = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|line| parse_proc_usage(&line));
    group_stats(processes, pgid, ticks_per_second(), page_size())
}

/// `sysconf(_SC_CLK_TCK)`: the unit of `/proc/<pid>/stat`'s times (100 on Linux).
pub fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .unwrap_or(100)
}

/// `sysconf(_SC_PAGESIZE)`: the unit of `/proc/<pid>/stat`'s rss.
fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_group_ticks_and_pages() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
        let line = "4242 (sh -c (loop)) R 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 \
                    0 987654 10000000 321 18446744073709551615";
        assert_eq!(
            parse_proc_usage(line),
            Some(ProcUsage {
                pgrp: 4242,
                cpu_ticks: 310,
                rss_pages: 321
            })
        );
        assert_eq!(parse_proc_usage("4242 (truncated) R 1"), None);
    }

    #[test]
    fn a_group_is_the_sum_of_its_members_only() {
        let p = |pgrp, cpu_ticks, rss_pages| ProcUsage {
            pgrp,
            cpu_ticks,
            rss_pages,
        };
        let stats = group_stats(
            [p(10, 150, 100), p(10, 50, 20), p(11, 999, 999)],
            10,
            100,
            4096,
        );
        assert_eq!(
            stats,
            ContainerStats {
                cpu_usage_ns: 2_000_000_000,
                memory_working_set_bytes: 120 * 4096,
            }
        );
        assert_eq!(group_stats([], 10, 100, 4096), ContainerStats::default());
    }

    #[test]
    fn a_cgroup_counts_usage_less_inactive_file_cache() {
        let cpu = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n";
        let stat = "anon 1000\nfile 9000\ninactive_file 6000\nactive_file 3000\n";
        assert_eq!(
            cgroup_stats(cpu, "10000\n", stat),
            Some(ContainerStats {
                cpu_usage_ns: 2_500_000_000,
                memory_working_set_bytes: 4000,
            })
        );
        // More inactive cache than usage (racy reads) is no usage, not an underflow.
        assert_eq!(
            cgroup_stats(cpu, "10", stat)
                .unwrap()
                .memory_working_set_bytes,
            0
        );
        assert_eq!(cgroup_stats("user_usec 1\n", "10", stat), None);
    }

    #[test]
    fn this_process_group_is_read_from_proc() {
        // The test binary burns some CPU and holds some memory: its group's counters say so.
        let pgid = nix::unistd::getpgrp().as_raw();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let stats = read_process_group(pgid);
        assert!(stats.cpu_usage_ns > 0, "{stats:?}");
        assert!(stats.memory_working_set_bytes > 1 << 20, "{stats:?}");
    }
}
