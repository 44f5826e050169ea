//! Load-balancing policies: interchangeable values that pick one endpoint out of the
//! candidates for a new connection (TCP) or request (HTTP).
//!
//! As in tower and linkerd2-proxy, each policy is a small value that can be tested alone: the
//! caller filters the candidates (ready, not terminating, not already tried, topology
//! preference; see [`crate::table::Route::candidates`]), hands in a random source so tests are
//! deterministic, and reports the start, latency and end of each piece of work so that
//! load-aware policies can keep their estimates.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::RngCore;
use tokio::time::Instant;

use crate::endpoint::Endpoint;

pub mod ewma;
pub mod least_request;
pub mod load;
pub mod proximity;
pub mod random;
pub mod round_robin;
pub mod select;
pub mod source_hash;

pub use brume_fog::ProximityParams;
pub use least_request::LeastRequest;
pub use proximity::Proximity;
pub use random::Random;
pub use round_robin::RoundRobin;
pub use select::{PolicyKind, Preference, RoutingSpec, ServiceFields};
pub use source_hash::SourceHash;

/// What a policy may look at besides the candidates when it picks.
pub struct PickContext<'a> {
    /// The client's IP, for `source-hash`; `None` when unknown.
    pub client: Option<IpAddr>,
    /// The random source; tests pass a seeded `StdRng`.
    pub rng: &'a mut dyn RngCore,
    /// The current time on tokio's clock, for decaying latency estimates.
    pub now: Instant,
}

impl fmt::Debug for PickContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PickContext")
            .field("client", &self.client)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// A load-balancing policy: picks the index of one candidate and observes the work sent to it.
///
/// `pick` returns `None` only when `candidates` is empty. The hooks default to doing nothing,
/// so a stateless policy only writes `pick`.
pub trait Policy: Send + Sync + fmt::Debug {
    /// The policy's name as written in the `fog.brume.io/routing` annotation.
    fn name(&self) -> &'static str;

    /// Picks the index in `candidates` of the endpoint that gets the new work.
    fn pick(&self, candidates: &[&Endpoint], ctx: &mut PickContext<'_>) -> Option<usize>;

    /// Called when a connection or request to `endpoint` starts.
    fn on_start(&self, _endpoint: &Endpoint, _now: Instant) {}

    /// Called with the measured latency of a request (HTTP: until response headers; TCP: the
    /// connect time; a failed connect reports a penalty, see [`crate::tcp`]).
    fn on_latency(&self, _endpoint: &Endpoint, _latency: Duration, _now: Instant) {}

    /// Called when a connection or request to `endpoint` has finished.
    fn on_end(&self, _endpoint: &Endpoint, _now: Instant) {}

    /// Called when the endpoint set changes, so per-endpoint state of removed endpoints can be
    /// dropped; `live` says whether an address is still in the set.
    fn retain(&self, _live: &dyn Fn(SocketAddr) -> bool) {}
}

/// Picks a uniformly random index in `0..n` (`n > 0`).
pub(crate) fn uniform_index(rng: &mut dyn RngCore, n: usize) -> usize {
    use rand::Rng;
    rng.random_range(0..n)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers shared by the policies' unit tests.

    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// `n` ready endpoints on 10.0.0.1..=n, port 80, each on its own node.
    pub fn endpoints(n: usize) -> Vec<Endpoint> {
        (1..=n)
            .map(|i| {
                let addr = SocketAddr::from(([10, 0, 0, i as u8], 80));
                Endpoint::ready(addr, format!("node-{i}"))
            })
            .collect()
    }

    /// Runs `picks` picks and returns how often each index was chosen.
    pub fn histogram(
        policy: &dyn Policy,
        eps: &[Endpoint],
        picks: usize,
        seed: u64,
        client: Option<IpAddr>,
    ) -> Vec<usize> {
        let refs: Vec<&Endpoint> = eps.iter().collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let now = Instant::now();
        let mut counts = vec![0; eps.len()];
        for _ in 0..picks {
            let mut ctx = PickContext {
                client,
                rng: &mut rng,
                now,
            };
            counts[policy.pick(&refs, &mut ctx).unwrap()] += 1;
        }
        counts
    }
}
