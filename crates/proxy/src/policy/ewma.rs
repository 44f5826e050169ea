//! The peak-EWMA latency estimator behind `least-request`.
//!
//! Peak EWMA comes from Finagle (`com.twitter.finagle.loadbalancer.PeakEwma`) and is what
//! linkerd2-proxy balances with (through tower's `load::PeakEwma`). It is described in Buoyant's
//! "Beyond Round Robin: Load Balancing for Latency" (2016). A sample above the estimate replaces
//! it at once (the peak), so a slow endpoint is penalised immediately. A sample below it is
//! blended in with weight `1 − e^(−Δt/τ)`, so the estimate recovers over about τ. Reading the
//! estimate also decays it toward zero, as tower does, so an endpoint that stopped receiving
//! traffic after one slow answer is eventually tried again.

use std::time::Duration;

use tokio::time::Instant;

/// linkerd2-proxy's `EWMA_DEFAULT_RTT` (app/outbound/src/lib.rs): the estimate of an endpoint
/// that has not answered yet.
pub const DEFAULT_RTT: Duration = Duration::from_millis(30);

/// linkerd2-proxy's `EWMA_DECAY` (app/outbound/src/lib.rs): the time constant τ.
pub const DEFAULT_DECAY: Duration = Duration::from_secs(10);

/// A peak-sensitive exponentially weighted moving average of an endpoint's latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakEwma {
    value_ns: f64,
    updated: Instant,
    decay_ns: f64,
}

impl PeakEwma {
    /// An estimator starting at `initial`, decaying with time constant `decay`.
    pub fn new(initial: Duration, decay: Duration, now: Instant) -> Self {
        Self {
            value_ns: nanos(initial),
            updated: now,
            // A zero τ would divide by zero; one nanosecond means "forget at once".
            decay_ns: nanos(decay).max(1.0),
        }
    }

    /// Folds in one observed latency.
    pub fn observe(&mut self, rtt: Duration, now: Instant) {
        let rtt = nanos(rtt);
        if rtt > self.value_ns {
            self.value_ns = rtt;
        } else {
            let elapsed = nanos(now.saturating_duration_since(self.updated));
            let decay = (-elapsed / self.decay_ns).exp();
            self.value_ns = self.value_ns * decay + rtt * (1.0 - decay);
        }
        self.updated = now;
    }

    /// The current estimate in nanoseconds, decayed toward zero for the time since the last
    /// update (tower's `RttEstimate::decay`, a zero-latency sample).
    pub fn estimate_ns(&mut self, now: Instant) -> f64 {
        self.observe(Duration::ZERO, now);
        self.value_ns
    }
}

fn nanos(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
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
        assert!((e.estimate_ns(t1) - expected).abs() < 1e3, "{}", e.value_ns);
        // A sample just after barely moves it.
        e.observe(Duration::ZERO, t1 + Duration::from_millis(1));
        assert!(e.value_ns > expected * 0.99);
    }
}
