//! When each part of a log file was written, for `logs --timestamps`.
//!
//! A container process writes raw bytes straight into its log file, so that it never depends on
//! the agent (see `launch`). While the agent runs, a stamper task looks at the file's size every
//! [`STAMP_POLL`] and appends `start end time` to `<container>-<attempt>.times` when it grew: the
//! bytes `start..end` were written by `time`, at most one poll earlier. Output written while no
//! agent watched (between an agent's exit and the next one's start) has no entry; it is stamped
//! with the log file's modification time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::procfs::{self, Liveness};

/// How often a stamper looks at its log file: the precision of the timestamps.
pub const STAMP_POLL: Duration = Duration::from_millis(200);

/// The index file beside a log file.
pub fn times_path(log: &Path) -> PathBuf {
    log.with_extension("times")
}

/// The current time as `kubectl logs --timestamps` prints it (RFC 3339 with nanoseconds).
pub fn now_nanos() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The byte ranges of a log file and when they were written, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimeIndex(Vec<(u64, u64, String)>);

impl TimeIndex {
    /// Parses an index file, skipping malformed lines (a line cut short by a crash).
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split(' ');
                let start = f.next()?.parse().ok()?;
                let end = f.next()?.parse().ok()?;
                let time = f.next().filter(|t| !t.is_empty())?;
                (start < end).then(|| (start, end, time.to_string()))
            })
            .collect();
        Self(entries)
    }

    /// Reads the index beside a log file (empty when there is none).
    pub fn load(log: &Path) -> Self {
        Self::parse(&std::fs::read_to_string(times_path(log)).unwrap_or_default())
    }

    /// When the byte at `offset` was written, if known.
    pub fn at(&self, offset: u64) -> Option<&str> {
        let i = self.0.partition_point(|(_, end, _)| *end <= offset);
        self.0
            .get(i)
            .filter(|(start, _, _)| *start <= offset)
            .map(|(_, _, t)| t.as_str())
    }

    /// Where the last known range ends (0 when empty).
    pub fn end(&self) -> u64 {
        self.0.last().map_or(0, |(_, end, _)| *end)
    }
}

fn size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Watches a container's log file while the process `pid` (started at `start_ticks`) lives.
/// `fresh` says the process was just started, so every byte so far is its output of the last
/// moments; otherwise (re-adoption) what is already in the file is left unstamped.
pub fn spawn_stamper(log: PathBuf, pid: i32, start_ticks: u64, fresh: bool) {
    let index = times_path(&log);
    let mut last = if fresh {
        0
    } else {
        TimeIndex::load(&log)
            .end()
            .max(size(&log).unwrap_or_default())
    };
    tokio::spawn(async move {
        let mut final_round = false;
        loop {
            tokio::time::sleep(STAMP_POLL).await;
            // The log is removed with its container: nothing left to stamp.
            let Some(now) = size(&log) else { return };
            if now > last {
                let line = format!("{last} {now} {}\n", now_nanos());
                let appended = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&index)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
                if appended.is_err() {
                    return;
                }
                last = now;
            }
            if final_round {
                return;
            }
            final_round = procfs::liveness(pid, start_ticks) == Liveness::Dead;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_find_the_range_they_fall_in() {
        let idx = TimeIndex::parse("0 4 T1\n4 10 T2\n20 30 T3\nbroken\n30 3");
        assert_eq!(idx.at(0), Some("T1"));
        assert_eq!(idx.at(3), Some("T1"));
        assert_eq!(idx.at(4), Some("T2"));
        assert_eq!(idx.at(15), None, "written while no agent watched");
        assert_eq!(idx.at(29), Some("T3"));
        assert_eq!(idx.at(30), None);
        assert_eq!(idx.end(), 30);
    }
}
