//! Demand counters: how many requests (HTTP) and connections (TCP) each Service receives at
//! this gateway, with a smoothed rate, for the agent's `fog.brume.io/v1` TrafficReport
//! (DESIGN §8).
//!
//! The hot path is one relaxed atomic increment on a counter the listener looked up once.
//! Smoothing happens in [`Demand::snapshot`]: the count since the previous snapshot, divided by
//! the elapsed time, is folded into an exponentially weighted moving average with weight
//! `1 − e^(−Δt/τ)`. That weight is exact for irregular snapshot intervals (it is the
//! continuous-time EWMA, as in the Unix load average), so the agent may report at any cadence.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// τ = 10 s: a report every few seconds sees a rate that follows a real shift within about
/// half a minute (3τ ≈ 95 %) but does not chase one burst; the same time constant linkerd uses
/// for latency.
pub const DEFAULT_TAU: Duration = Duration::from_secs(10);

/// The upper bounds (ms) of the latency histogram of proxied HTTP requests, as Prometheus'
/// `le` buckets. They include the usual objectives (10, 20, 30, 50, 100 ms); an objective
/// between two bounds is judged at the bound below it, so measured attainment errs low.
pub const LATENCY_BOUNDS_MS: [f64; 16] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0,
    5000.0,
];

/// A rate that has decayed below this (per second), with no one counting, is forgotten.
const FORGET_BELOW: f64 = 1e-3;

/// A Service whose demand is counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceRef {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
}

/// The demand one Service received at this gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct DemandSample {
    /// The Service.
    pub service: ServiceRef,
    /// The gateway: this node, whose proxy received the traffic.
    pub gateway: String,
    /// HTTP requests counted since this Service's counter was created; a monotonic counter, as
    /// in Prometheus, so the agent may also compute its own rates.
    pub requests_total: u64,
    /// TCP connections counted since this Service's counter was created (non-HTTP ports).
    pub connections_total: u64,
    /// Smoothed HTTP requests per second.
    pub requests_per_second: f64,
    /// Smoothed TCP connections per second.
    pub connections_per_second: f64,
    /// HTTP requests whose latency was measured since the counter was created (monotonic).
    pub latency_count: u64,
    /// For each of [`LATENCY_BOUNDS_MS`], the measured requests answered within it, cumulative
    /// as Prometheus' `le` buckets and monotonic. A request that failed is in `latency_count`
    /// and in no bucket: it missed every bound.
    pub latency_within: Vec<u64>,
}

/// The live counters of one Service; listeners hold one each.
#[derive(Debug, Default)]
struct Cell {
    requests: AtomicU64,
    connections: AtomicU64,
    timed: AtomicU64,
    /// Requests per bucket, not cumulative (the snapshot adds them up).
    latency: [AtomicU64; LATENCY_BOUNDS_MS.len()],
}

/// A handle that counts traffic for one Service.
#[derive(Debug, Clone)]
pub struct DemandCounter {
    cell: Arc<Cell>,
}

impl DemandCounter {
    /// Counts one HTTP request.
    pub fn record_request(&self) {
        self.cell.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one TCP connection.
    pub fn record_connection(&self) {
        self.cell.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long one HTTP request took through the proxy, up to the response headers;
    /// `answered` is false when no endpoint answered (the request missed every bound).
    pub fn record_latency(&self, elapsed: Duration, answered: bool) {
        self.cell.timed.fetch_add(1, Ordering::Relaxed);
        if !answered {
            return;
        }
        let ms = elapsed.as_secs_f64() * 1000.0;
        if let Some(i) = LATENCY_BOUNDS_MS.iter().position(|b| ms <= *b) {
            self.cell.latency[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The smoothing state of one Service.
#[derive(Debug)]
struct Entry {
    cell: Arc<Cell>,
    seen_requests: u64,
    seen_connections: u64,
    requests_rate: Option<f64>,
    connections_rate: Option<f64>,
}

#[derive(Debug)]
struct State {
    last: Instant,
    entries: HashMap<ServiceRef, Entry>,
}

/// The demand counters of this gateway; cheap to clone.
#[derive(Debug, Clone)]
pub struct Demand {
    gateway: Arc<str>,
    tau: Duration,
    state: Arc<Mutex<State>>,
}

impl Demand {
    /// Counters for the gateway `node`, smoothed with time constant `tau`.
    pub fn new(node: impl Into<String>, tau: Duration) -> Self {
        Self {
            gateway: node.into().into(),
            tau,
            state: Arc::new(Mutex::new(State {
                last: Instant::now(),
                entries: HashMap::new(),
            })),
        }
    }

    /// The gateway node these counters are for.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    /// The counter of one Service, created on first use.
    pub fn counter(&self, service: ServiceRef) -> DemandCounter {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let entry = state.entries.entry(service).or_insert_with(|| Entry {
            cell: Arc::default(),
            seen_requests: 0,
            seen_connections: 0,
            requests_rate: None,
            connections_rate: None,
        });
        DemandCounter {
            cell: Arc::clone(&entry.cell),
        }
    }

    /// Folds the counts since the previous snapshot into the smoothed rates and returns one
    /// sample per Service, sorted by Service.
    ///
    /// The first interval a Service is seen in sets its rate directly rather than blending it
    /// with zero, so a new Service is not under-reported for the first few τ.
    pub fn snapshot(&self, now: Instant) -> Vec<DemandSample> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let dt = now.saturating_duration_since(state.last).as_secs_f64();
        if dt > 0.0 {
            state.last = now;
        }
        let weight = 1.0 - (-dt / self.tau.as_secs_f64().max(1e-9)).exp();
        let fold = |rate: &mut Option<f64>, seen: &mut u64, total: u64| {
            if dt <= 0.0 {
                return;
            }
            let instant = total.saturating_sub(*seen) as f64 / dt;
            *seen = total;
            *rate = Some(match *rate {
                None => instant,
                Some(r) => r + weight * (instant - r),
            });
        };
        let mut out = Vec::with_capacity(state.entries.len());
        state.entries.retain(|service, e| {
            let requests = e.cell.requests.load(Ordering::Relaxed);
            let connections = e.cell.connections.load(Ordering::Relaxed);
            let latency_within: Vec<u64> = e
                .cell
                .latency
                .iter()
                .scan(0u64, |sum, c| {
                    *sum += c.load(Ordering::Relaxed);
                    Some(*sum)
                })
                .collect();
            fold(&mut e.requests_rate, &mut e.seen_requests, requests);
            fold(
                &mut e.connections_rate,
                &mut e.seen_connections,
                connections,
            );
            let (rr, cr) = (
                e.requests_rate.unwrap_or(0.0),
                e.connections_rate.unwrap_or(0.0),
            );
            // Keep an entry while a listener still counts into it or its rate is visible.
            let keep = Arc::strong_count(&e.cell) > 1 || rr >= FORGET_BELOW || cr >= FORGET_BELOW;
            out.push(DemandSample {
                service: service.clone(),
                gateway: self.gateway.to_string(),
                requests_total: requests,
                connections_total: connections,
                requests_per_second: rr,
                connections_per_second: cr,
                latency_count: e.cell.timed.load(Ordering::Relaxed),
                latency_within,
            });
            keep
        });
        out.sort_by(|a, b| a.service.cmp(&b.service));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ServiceRef {
        ServiceRef {
            namespace: "default".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn counts_and_smooths() {
        let demand = Demand::new("n1", Duration::from_secs(10));
        let t0 = demand.state.lock().unwrap().last;
        let counter = demand.counter(web());
        for _ in 0..20 {
            counter.record_request();
        }
        counter.record_connection();

        let s = demand.snapshot(t0 + Duration::from_secs(2));
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].requests_total, s[0].connections_total), (20, 1));
        assert_eq!(s[0].gateway, "n1");
        assert!(
            (s[0].requests_per_second - 10.0).abs() < 1e-9,
            "first interval: 20 / 2 s"
        );
        assert!((s[0].connections_per_second - 0.5).abs() < 1e-9);

        // Nothing for one τ: the rate keeps e^-1 of its value.
        let s = demand.snapshot(t0 + Duration::from_secs(12));
        let expected = 10.0 * (-1.0f64).exp();
        assert!((s[0].requests_per_second - expected).abs() < 1e-9);
        assert_eq!(s[0].requests_total, 20);

        // A snapshot at the same instant changes nothing.
        let again = demand.snapshot(t0 + Duration::from_secs(12));
        assert_eq!(again, s);
    }

    #[test]
    fn forgotten_when_idle_and_unused() {
        let demand = Demand::new("n1", Duration::from_secs(1));
        let t0 = demand.state.lock().unwrap().last;
        demand.counter(web()).record_request();
        assert_eq!(demand.snapshot(t0 + Duration::from_secs(1)).len(), 1);
        // No listener holds the counter and after 20 τ the rate has decayed to nothing: it is
        // reported once more at ~0, then dropped.
        let s = demand.snapshot(t0 + Duration::from_secs(21));
        assert!(s[0].requests_per_second < 1e-6);
        assert!(demand.snapshot(t0 + Duration::from_secs(22)).is_empty());
        // A held counter keeps its Service listed even at zero.
        let _held = demand.counter(web());
        let s = demand.snapshot(t0 + Duration::from_secs(23));
        assert_eq!((s.len(), s[0].requests_total), (1, 0));
    }

    #[test]
    fn latency_is_counted_in_cumulative_buckets_and_failures_in_none() {
        let demand = Demand::new("n1", DEFAULT_TAU);
        let c = demand.counter(web());
        for ms in [0.5, 4.0, 4.9, 12.0, 29.0, 31.0, 9000.0] {
            c.record_latency(Duration::from_secs_f64(ms / 1000.0), true);
        }
        c.record_latency(Duration::from_millis(1), false);
        let s = &demand.snapshot(Instant::now())[0];
        assert_eq!(s.latency_count, 8);
        let within = |bound: f64| {
            s.latency_within[LATENCY_BOUNDS_MS.iter().position(|b| *b == bound).unwrap()]
        };
        assert_eq!(within(1.0), 1);
        assert_eq!(within(5.0), 3);
        assert_eq!(within(15.0), 4);
        assert_eq!(within(30.0), 5);
        assert_eq!(
            within(5000.0),
            6,
            "9 s is beyond every bound; the failure is in none"
        );
    }
}
