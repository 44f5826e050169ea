//! `proximity`: a random choice weighted by estimated RTT, with an overload guard (DESIGN §8).
//!
//! The weights come from brume-fog's [`proximity_weights`]:
//! `w_i = (1−α)/n + α · d_i^−p / Σ_j d_j^−p`, where `d_i` is the endpoint's `distance_ms`
//! (the gateway's estimated RTT to the endpoint's node). An endpoint of unknown distance keeps
//! only its uniform share. With β set (the default), `d_i` is what this gateway measured
//! where it has heard from the endpoint: the least latency it lately answered in
//! (`brume_fog::measured_distances`), which Vivaldi's error on near pairs does not touch; and
//! the overload guard has two halves, both on what this
//! gateway sees, so it needs no coordination between nodes: endpoints whose live in-flight
//! count exceeds (1+β) times the mean over the candidates are skipped, and each distance is
//! raised by the queueing lately observed at that endpoint: its recent latency (peak EWMA of
//! the time to the response headers for HTTP, to the connection for TCP, the connect timeout
//! for a failed connect) above the least it lately answered in (`brume_fog::guarded_weights`,
//! `brume_fog::LatencyFloor`). The first catches this gateway's own pile-ups; the second a
//! replica that queues because many gateways send to it, which no single gateway's in-flight
//! count shows, so a popular near replica sheds load to the next nearest instead of queueing.

use std::net::SocketAddr;
use std::time::Duration;

use brume_fog::{GuardInputs, ProximityParams, guarded_weights, pick_weighted};
use rand::Rng;
use tokio::time::Instant;

use super::load::LoadMap;
use super::{PickContext, Policy, uniform_index};
use crate::endpoint::Endpoint;

/// Distance-weighted random choice with an overload guard over live in-flight counts.
#[derive(Debug)]
pub struct Proximity {
    params: ProximityParams,
    loads: LoadMap,
}

impl Proximity {
    /// A proximity policy with these parameters and no work in flight.
    pub fn new(params: ProximityParams) -> Self {
        Self {
            params,
            loads: LoadMap::starting_at(Duration::ZERO),
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> &ProximityParams {
        &self.params
    }

    /// The weight of each candidate as a pick at `now` would see it.
    pub fn weights(&self, candidates: &[&Endpoint], now: Instant) -> Vec<f64> {
        let distances: Vec<Option<f64>> = candidates.iter().map(|e| e.distance_ms).collect();
        let (in_flight, floors, queueing) = if self.params.beta.is_some() {
            let addrs: Vec<SocketAddr> = candidates.iter().map(|e| e.address).collect();
            let queueing = self.loads.queueing_ms_all(&addrs, now);
            let floors = self.loads.floors_ms_all(&addrs);
            (self.loads.in_flight_all(&addrs), floors, queueing)
        } else {
            (Vec::new(), Vec::new(), Vec::new())
        };
        let guard = GuardInputs {
            in_flight: &in_flight,
            floors_ms: &floors,
            queueing_ms: &queueing,
        };
        match guarded_weights(&distances, guard, &self.params) {
            Ok(w) => w,
            Err(e) => {
                // The parser only builds valid parameters; should one slip through, balance
                // uniformly rather than refuse traffic.
                tracing::warn!(error = %e, "invalid proximity parameters; using uniform weights");
                vec![1.0; candidates.len()]
            }
        }
    }
}

impl Policy for Proximity {
    fn name(&self) -> &'static str {
        "proximity"
    }

    fn pick(&self, candidates: &[&Endpoint], ctx: &mut PickContext<'_>) -> Option<usize> {
        if candidates.is_empty() {
            return None;
        }
        let weights = self.weights(candidates, ctx.now);
        let u: f64 = ctx.rng.random();
        pick_weighted(&weights, u).or_else(|| Some(uniform_index(ctx.rng, candidates.len())))
    }

    fn on_start(&self, endpoint: &Endpoint, now: Instant) {
        self.loads.start(endpoint.address, now);
    }

    fn on_latency(&self, endpoint: &Endpoint, latency: Duration, now: Instant) {
        if self.params.beta.is_some() {
            self.loads.observe(endpoint.address, latency, now);
        }
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

    fn at(distances: &[Option<f64>]) -> Vec<Endpoint> {
        let mut eps = endpoints(distances.len());
        for (e, d) in eps.iter_mut().zip(distances) {
            e.distance_ms = *d;
        }
        eps
    }

    fn params(alpha: f64, p: f64, beta: Option<f64>) -> ProximityParams {
        ProximityParams { alpha, p, beta }
    }

    #[test]
    fn alpha_one_and_large_p_picks_the_nearest() {
        let eps = at(&[Some(40.0), Some(5.0), Some(12.0)]);
        let policy = Proximity::new(params(1.0, 50.0, None));
        assert_eq!(histogram(&policy, &eps, 500, 1, None), [0, 500, 0]);
    }

    #[test]
    fn alpha_zero_is_uniform() {
        let eps = at(&[Some(1.0), Some(100.0), Some(1000.0), None]);
        let policy = Proximity::new(params(0.0, 2.0, None));
        // 1000 expected each; ±15% is > 9 standard deviations.
        for c in histogram(&policy, &eps, 4000, 2, None) {
            assert!((850..=1150).contains(&c), "{c}");
        }
    }

    #[test]
    fn unknown_distance_is_not_favoured() {
        let eps = at(&[Some(10.0), None, Some(10.0)]);
        let policy = Proximity::new(ProximityParams::default());
        let counts = histogram(&policy, &eps, 3000, 3, None);
        // The unknown one keeps (1−0.95)/3 ≈ 1.7 % (50 expected); the known ones ≈ 49.2 %.
        assert!((20..=90).contains(&counts[1]), "{counts:?}");
        assert!(counts[0] > 1200 && counts[2] > 1200, "{counts:?}");
    }

    #[test]
    fn overload_guard_sheds_to_the_next_nearest() {
        let eps = at(&[Some(2.0), Some(20.0), Some(50.0)]);
        let policy = Proximity::new(params(1.0, 8.0, Some(1.0)));
        let now = Instant::now();
        // 16 in flight on the nearest: mean 5.3, limit 2 × 5.3 + 4 = 14.7, so it is skipped.
        for _ in 0..16 {
            policy.on_start(&eps[0], now);
        }
        let counts = histogram(&policy, &eps, 300, 4, None);
        assert_eq!(counts[0], 0, "{counts:?}");
        assert!(counts[1] > 290, "{counts:?}");
        // Without the guard the nearest keeps everything, busy or not.
        let unguarded = Proximity::new(params(1.0, 8.0, None));
        for _ in 0..10 {
            unguarded.on_start(&eps[0], now);
        }
        assert_eq!(histogram(&unguarded, &eps, 300, 4, None)[0], 300);
        // Once the work ends the nearest is back.
        for _ in 0..16 {
            policy.on_end(&eps[0], now);
        }
        assert_eq!(histogram(&policy, &eps, 300, 4, None)[0], 300);
    }

    #[test]
    fn a_replica_slow_to_answer_sheds_to_the_next_nearest_and_comes_back() {
        let eps = at(&[Some(2.0), Some(20.0), Some(50.0)]);
        let policy = Proximity::new(params(1.0, 8.0, Some(1.0)));
        let now = Instant::now();
        let refs: Vec<&Endpoint> = eps.iter().collect();
        assert!(
            policy.weights(&refs, now)[0] > 0.99,
            "never heard from: its RTT counts"
        );
        // It answers in its RTT plus 10 ms of service: that alone moves nothing.
        policy.on_latency(&eps[0], Duration::from_millis(12), now);
        let fast = policy.weights(&refs, now);
        assert!(fast[0] > 0.99, "service time alone moves nothing: {fast:?}");
        // Then in 80 ms, though nothing of this gateway's is in flight: it queues.
        policy.on_latency(&eps[0], Duration::from_millis(80), now);
        let slow = policy.weights(&refs, now);
        assert!(slow[1] > 0.95, "{slow:?}");
        // Its estimate decays (τ = 10 s) and it is the nearest again within about 15 s.
        let later = policy.weights(&refs, now + Duration::from_secs(20));
        assert!(later[0] > 0.99, "{later:?}");
        // Without the guard, latency is not looked at.
        let unguarded = Proximity::new(params(1.0, 8.0, None));
        unguarded.on_latency(&eps[0], Duration::from_millis(80), now);
        assert!(unguarded.weights(&refs, now)[0] > 0.99);
    }

    #[test]
    fn what_the_gateway_measured_beats_a_wrong_estimate() {
        // The coordinates put endpoint 0 at 5 ms and endpoint 1 at 20 ms; their answers say
        // 40 ms and 8 ms (a near pair Vivaldi got wrong).
        let eps = at(&[Some(5.0), Some(20.0), Some(60.0)]);
        let policy = Proximity::new(ProximityParams::default());
        let now = Instant::now();
        let refs: Vec<&Endpoint> = eps.iter().collect();
        assert!(policy.weights(&refs, now)[0] > 0.9, "the estimates first");
        policy.on_latency(&eps[0], Duration::from_millis(40), now);
        policy.on_latency(&eps[1], Duration::from_millis(8), now);
        let w = policy.weights(&refs, now);
        assert!(w[1] > 0.9 && w[0] < 0.05, "{w:?}");
        let counts = histogram(&policy, &eps, 1000, 5, None);
        assert!(counts[1] > 900, "{counts:?}");
        // Without the guard the policy reads no latency, so the estimates alone decide.
        let unguarded = Proximity::new(params(0.95, 4.0, None));
        unguarded.on_latency(&eps[0], Duration::from_millis(40), now);
        unguarded.on_latency(&eps[1], Duration::from_millis(8), now);
        assert!(unguarded.weights(&refs, now)[0] > 0.9);
    }
}
