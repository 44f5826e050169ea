//! Live per-endpoint load (in-flight count and latency estimate) shared by the policies that
//! look at load: `least-request` and the overload guard of `proximity`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use brume_fog::{LatencyFloor, queueing_ms};

use super::ewma::{DEFAULT_DECAY, DEFAULT_RTT, PeakEwma};

/// The load of one endpoint as a policy sees it.
#[derive(Debug, Clone, Copy)]
struct Load {
    in_flight: u64,
    ewma: PeakEwma,
    /// The least latency lately seen, for the queueing proximity's guard reads.
    floor: LatencyFloor,
}

/// Per-endpoint in-flight counts and peak-EWMA latencies, keyed by endpoint address.
///
/// A plain mutex is enough: it is held for a hash lookup and a few float operations, never
/// across an `.await`.
#[derive(Debug)]
pub struct LoadMap {
    loads: Mutex<HashMap<SocketAddr, Load>>,
    /// The latency estimate of an endpoint on first sight.
    initial: Duration,
    /// The instant the floors' clock counts from.
    epoch: Instant,
}

impl Default for LoadMap {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadMap {
    /// An empty map; endpoints are added on first sight with linkerd's default RTT.
    pub fn new() -> Self {
        Self::starting_at(DEFAULT_RTT)
    }

    /// An empty map whose endpoints start at `initial` latency (proximity's guard starts at
    /// zero: an endpoint not yet heard from is as near as its estimated RTT says).
    pub fn starting_at(initial: Duration) -> Self {
        Self {
            loads: Mutex::default(),
            initial,
            epoch: Instant::now(),
        }
    }

    fn with<R>(&self, addr: SocketAddr, now: Instant, f: impl FnOnce(&mut Load) -> R) -> R {
        let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        let initial = self.initial;
        let load = loads.entry(addr).or_insert_with(|| Load {
            in_flight: 0,
            ewma: PeakEwma::new(initial, DEFAULT_DECAY, now),
            floor: LatencyFloor::default(),
        });
        f(load)
    }

    /// Counts one more connection or request in flight to `addr`.
    pub fn start(&self, addr: SocketAddr, now: Instant) {
        self.with(addr, now, |l| l.in_flight += 1);
    }

    /// Counts one connection or request to `addr` as finished.
    pub fn end(&self, addr: SocketAddr, now: Instant) {
        self.with(addr, now, |l| l.in_flight = l.in_flight.saturating_sub(1));
    }

    /// Folds one latency sample for `addr` into its peak EWMA.
    pub fn observe(&self, addr: SocketAddr, latency: Duration, now: Instant) {
        let at = now.saturating_duration_since(self.epoch).as_secs_f64();
        self.with(addr, now, |l| {
            l.ewma.observe(latency, now);
            l.floor.observe(latency.as_secs_f64() * 1e3, at);
        });
    }

    /// The number of connections or requests in flight to `addr`.
    pub fn in_flight(&self, addr: SocketAddr) -> u64 {
        let loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        loads.get(&addr).map_or(0, |l| l.in_flight)
    }

    /// The in-flight counts of `addrs`, in order, read under one lock.
    pub fn in_flight_all(&self, addrs: &[SocketAddr]) -> Vec<u64> {
        let loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        let count = |a| loads.get(a).map_or(0, |l: &Load| l.in_flight);
        addrs.iter().map(count).collect()
    }

    /// The queueing of `addrs` in ms, in order, at `now`: each one's recent latency above its
    /// own floor ([`brume_fog::queueing_ms`]), read under one lock; 0 for one never heard from.
    pub fn queueing_ms_all(&self, addrs: &[SocketAddr], now: Instant) -> Vec<f64> {
        let loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        addrs
            .iter()
            .map(|a| {
                loads
                    .get(a)
                    .map_or(0.0, |l| queueing_ms(l.ewma.peek_ms(now), &l.floor))
            })
            .collect()
    }

    /// The latency floors of `addrs` in ms, in order: the least each lately answered in
    /// ([`brume_fog::LatencyFloor`]), `None` for one never heard from.
    pub fn floors_ms_all(&self, addrs: &[SocketAddr]) -> Vec<Option<f64>> {
        let loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        addrs
            .iter()
            .map(|a| loads.get(a).and_then(|l| l.floor.ms()))
            .collect()
    }

    /// The P2C PeakEWMA cost of `addr`: latency estimate × (in-flight + 1), as in tower's
    /// `PeakEwma::load` and Finagle's `PeakEwma`.
    pub fn cost(&self, addr: SocketAddr, now: Instant) -> f64 {
        self.with(addr, now, |l| {
            l.ewma.estimate_ns(now) * (l.in_flight as f64 + 1.0)
        })
    }

    /// Forgets endpoints that are gone and idle, so the map does not grow with pod churn.
    /// An endpoint with work in flight is kept until that work ends.
    pub fn retain(&self, live: &dyn Fn(SocketAddr) -> bool) {
        let mut loads = self.loads.lock().unwrap_or_else(|e| e.into_inner());
        loads.retain(|addr, l| l.in_flight > 0 || live(*addr));
    }
}
