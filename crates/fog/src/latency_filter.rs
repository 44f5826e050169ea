//! The per-peer latency filter of Serf's coordinate package (`latencyFilter` in
//! hashicorp/serf `coordinate/client.go`): each new RTT sample is replaced by the median of the
//! last few samples to that peer, so one delayed probe does not yank the coordinate.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Keeps the last `size` RTT samples per peer and returns their median.
#[derive(Debug, Clone)]
pub struct LatencyFilter<K> {
    size: usize,
    samples: HashMap<K, VecDeque<f64>>,
}

impl<K: Hash + Eq + Clone> LatencyFilter<K> {
    /// A filter over the last `size` samples per peer; a size of 0 or 1 passes samples through.
    pub fn new(size: usize) -> LatencyFilter<K> {
        LatencyFilter {
            size: size.max(1),
            samples: HashMap::new(),
        }
    }

    /// Records `rtt_ms` for `peer` and returns the median of that peer's recent samples.
    pub fn push(&mut self, peer: &K, rtt_ms: f64) -> f64 {
        let window = self.samples.entry(peer.clone()).or_default();
        window.push_back(rtt_ms);
        while window.len() > self.size {
            window.pop_front();
        }
        let mut sorted: Vec<f64> = window.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        // Serf takes the upper middle element for an even count; so do we.
        sorted[sorted.len() / 2]
    }

    /// Drops everything known about `peer`, e.g. when it leaves the cluster.
    pub fn forget(&mut self, peer: &K) {
        self.samples.remove(peer);
    }

    /// How many peers the filter holds samples for.
    pub fn peers(&self) -> usize {
        self.samples.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_the_last_three_samples() {
        let mut f = LatencyFilter::new(3);
        assert_eq!(f.push(&"a", 10.0), 10.0);
        assert_eq!(f.push(&"a", 500.0), 500.0, "two samples: upper middle");
        assert_eq!(f.push(&"a", 12.0), 12.0, "the spike is filtered out");
        assert_eq!(f.push(&"a", 11.0), 12.0, "window is now 500, 12, 11");
        assert_eq!(f.push(&"a", 13.0), 12.0, "window is now 12, 11, 13");
    }

    #[test]
    fn peers_are_kept_apart_and_can_be_forgotten() {
        let mut f = LatencyFilter::new(3);
        f.push(&1u32, 100.0);
        assert_eq!(f.push(&2u32, 5.0), 5.0);
        assert_eq!(f.peers(), 2);
        f.forget(&1);
        assert_eq!(f.peers(), 1);
        assert_eq!(f.push(&1, 7.0), 7.0, "forgotten history does not come back");
    }

    #[test]
    fn size_zero_passes_samples_through() {
        let mut f = LatencyFilter::new(0);
        f.push(&"a", 1.0);
        assert_eq!(f.push(&"a", 9.0), 9.0);
    }
}
