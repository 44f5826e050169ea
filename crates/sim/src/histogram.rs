//! A latency histogram with logarithmic buckets: 0.5 % wide from 0.01 ms up, so quantiles are
//! good to half a percent, recording costs one logarithm, and ten million samples take 29 KB.

use serde::Serialize;

/// The lower edge of the first bucket, in milliseconds; anything below counts in it.
const FLOOR_MS: f64 = 0.01;
/// Each bucket's upper edge is this times its lower edge.
const GROWTH: f64 = 1.005;
/// Buckets up to 0.01 ms × 1.005^3600, about 640 s: an overloaded replica's queue can hold a
/// request for minutes, and its quantiles must not be clipped.
const BUCKETS: usize = 3600;

/// Latencies recorded one by one, summarised as quantiles and a CDF.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: f64,
    max: f64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0.0,
            max: 0.0,
        }
    }
}

/// The summary of a histogram, as reports print it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Samples recorded.
    pub count: u64,
    /// The mean, exact.
    pub mean_ms: f64,
    /// The median.
    pub p50_ms: f64,
    /// The 90th percentile.
    pub p90_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The largest sample, exact.
    pub max_ms: f64,
}

fn bucket(ms: f64) -> usize {
    if ms <= FLOOR_MS || ms.is_nan() {
        return 0;
    }
    (((ms / FLOOR_MS).ln() / GROWTH.ln()) as usize).min(BUCKETS - 1)
}

fn upper_edge(bucket: usize) -> f64 {
    FLOOR_MS * GROWTH.powi(bucket as i32 + 1)
}

impl Histogram {
    /// Records one latency in milliseconds.
    pub fn record(&mut self, ms: f64) {
        self.counts[bucket(ms)] += 1;
        self.count += 1;
        self.sum += ms;
        self.max = self.max.max(ms);
    }

    /// Adds another histogram's samples to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// The number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The mean, or 0 without samples.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// The `q` quantile: the upper edge of the bucket holding it, never above the largest
    /// sample; 0 without samples.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper_edge(i).min(self.max);
            }
        }
        self.max
    }

    /// The share of samples at or below `ms` (to the bucket's resolution).
    pub fn share_at_most(&self, ms: f64) -> f64 {
        if self.count == 0 {
            return 1.0;
        }
        let last = bucket(ms);
        let below: u64 = self.counts[..=last].iter().sum();
        below as f64 / self.count as f64
    }

    /// The summary.
    pub fn stats(&self) -> LatencyStats {
        LatencyStats {
            count: self.count,
            mean_ms: self.mean(),
            p50_ms: self.quantile(0.5),
            p90_ms: self.quantile(0.9),
            p99_ms: self.quantile(0.99),
            max_ms: self.max,
        }
    }

    /// The CDF as (latency ms, share at or below) at each non-empty bucket, thinned to at most
    /// `points` points, for plots.
    pub fn cdf(&self, points: usize) -> Vec<(f64, f64)> {
        if self.count == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            seen += c;
            out.push((upper_edge(i).min(self.max), seen as f64 / self.count as f64));
        }
        thin(out, points)
    }
}

/// At most `points` of `series`, evenly spaced by index, the last one kept.
pub fn thin(series: Vec<(f64, f64)>, points: usize) -> Vec<(f64, f64)> {
    if series.len() <= points || points < 2 {
        return series;
    }
    let step = (series.len() - 1) as f64 / (points - 1) as f64;
    (0..points)
        .map(|k| series[((k as f64 * step).round() as usize).min(series.len() - 1)])
        .collect()
}

/// The CDF of sorted values, thinned to at most `points` points.
pub fn cdf_of_sorted(sorted: &[f64], points: usize) -> Vec<(f64, f64)> {
    let n = sorted.len() as f64;
    let all: Vec<(f64, f64)> = sorted
        .iter()
        .enumerate()
        .map(|(i, &v)| (v, (i + 1) as f64 / n))
        .collect();
    thin(all, points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_half_a_percent() {
        let mut h = Histogram::default();
        for i in 1..=1000 {
            h.record(i as f64);
        }
        let s = h.stats();
        assert_eq!(s.count, 1000);
        assert!((s.mean_ms - 500.5).abs() < 1e-9);
        for (q, exact) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = h.quantile(q);
            assert!(got >= exact && got <= exact * 1.006, "q{q}: {got}");
        }
        assert_eq!(h.quantile(1.0), 1000.0);
        assert!((h.share_at_most(100.0) - 0.1).abs() < 0.002);
    }

    #[test]
    fn merging_and_the_cdf() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(1.0);
        b.record(10.0);
        b.record(0.0);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        let cdf = a.cdf(100);
        assert_eq!(cdf.len(), 3);
        assert_eq!(cdf.last().unwrap().1, 1.0);
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        assert_eq!(Histogram::default().quantile(0.9), 0.0);
        assert_eq!(thin((0..10).map(|i| (i as f64, 0.0)).collect(), 4).len(), 4);
    }
}
