//! The least latency an endpoint answers in, as one gateway sees it: the floor the overload
//! guard measures queueing against (`crate::guarded_distances`). It takes a lower answer at
//! once and relaxes toward higher ones with time constant τ, so it tracks the endpoint's
//! unloaded latency (network plus service, as BBR tracks the minimum RTT) and follows an
//! endpoint that became slower for good within a few τ. Measured per endpoint, it needs no RTT
//! estimate, so the coordinates' error does not enter it. Pure: times in seconds on any
//! monotonic clock, latencies in milliseconds.

/// How fast the floor rises toward higher answers, in seconds: much slower than the peak
/// EWMA's 10 s, so that a replica's queueing shows above its floor for minutes.
pub const DEFAULT_RELAX_S: f64 = 120.0;

/// The latency floor of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyFloor {
    value_ms: Option<f64>,
    updated_s: f64,
    relax_s: f64,
}

impl Default for LatencyFloor {
    fn default() -> LatencyFloor {
        LatencyFloor::new(DEFAULT_RELAX_S)
    }
}

impl LatencyFloor {
    /// No answer yet; rising toward higher answers with time constant `relax_s`.
    pub fn new(relax_s: f64) -> LatencyFloor {
        LatencyFloor {
            value_ms: None,
            updated_s: 0.0,
            relax_s: relax_s.max(1e-9),
        }
    }

    /// Folds in one answer.
    pub fn observe(&mut self, latency_ms: f64, now_s: f64) {
        if !latency_ms.is_finite() {
            return;
        }
        let next = match self.value_ms {
            Some(v) if latency_ms > v => {
                let elapsed = (now_s - self.updated_s).max(0.0);
                let keep = (-elapsed / self.relax_s).exp();
                v * keep + latency_ms * (1.0 - keep)
            }
            _ => latency_ms.max(0.0),
        };
        self.value_ms = Some(next);
        self.updated_s = self.updated_s.max(now_s);
    }

    /// The floor, `None` before any answer.
    pub fn ms(&self) -> Option<f64> {
        self.value_ms
    }
}

/// The queueing an endpoint shows: its recent latency (the peak EWMA) above its floor; 0
/// before any answer.
pub fn queueing_ms(recent_ms: f64, floor: &LatencyFloor) -> f64 {
    floor.ms().map_or(0.0, |f| (recent_ms - f).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_drops_at_once_and_rises_slowly() {
        let mut f = LatencyFloor::new(60.0);
        assert_eq!(f.ms(), None);
        assert_eq!(queueing_ms(500.0, &f), 0.0, "nothing known, nothing queued");
        f.observe(25.0, 0.0);
        f.observe(12.0, 1.0);
        assert_eq!(f.ms(), Some(12.0), "a lower answer is taken at once");
        // A queueing answer a second later barely moves it.
        f.observe(100.0, 2.0);
        assert!(f.ms().unwrap() < 14.0, "{:?}", f.ms());
        assert!(queueing_ms(100.0, &f) > 85.0);
        // An endpoint slower for good is followed within a few τ.
        for t in 3..300 {
            f.observe(45.0, f64::from(t));
        }
        assert!(f.ms().unwrap() > 40.0, "{:?}", f.ms());
    }
}
