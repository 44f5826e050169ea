//! The request-level simulation: an event-driven model of users sending requests through their
//! gateway's proxy to the replicas of one Service.
//!
//! Requests arrive as a Poisson process; each comes from a user drawn uniformly, so from that
//! user's gateway. The gateway's policy ([`Routing`]) picks a replica among the listed ones, by
//! the estimated RTTs and its own in-flight counts, as the live proxy does. The request crosses
//! half the true RTT, waits in the replica's FIFO queue, is served (exponential service time),
//! and its answer crosses the other half back: its latency is RTT + wait + service. A replica
//! on a failed node drops what reaches it; a replica that is no longer listed (deleted, or its
//! node marked NotReady) gets no new requests but finishes what it has.
//!
//! The replica set may change between calls to [`Engine::run_until`], which is how the
//! scenarios run controllers in the loop: every sync period, they look at the demand, decide,
//! and change the set; requests in flight carry on.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use brume_fog::peak_ewma::{DEFAULT_DECAY_S, PeakEwma};
use brume_fog::{GuardInputs, LatencyFloor, queueing_ms};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::estimates::Estimates;
use crate::histogram::Histogram;
use crate::router::Routing;
use crate::topology::Topology;
use crate::users::Population;

/// How replicas serve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ServiceModel {
    /// The mean service time of a request, in milliseconds (exponentially distributed).
    pub mean_service_ms: f64,
    /// Requests one replica serves at once (its worker threads).
    pub servers: usize,
}

impl ServiceModel {
    /// Requests per second one replica can serve.
    pub fn capacity_rps(&self) -> f64 {
        self.servers as f64 * 1000.0 / self.mean_service_ms
    }
}

impl Default for ServiceModel {
    /// 2 ms per request on 4 workers: 2,000 requests per second per replica.
    fn default() -> ServiceModel {
        ServiceModel {
            mean_service_ms: 2.0,
            servers: 4,
        }
    }
}

/// The latency the proxy records for a connect that fails: its connect timeout
/// (`brume_proxy::ProxyConfig::DEFAULT_CONNECT_TIMEOUT`).
const CONNECT_TIMEOUT_MS: f64 = 1000.0;

/// One replica: where it runs and whether it takes requests.
#[derive(Debug, Clone)]
struct Replica {
    node: usize,
    /// In the Service's endpoints: gateways may pick it.
    listed: bool,
    /// Its node is up: requests that reach it are served.
    alive: bool,
    /// When each worker is next free, in seconds.
    free_at: Vec<f64>,
    served: u64,
}

/// What one gateway's proxy knows, rebuilt when the replica set changes.
#[derive(Debug, Clone, Default)]
struct Gateway {
    version: u64,
    candidates: Vec<usize>,
    distances: Vec<Option<f64>>,
    /// Requests in flight from this gateway, by replica id.
    in_flight: Vec<u64>,
    /// The latency this gateway has observed to each replica, by replica id (the guard's
    /// latency half).
    observed: Vec<PeakEwma>,
    /// The least latency this gateway lately saw from each replica, by replica id.
    floors: Vec<LatencyFloor>,
}

#[derive(Debug, Clone, Copy)]
struct Request {
    gateway: u32,
    replica: u32,
    issued: f64,
    rtt_ms: f64,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    AtReplica,
    Answered { latency_ms: f64 },
}

#[derive(Debug, Clone, Copy)]
struct Event {
    at: f64,
    seq: u64,
    step: Step,
    request: Request,
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Event) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Event {
    /// Reversed, so the max-heap pops the earliest event; equal times go in issue order.
    fn cmp(&self, other: &Event) -> Ordering {
        other
            .at
            .total_cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// What a period of the run measured.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// End-to-end latency of answered requests.
    pub latency: Histogram,
    /// The network part alone (the RTT between gateway and replica).
    pub network: Histogram,
    /// Requests answered within the SLO bound.
    pub within_slo: u64,
    /// Requests that reached a replica on a failed node.
    pub failed: u64,
    /// Requests that found no listed replica.
    pub no_endpoint: u64,
}

impl Tally {
    /// The share of requests answered within the bound, failures counting as misses; 1 with
    /// no requests.
    pub fn attainment(&self) -> f64 {
        let all = self.latency.count() + self.failed + self.no_endpoint;
        if all == 0 {
            1.0
        } else {
            self.within_slo as f64 / all as f64
        }
    }
}

/// The simulation of one Service.
pub struct Engine<'a> {
    topology: &'a Topology,
    estimates: &'a Estimates,
    zones: &'a [u16],
    routing: Routing,
    service: ServiceModel,
    slo_ms: f64,
    now: f64,
    next_arrival: f64,
    issued: u64,
    seq: u64,
    version: u64,
    replicas: Vec<Replica>,
    gateways: Vec<Gateway>,
    events: BinaryHeap<Event>,
    arrivals: StdRng,
    picks: StdRng,
    service_times: StdRng,
    scratch: Vec<u64>,
    floors: Vec<Option<f64>>,
    seen: Vec<f64>,
    /// Everything measured since the start.
    pub total: Tally,
    /// What was measured since the last [`Engine::take_window`].
    pub window: Tally,
}

impl<'a> Engine<'a> {
    /// An engine with no replica, at time 0. `zones` gives each node's zone (for
    /// [`Routing::SameZone`]); `slo_ms` is the bound counted in [`Tally::within_slo`].
    pub fn new(
        topology: &'a Topology,
        estimates: &'a Estimates,
        zones: &'a [u16],
        routing: Routing,
        service: ServiceModel,
        slo_ms: f64,
        seed: u64,
    ) -> Engine<'a> {
        Engine {
            topology,
            estimates,
            zones,
            routing,
            service,
            slo_ms,
            now: 0.0,
            next_arrival: 0.0,
            issued: 0,
            seq: 0,
            version: 1,
            replicas: Vec::new(),
            gateways: vec![Gateway::default(); topology.len()],
            events: BinaryHeap::new(),
            // Separate streams, so that a change in one kind of draw leaves the others as
            // they were (the routing decisions do not shift when service times do).
            arrivals: StdRng::seed_from_u64(seed ^ 0xa771_7a15),
            picks: StdRng::seed_from_u64(seed ^ 0x9_1c45),
            service_times: StdRng::seed_from_u64(seed ^ 0x5e_7c1c),
            scratch: Vec::new(),
            floors: Vec::new(),
            seen: Vec::new(),
            total: Tally::default(),
            window: Tally::default(),
        }
    }

    /// The simulated time, in seconds.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Starts a listed replica on `node`; returns its id.
    pub fn add_replica(&mut self, node: usize) -> usize {
        self.replicas.push(Replica {
            node,
            listed: true,
            alive: true,
            free_at: vec![0.0; self.service.servers.max(1)],
            served: 0,
        });
        self.version += 1;
        self.replicas.len() - 1
    }

    /// Takes a replica out of the endpoints: no new requests; what it has, it finishes.
    pub fn unlist(&mut self, id: usize) {
        if std::mem::replace(&mut self.replicas[id].listed, false) {
            self.version += 1;
        }
    }

    /// Fails or restores every replica on `node` (failed replicas drop what reaches them).
    pub fn set_node_alive(&mut self, node: usize, alive: bool) {
        for r in self.replicas.iter_mut().filter(|r| r.node == node) {
            r.alive = alive;
        }
    }

    /// The nodes of the listed replicas, by id.
    pub fn listed(&self) -> Vec<(usize, usize)> {
        self.replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| r.listed)
            .map(|(id, r)| (id, r.node))
            .collect()
    }

    /// Requests served by each replica since the start, by id.
    pub fn served(&self) -> Vec<u64> {
        self.replicas.iter().map(|r| r.served).collect()
    }

    /// Returns the window's tally and starts a new one.
    pub fn take_window(&mut self) -> Tally {
        std::mem::take(&mut self.window)
    }

    /// Issues requests at `rate_rps` from `users` until `until` seconds or until `max_requests`
    /// have been issued in all, and processes every event up to then.
    pub fn run_until(&mut self, until: f64, max_requests: u64, users: &Population, rate_rps: f64) {
        if users.is_empty() || rate_rps <= 0.0 {
            self.process_until(until);
            self.now = self.now.max(until);
            return;
        }
        if self.next_arrival < self.now {
            self.next_arrival = self.now + self.interarrival(rate_rps);
        }
        loop {
            let arrival_first = self.events.peek().is_none_or(|e| self.next_arrival <= e.at);
            if arrival_first {
                if self.next_arrival > until || self.issued >= max_requests {
                    break;
                }
                self.now = self.next_arrival;
                self.issue(users);
                self.next_arrival = self.now + self.interarrival(rate_rps);
            } else {
                let Some(event) = self.events.peek() else {
                    break;
                };
                if event.at > until {
                    break;
                }
                let event = self.events.pop().expect("peeked");
                self.now = event.at;
                self.handle(event);
            }
        }
        if self.issued < max_requests {
            self.now = self.now.max(until);
        }
    }

    /// Processes every event still pending (all requests answered or failed).
    pub fn drain(&mut self) {
        self.process_until(f64::INFINITY);
    }

    /// The number of requests issued since the start.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    fn process_until(&mut self, until: f64) {
        while self.events.peek().is_some_and(|e| e.at <= until) {
            let event = self.events.pop().expect("peeked");
            self.now = event.at;
            self.handle(event);
        }
    }

    fn interarrival(&mut self, rate_rps: f64) -> f64 {
        let u: f64 = self.arrivals.random_range(f64::EPSILON..1.0);
        -u.ln() / rate_rps
    }

    fn issue(&mut self, users: &Population) {
        self.issued += 1;
        let user = self.arrivals.random_range(0..users.len());
        let g = users.gateways[user] as usize;
        self.refresh(g);
        let gateway = &mut self.gateways[g];
        if gateway.candidates.is_empty() {
            self.total.no_endpoint += 1;
            self.window.no_endpoint += 1;
            return;
        }
        self.scratch.clear();
        self.floors.clear();
        self.seen.clear();
        if self.routing.reads_in_flight() {
            let counts = gateway.candidates.iter().map(|&id| gateway.in_flight[id]);
            self.scratch.extend(counts);
            let floors = gateway.candidates.iter().map(|&id| gateway.floors[id].ms());
            self.floors.extend(floors);
            let now = self.now;
            let seen = gateway
                .candidates
                .iter()
                .map(|&id| queueing_ms(gateway.observed[id].peek_ms(now), &gateway.floors[id]));
            self.seen.extend(seen);
        }
        let guard = GuardInputs {
            in_flight: &self.scratch,
            floors_ms: &self.floors,
            queueing_ms: &self.seen,
        };
        let Some(k) = self
            .routing
            .pick(&gateway.distances, guard, &mut self.picks)
        else {
            return;
        };
        let id = gateway.candidates[k];
        gateway.in_flight[id] += 1;
        let rtt_ms = self.topology.rtt_ms(g, self.replicas[id].node);
        self.push(
            self.now + rtt_ms / 2000.0,
            Step::AtReplica,
            Request {
                gateway: g as u32,
                replica: id as u32,
                issued: self.now,
                rtt_ms,
            },
        );
    }

    fn push(&mut self, at: f64, step: Step, request: Request) {
        self.seq += 1;
        self.events.push(Event {
            at,
            seq: self.seq,
            step,
            request,
        });
    }

    /// Rebuilds a gateway's view of the listed replicas when the set has changed.
    fn refresh(&mut self, g: usize) {
        let gateway = &mut self.gateways[g];
        if gateway.version == self.version {
            return;
        }
        gateway.version = self.version;
        gateway.in_flight.resize(self.replicas.len(), 0);
        gateway.observed.resize(
            self.replicas.len(),
            PeakEwma::new(0.0, DEFAULT_DECAY_S, 0.0),
        );
        gateway
            .floors
            .resize(self.replicas.len(), LatencyFloor::default());
        let listed: Vec<usize> = (0..self.replicas.len())
            .filter(|&id| self.replicas[id].listed)
            .collect();
        let zones = self.zones;
        let replicas = &self.replicas;
        let in_zone = |id: usize| zones.get(replicas[id].node) == zones.get(g);
        gateway.candidates = self.routing.narrow(listed, in_zone);
        gateway.distances = gateway
            .candidates
            .iter()
            .map(|&id| {
                self.estimates
                    .rtt_ms(self.topology, g, self.replicas[id].node)
            })
            .collect();
    }

    fn handle(&mut self, event: Event) {
        let r = event.request;
        match event.step {
            Step::AtReplica => {
                let replica = &mut self.replicas[r.replica as usize];
                if !replica.alive {
                    let gateway = &mut self.gateways[r.gateway as usize];
                    gateway.in_flight[r.replica as usize] -= 1;
                    // The proxy records its connect timeout as the latency of a connect that
                    // fails (here as soon as the request reaches the dead node).
                    gateway.observed[r.replica as usize].observe(CONNECT_TIMEOUT_MS, event.at);
                    gateway.floors[r.replica as usize].observe(CONNECT_TIMEOUT_MS, event.at);
                    self.total.failed += 1;
                    self.window.failed += 1;
                    return;
                }
                let (worker, free) = replica
                    .free_at
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .expect("a replica has a worker");
                let start = free.max(event.at);
                let u: f64 = self.service_times.random_range(f64::EPSILON..1.0);
                let done = start - u.ln() * self.service.mean_service_ms / 1000.0;
                replica.free_at[worker] = done;
                replica.served += 1;
                let answered = done + r.rtt_ms / 2000.0;
                let latency_ms = (answered - r.issued) * 1000.0;
                self.push(answered, Step::Answered { latency_ms }, r);
            }
            Step::Answered { latency_ms } => {
                let gateway = &mut self.gateways[r.gateway as usize];
                gateway.in_flight[r.replica as usize] -= 1;
                gateway.observed[r.replica as usize].observe(latency_ms, event.at);
                gateway.floors[r.replica as usize].observe(latency_ms, event.at);
                let within = latency_ms <= self.slo_ms;
                for tally in [&mut self.total, &mut self.window] {
                    tally.latency.record(latency_ms);
                    tally.network.record(r.rtt_ms);
                    tally.within_slo += u64::from(within);
                }
            }
        }
    }
}

/// max / mean of the requests served per replica (1 is perfectly even); 0 without requests.
pub fn imbalance(served: &[u64]) -> f64 {
    let total: u64 = served.iter().sum();
    if served.is_empty() || total == 0 {
        return 0.0;
    }
    let mean = total as f64 / served.len() as f64;
    *served.iter().max().expect("not empty") as f64 / mean
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimates::Distances;
    use brume_fog::RttMatrix;

    fn line(n: usize) -> Topology {
        Topology::from_matrix(
            "line",
            RttMatrix::from_fn(n, |i, j| 10.0 * (i as f64 - j as f64).abs()),
        )
    }

    fn run(routing: Routing, seed: u64) -> (Tally, Vec<u64>) {
        let t = line(4);
        let e = Estimates::compute(&t, Distances::Measured, 1).unwrap();
        let zones = vec![0, 0, 1, 1];
        let mut engine = Engine::new(&t, &e, &zones, routing, ServiceModel::default(), 15.0, seed);
        engine.add_replica(0);
        engine.add_replica(3);
        // All users at node 1: 10 ms from replica 0, 20 ms from replica 1.
        let users = Population {
            gateways: vec![1; 100],
        };
        engine.run_until(f64::INFINITY, 4000, &users, 500.0);
        engine.drain();
        (engine.total.clone(), engine.served())
    }

    #[test]
    fn latency_is_rtt_plus_service_and_routing_decides_the_split() {
        let (random, served) = run(Routing::Random, 1);
        assert_eq!(random.latency.count(), 4000);
        assert!((1800..2200).contains(&served[0]), "{served:?}");
        // Half at 10 ms, half at 20 ms, plus ~2 ms service at 12 % utilisation.
        let mean = random.latency.mean();
        assert!((16.0..18.5).contains(&mean), "mean {mean}");
        assert!((random.network.mean() - 15.0).abs() < 0.5);
        let (nearest, served) = run(Routing::nearest(), 1);
        assert_eq!(served, vec![4000, 0]);
        assert!((nearest.network.mean() - 10.0).abs() < 1e-6);
        assert!(nearest.attainment() > 0.9, "{}", nearest.attainment());
        // Same-zone: node 1 is in zone 0 with replica 0 only.
        let (_, served) = run(Routing::SameZone, 1);
        assert_eq!(served, vec![4000, 0]);
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let a = run(Routing::proximity(0.5), 9);
        let b = run(Routing::proximity(0.5), 9);
        assert_eq!(a.0.latency, b.0.latency);
        assert_eq!(a.1, b.1);
        let c = run(Routing::proximity(0.5), 10);
        assert_ne!(a.1, c.1);
    }

    #[test]
    fn unlisted_and_failed_replicas() {
        let t = line(3);
        let e = Estimates::compute(&t, Distances::Measured, 1).unwrap();
        let mut engine = Engine::new(
            &t,
            &e,
            &[],
            Routing::Random,
            ServiceModel::default(),
            50.0,
            1,
        );
        let users = Population { gateways: vec![0] };
        engine.run_until(1.0, u64::MAX, &users, 100.0);
        assert!(
            engine.total.no_endpoint > 50,
            "{}",
            engine.total.no_endpoint
        );
        let a = engine.add_replica(1);
        let b = engine.add_replica(2);
        engine.set_node_alive(2, false);
        engine.run_until(2.0, u64::MAX, &users, 100.0);
        let failed = engine.total.failed;
        assert!(failed > 20, "{failed}");
        engine.unlist(b);
        let before = engine.served()[a];
        engine.run_until(3.0, u64::MAX, &users, 100.0);
        engine.drain();
        // Only what was already on its way to it when it was unlisted.
        assert!(
            engine.total.failed <= failed + 2,
            "an unlisted replica gets nothing new"
        );
        assert!(engine.served()[a] > before + 50);
        assert_eq!(engine.listed(), vec![(a, 1)]);
        assert!(engine.total.attainment() < 1.0);
        assert_eq!(imbalance(&[2, 2]), 1.0);
        assert_eq!(imbalance(&[3, 1]), 1.5);
    }
}
