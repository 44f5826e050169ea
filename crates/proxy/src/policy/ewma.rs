//! The peak-EWMA latency estimator behind `least-request` and proximity's overload guard, on
//! tokio's clock: [`brume_fog::PeakEwma`] (Finagle's and linkerd2-proxy's peak EWMA, described
//! there) with its times taken from [`Instant`]s.

use std::time::Duration;

use tokio::time::Instant;

/// linkerd2-proxy's `EWMA_DEFAULT_RTT` (app/outbound/src/lib.rs): the estimate of an endpoint
/// that has not answered yet.
pub const DEFAULT_RTT: Duration = Duration::from_millis(30);

/// linkerd2-proxy's `EWMA_DECAY` (app/outbound/src/lib.rs): the time constant τ.
pub const DEFAULT_DECAY: Duration =
    Duration::from_secs(brume_fog::peak_ewma::DEFAULT_DECAY_S as u64);

/// A peak-sensitive exponentially weighted moving average of an endpoint's latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakEwma {
    inner: brume_fog::PeakEwma,
    base: Instant,
}

impl PeakEwma {
    /// An estimator starting at `initial`, decaying with time constant `decay`.
    pub fn new(initial: Duration, decay: Duration, now: Instant) -> Self {
        Self {
            inner: brume_fog::PeakEwma::new(millis(initial), decay.as_secs_f64(), 0.0),
            base: now,
        }
    }

    fn secs(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.base).as_secs_f64()
    }

    /// Folds in one observed latency.
    pub fn observe(&mut self, rtt: Duration, now: Instant) {
        let at = self.secs(now);
        self.inner.observe(millis(rtt), at);
    }

    /// The current estimate in nanoseconds, decayed toward zero for the time since the last
    /// update (tower's `RttEstimate::decay`, a zero-latency sample).
    pub fn estimate_ns(&mut self, now: Instant) -> f64 {
        let at = self.secs(now);
        self.inner.estimate_ms(at) * 1e6
    }

    /// The current estimate in milliseconds, decayed, without folding the decay in.
    pub fn peek_ms(&self, now: Instant) -> f64 {
        self.inner.peek_ms(self.secs(now))
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: f64 = 1e6;

    #[test]
    fn a_slow_sample_is_taken_at_once() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(DEFAULT_RTT, DEFAULT_DECAY, t0);
        e.observe(Duration::from_millis(500), t0);
        assert!((e.estimate_ns(t0) - 500.0 * MS).abs() < 1.0);
    }

    #[test]
    fn fast_samples_pull_the_estimate_down_over_tau() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(Duration::from_millis(100), Duration::from_secs(10), t0);
        // One τ later a 0 ms sample leaves e^-1 of the old estimate.
        let t1 = t0 + Duration::from_secs(10);
        e.observe(Duration::ZERO, t1);
        let expected = 100.0 * MS * (-1.0f64).exp();
        assert!((e.estimate_ns(t1) - expected).abs() < 1e3);
        // A sample just after barely moves it.
        e.observe(Duration::ZERO, t1 + Duration::from_millis(1));
        assert!(e.peek_ms(t1 + Duration::from_millis(1)) * MS > expected * 0.99);
    }
}
