//! What `/proc` says about one process: its CPU time and its resident memory.

use anyhow::Context;

/// User + system CPU seconds from a `/proc/<pid>/stat` file (clock ticks of 1/100 s).
pub(crate) fn cpu_seconds_of(stat_file: &str) -> Option<f64> {
    let text = std::fs::read_to_string(stat_file).ok()?;
    // The command name may hold spaces; fields start after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// The memory lines of `/proc/<pid>/status`: the process's own figures, without its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    /// Resident set size now (`VmRSS`), in bytes.
    pub rss: u64,
    /// The highest resident set size so far (`VmHWM`), in bytes.
    pub peak: u64,
    /// Resident anonymous memory (`RssAnon`: heap, stacks), in bytes; the rest of `rss` is
    /// the mapped binary and shared libraries (`RssFile`, `RssShmem`).
    pub anon: u64,
    /// Threads of the process (`Threads`).
    pub threads: u64,
}

impl Memory {
    /// Reads the figures of process `pid`.
    pub fn of(pid: u32) -> anyhow::Result<Memory> {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {path} (has process {pid} exited?)"))?;
        Memory::parse(&text).with_context(|| format!("parsing {path}"))
    }

    /// Parses the text of a `/proc/<pid>/status` file.
    pub fn parse(text: &str) -> anyhow::Result<Memory> {
        let field = |name: &str| -> anyhow::Result<u64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} line"))
        };
        Ok(Memory {
            rss: field("VmRSS")? * 1024,
            peak: field("VmHWM")? * 1024,
            anon: field("RssAnon")? * 1024,
            threads: field("Threads")?,
        })
    }
}

/// Bytes as MiB, for printing.
pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_are_read_after_the_command_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("stat");
        let mut fields = vec!["0"; 20];
        fields[11] = "250";
        fields[12] = "50";
        std::fs::write(&f, format!("42 (brume x) {}", fields.join(" "))).unwrap();
        assert_eq!(cpu_seconds_of(f.to_str().unwrap()), Some(3.0));
    }

    #[test]
    fn memory_lines_are_read_in_bytes() {
        let text = "Name:\tbrume\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n\
                    RssAnon:\t    4096 kB\nRssFile:\t    6144 kB\nThreads:\t5\n";
        let m = Memory::parse(text).unwrap();
        assert_eq!(m.rss, 10 << 20);
        assert_eq!(m.peak, 20 << 20);
        assert_eq!(m.anon, 4 << 20);
        assert_eq!(m.threads, 5);
        assert!(Memory::parse("Name: x\n").is_err());
    }

    #[test]
    fn this_process_has_memory() {
        let m = Memory::of(std::process::id()).unwrap();
        assert!(m.rss > 0 && m.peak >= m.rss && m.threads >= 1);
    }
}
