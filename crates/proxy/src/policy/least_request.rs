//! `least-request`: power of two choices over peak-EWMA cost.
//!
//! Two distinct candidates are drawn at random and the one with the lower cost wins, where the
//! cost is the peak-EWMA latency × (in-flight + 1). This is Finagle's `P2CPeakEwma` balancer and
//! linkerd2-proxy's default (tower `balance::p2c` over `load::PeakEwma`); see Buoyant, "Beyond
//! Round Robin: Load Balancing for Latency" (2016). The two-choice draw comes from Mitzenmacher,
//! "The Power of Two Choices in Randomized Load Balancing" (IEEE TPDS 2001): it gets most of the
//! benefit of "least loaded" without a herd rushing to the single least-loaded endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::load::LoadMap;
use super::{PickContext, Policy, uniform_index};
use crate::endpoint::Endpoint;

/// Power of two choices over peak-EWMA latency × (in-flight + 1).
#[derive(Debug, Default)]
pub struct LeastRequest {
    loads: LoadMap,
}

impl LeastRequest {
    /// A balancer with no history: every endpoint starts at linkerd's default 30 ms.
    pub fn new() -> Self {
        Self::default()
    }

    /// The balancer's view of per-endpoint load, for inspection.
    pub fn loads(&self) -> &LoadMap {
        &self.loads
    }
}

impl Policy for LeastRequest {
    fn name(&self) -> &'static str {
        "least-request"
    }

    fn pick(&self, candidates: &[&Endpoint], ctx: &mut PickContext<'_>) -> Option<usize> {
        match candidates.len() {
            0 => None,
            1 => Some(0),
            n => {
                // Two distinct indices: draw the second from n−1 slots and skip over the first.
                let a = uniform_index(ctx.rng, n);
                let mut b = uniform_index(ctx.rng, n - 1);
                if b >= a {
                    b += 1;
                }
                let cost_a = self.loads.cost(candidates[a].address, ctx.now);
                let cost_b = self.loads.cost(candidates[b].address, ctx.now);
                Some(if cost_b < cost_a { b } else { a })
            }
        }
    }

    fn on_start(&self, endpoint: &Endpoint, now: Instant) {
        self.loads.start(endpoint.address, now);
    }

    fn on_latency(&self, endpoint: &Endpoint, latency: Duration, now: Instant) {
        self.loads.observe(endpoint.address, latency, now);
    }

    fn on_end(&self, endpoint: &Endpoint, now: Instant) {
        self.loads.end(endpoint.address, now);
    }

    fn retain(&self, live: &dyn Fn(SocketAddr) -> bool) {
        self.loads.retain(live);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::{endpoints, histogram};

    #[test]
    fn avoids_a_slow_endpoint() {
        let eps = endpoints(3);
        let lr = LeastRequest::new();
        let now = Instant::now();
        lr.on_latency(&eps[0], Duration::from_millis(500), now);
        lr.on_latency(&eps[1], Duration::from_millis(5), now);
        lr.on_latency(&eps[2], Duration::from_millis(5), now);
        let counts = histogram(&lr, &eps, 300, 3, None);
        // P2C only picks the slow one when both draws are it, which cannot happen (distinct).
        assert_eq!(counts[0], 0, "{counts:?}");
        assert_eq!(counts[1] + counts[2], 300);
    }

    #[test]
    fn avoids_a_busy_endpoint() {
        let eps = endpoints(2);
        let lr = LeastRequest::new();
        let now = Instant::now();
        for _ in 0..5 {
            lr.on_start(&eps[1], now);
        }
        let counts = histogram(&lr, &eps, 100, 3, None);
        assert_eq!(counts, [100, 0]);
        // Once the work ends the two look alike again and both get picked.
        for _ in 0..5 {
            lr.on_end(&eps[1], now);
        }
        assert_eq!(lr.loads().in_flight(eps[1].address), 0);
    }

    #[test]
    fn a_single_candidate_is_always_picked() {
        let eps = endpoints(1);
        assert_eq!(histogram(&LeastRequest::new(), &eps, 10, 1, None), [10]);
    }

    #[test]
    fn retain_keeps_busy_endpoints() {
        let eps = endpoints(2);
        let lr = LeastRequest::new();
        let now = Instant::now();
        lr.on_start(&eps[0], now);
        lr.on_latency(&eps[1], Duration::from_secs(1), now);
        lr.retain(&|_| false);
        assert_eq!(lr.loads().in_flight(eps[0].address), 1);
        // The idle, removed endpoint was forgotten: it is back at the 30 ms default.
        let cost = lr.loads().cost(eps[1].address, now);
        assert!(cost < 31e6, "{cost}");
    }
}
