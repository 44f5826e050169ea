//! The peak-sensitive EWMA of an endpoint's latency, pure: times are seconds on any monotonic
//! clock, latencies milliseconds. The proxy keeps one per endpoint (its `least-request` policy
//! and the latency half of proximity's overload guard read it), and the simulator keeps one per
//! gateway and replica, so both run this code.
//!
//! Peak EWMA comes from Finagle (`com.twitter.finagle.loadbalancer.PeakEwma`) and is what
//! linkerd2-proxy balances with (through tower's `load::PeakEwma`); it is described in Buoyant's
//! "Beyond Round Robin: Load Balancing for Latency" (2016). A sample above the estimate replaces
//! it at once (the peak), so a slow endpoint is penalised immediately. A sample below it is
//! blended in with weight `1 − e^(−Δt/τ)`, so the estimate recovers over about τ. Reading the
//! estimate also decays it toward zero, as tower does, so an endpoint that stopped receiving
//! traffic after one slow answer is eventually tried again.

/// linkerd2-proxy's `EWMA_DECAY` (app/outbound/src/lib.rs): the time constant τ, in seconds.
pub const DEFAULT_DECAY_S: f64 = 10.0;

/// A peak-sensitive exponentially weighted moving average of a latency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakEwma {
    value_ms: f64,
    updated_s: f64,
    decay_s: f64,
}

impl PeakEwma {
    /// An estimator starting at `initial_ms` at `now_s`, decaying with time constant `decay_s`
    /// (a zero τ forgets at once).
    pub fn new(initial_ms: f64, decay_s: f64, now_s: f64) -> PeakEwma {
        PeakEwma {
            value_ms: initial_ms,
            updated_s: now_s,
            decay_s: decay_s.max(1e-9),
        }
    }

    /// Folds in one observed latency.
    pub fn observe(&mut self, latency_ms: f64, now_s: f64) {
        self.value_ms = self.at(latency_ms, now_s);
        self.updated_s = self.updated_s.max(now_s);
    }

    /// The estimate at `now_s`, decayed toward zero for the time since the last sample (a
    /// zero-latency sample, as tower's `RttEstimate::decay`); it also folds that decay in.
    pub fn estimate_ms(&mut self, now_s: f64) -> f64 {
        self.observe(0.0, now_s);
        self.value_ms
    }

    /// The estimate at `now_s` without folding the decay in.
    pub fn peek_ms(&self, now_s: f64) -> f64 {
        self.at(0.0, now_s)
    }

    fn at(&self, latency_ms: f64, now_s: f64) -> f64 {
        if latency_ms > self.value_ms {
            return latency_ms;
        }
        if self.value_ms == latency_ms {
            // Nothing to decay (an endpoint never heard from reads 0 without an exp).
            return latency_ms;
        }
        let elapsed = (now_s - self.updated_s).max(0.0);
        let keep = (-elapsed / self.decay_s).exp();
        self.value_ms * keep + latency_ms * (1.0 - keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_sample_is_taken_at_once() {
        let mut e = PeakEwma::new(30.0, DEFAULT_DECAY_S, 0.0);
        e.observe(500.0, 0.0);
        assert!((e.estimate_ms(0.0) - 500.0).abs() < 1e-9);
    }

    #[test]
    fn fast_samples_pull_the_estimate_down_over_tau() {
        let mut e = PeakEwma::new(100.0, 10.0, 0.0);
        // One τ later a 0 ms sample leaves e^-1 of the old estimate.
        e.observe(0.0, 10.0);
        let expected = 100.0 * (-1.0f64).exp();
        assert!((e.estimate_ms(10.0) - expected).abs() < 1e-9);
        // A sample just after barely moves it, and peeking does not move it at all.
        e.observe(0.0, 10.001);
        assert!(e.peek_ms(10.001) > expected * 0.99);
        let peeked = e.peek_ms(20.0);
        assert!((peeked - e.peek_ms(20.0)).abs() < 1e-12);
        assert!(peeked < expected * 0.4);
    }
}
