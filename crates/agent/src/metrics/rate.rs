//! CPU rates from cumulative CPU time, as cAdvisor and the metrics-server compute them: the
//! CPU time used between two samples divided by the wall time between them is the average
//! number of cores busy over that window.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// One reading of a cumulative CPU counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// CPU time used so far, in nanoseconds.
    pub cpu_ns: u64,
    /// When it was read.
    pub at: Instant,
}

/// The usage between two samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Average cores busy over the window (0.25 is a quarter of one core).
    pub cores: f64,
    /// The time between the two samples.
    pub window: Duration,
}

/// The CPU rate between `prev` and `next`. `None` when there is no window to measure over (the
/// same instant, or the samples out of order) or the counter went backwards: it was reset, as
/// when a process of the group that had used CPU left it; the next pair of samples measures
/// again, as the metrics-server skips such a pair.
pub fn cpu_rate(prev: Sample, next: Sample) -> Option<Rate> {
    let window = next.at.checked_duration_since(prev.at)?;
    if window.is_zero() || next.cpu_ns < prev.cpu_ns {
        return None;
    }
    let used = (next.cpu_ns - prev.cpu_ns) as f64 / 1e9;
    Some(Rate {
        cores: used / window.as_secs_f64(),
        window,
    })
}

/// The previous sample of each counter (container, node), so each new sample gives a rate.
#[derive(Debug)]
pub struct Sampler<K> {
    last: HashMap<K, Sample>,
}

impl<K> Default for Sampler<K> {
    fn default() -> Self {
        Self {
            last: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> Sampler<K> {
    /// Records `next` for `key` and returns the rate since the previous sample of `key`, if
    /// there was one it can be measured against.
    pub fn observe(&mut self, key: &K, next: Sample) -> Option<Rate> {
        let prev = self.last.insert(key.clone(), next)?;
        cpu_rate(prev, next)
    }

    /// Forgets every counter not in `keep` (containers that exited or were replaced).
    pub fn retain(&mut self, keep: impl Fn(&K) -> bool) {
        self.last.retain(|k, _| keep(k));
    }

    /// How many counters are remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// True when no counter is remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64, cpu_ns: u64) -> Sample {
        Sample {
            cpu_ns,
            at: t0 + Duration::from_millis(ms),
        }
    }

    #[test]
    fn cores_are_cpu_time_over_wall_time() {
        let t0 = Instant::now();
        // 7.5 s of CPU in 15 s: half a core.
        let r = cpu_rate(at(t0, 0, 1_000_000_000), at(t0, 15_000, 8_500_000_000)).unwrap();
        assert!((r.cores - 0.5).abs() < 1e-12, "{r:?}");
        assert_eq!(r.window, Duration::from_secs(15));
        // Two cores' worth: a container with threads on two CPUs.
        let r = cpu_rate(at(t0, 0, 0), at(t0, 500, 1_000_000_000)).unwrap();
        assert!((r.cores - 2.0).abs() < 1e-12, "{r:?}");
        // Idle.
        assert_eq!(
            cpu_rate(at(t0, 0, 42), at(t0, 1_000, 42)).unwrap().cores,
            0.0
        );
    }

    #[test]
    fn no_window_or_a_reset_counter_gives_no_rate() {
        let t0 = Instant::now();
        assert_eq!(cpu_rate(at(t0, 0, 0), at(t0, 0, 5)), None, "same instant");
        assert_eq!(cpu_rate(at(t0, 10, 0), at(t0, 0, 5)), None, "out of order");
        assert_eq!(
            cpu_rate(at(t0, 0, 9), at(t0, 10, 5)),
            None,
            "went backwards"
        );
    }

    #[test]
    fn the_sampler_measures_each_counter_against_its_own_previous_sample() {
        let t0 = Instant::now();
        let mut s: Sampler<&str> = Sampler::default();
        assert_eq!(s.observe(&"a", at(t0, 0, 0)), None, "first sample");
        assert_eq!(s.observe(&"b", at(t0, 0, 0)), None);
        let a = s.observe(&"a", at(t0, 1_000, 250_000_000)).unwrap();
        assert!((a.cores - 0.25).abs() < 1e-12);
        let b = s.observe(&"b", at(t0, 2_000, 2_000_000_000)).unwrap();
        assert!((b.cores - 1.0).abs() < 1e-12);
        // After a reset, the next sample measures from the reset value.
        assert_eq!(s.observe(&"a", at(t0, 2_000, 0)), None);
        let a = s.observe(&"a", at(t0, 3_000, 100_000_000)).unwrap();
        assert!((a.cores - 0.1).abs() < 1e-12);
        s.retain(|k| *k == "b");
        assert_eq!(s.len(), 1);
        assert_eq!(s.observe(&"a", at(t0, 4_000, 0)), None, "forgotten");
    }
}
