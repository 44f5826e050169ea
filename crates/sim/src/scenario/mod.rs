//! The scenarios `brume sim --scenario` runs, one file each, and what they share: the settings,
//! the setup (topology, coordinates, zones, users), and the progress counter the command line
//! draws its bar from.

pub mod deployment;
pub mod failures;
pub mod load;
pub mod placement;
pub mod routing;
pub mod users_moving;
pub mod vivaldi;

use std::sync::atomic::{AtomicU64, Ordering};

use brume_scheduler::NodeInfo;
use serde::Serialize;

use crate::engine::{Engine, ServiceModel};
use crate::error::SimError;
use crate::estimates::{Distances, Estimates};
use crate::report::Report;
use crate::router::Routing;
use crate::topology::Topology;
use crate::users::{DemandShape, Population};
use crate::zones;

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// The routing trade-off: latency against load imbalance over α, against the Kubernetes
    /// policies, on one placement.
    Routing,
    /// Placement against the baselines and, on small instances, the exhaustive optimum.
    Placement,
    /// How well Vivaldi coordinates predict the RTTs, and how fast they converge.
    Vivaldi,
    /// Node failures: failed requests and recovery time under Kubernetes' defaults and Brume's.
    Failures,
    /// Load rising and falling over a day: fixed replicas, Kubernetes' HPA and Brume's
    /// latency autoscaler.
    Load,
    /// Users moving between hotspots: static placements against the re-placement controller.
    UsersMoving,
}

impl Scenario {
    /// Every scenario, in the order `--scenario all` runs them.
    pub const ALL: [Scenario; 6] = [
        Scenario::Routing,
        Scenario::Placement,
        Scenario::Vivaldi,
        Scenario::Failures,
        Scenario::Load,
        Scenario::UsersMoving,
    ];

    /// The name on the command line and in file names.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Routing => "routing",
            Scenario::Placement => "placement",
            Scenario::Vivaldi => "vivaldi",
            Scenario::Failures => "failures",
            Scenario::Load => "load",
            Scenario::UsersMoving => "users-moving",
        }
    }

    /// The scenario named `name`.
    pub fn parse(name: &str) -> Result<Scenario, SimError> {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| SimError::Setting {
                name: "--scenario",
                value: format!("{name:?}"),
                valid: format!(
                    "one of {}, or all",
                    Scenario::ALL.map(|s| s.name()).join(", ")
                ),
            })
    }
}

/// Where the routing scenario's replicas run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pinning {
    /// Where Brume's scheduler puts them for the demand.
    Scheduler,
    /// One on each hotspot centre, as an operator pins replicas to the demand sites (a
    /// nodeSelector, or a DaemonSet on the site nodes): the geometry in which the users sit
    /// at the nodes that run the replicas.
    Hotspots,
}

impl Pinning {
    /// The name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Pinning::Scheduler => "scheduler",
            Pinning::Hotspots => "hotspots",
        }
    }

    /// The pinning named `name`.
    pub fn parse(name: &str) -> Result<Pinning, SimError> {
        [Pinning::Scheduler, Pinning::Hotspots]
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| bad("--placement", format!("{name:?}"), "scheduler or hotspots"))
    }
}

/// What every scenario reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Users in all.
    pub users: usize,
    /// Requests simulated in all, shared evenly by the variants a scenario compares.
    pub requests: u64,
    /// Replicas of the Service.
    pub replicas: usize,
    /// Demand hotspots.
    pub hotspots: usize,
    /// The share of users around the hotspots; the rest are spread uniformly over all nodes.
    pub concentration: f64,
    /// How far users spread around a hotspot: the mean rank of a user's gateway among the
    /// centre's nodes by RTT (0: every hotspot user on the centre itself).
    pub reach: f64,
    /// Where the routing scenario's replicas run.
    pub placement: Pinning,
    /// Zones for the Kubernetes topology-aware baseline.
    pub zones: usize,
    /// The α values of Brume's proximity routing to compare.
    pub alphas: Vec<f64>,
    /// The α Brume runs by default (the proxy's), whose figures are the headline.
    pub default_alpha: f64,
    /// The exponent p of the distance weights (the proxy's by default).
    pub p: f64,
    /// The offered load as a share of the replicas' total capacity.
    pub utilisation: f64,
    /// The latency bound counted as meeting the SLO, in ms.
    pub slo_ms: f64,
    /// How replicas serve.
    pub service: ServiceModel,
    /// Which distances the proxies and the scheduler see.
    pub distances: Distances,
    /// Small instances for the exhaustive optimum.
    pub small_instances: usize,
    /// Nodes in each small instance.
    pub small_nodes: usize,
    /// The seed of everything.
    pub seed: u64,
}

impl Default for Settings {
    /// 100,000 users, 1,000,000 requests, 10 replicas, 8 hotspots drawing 70 % of the users
    /// over a reach of 4 nodes, 8 zones, α from 0 to
    /// 1, at 60 % of capacity, a 30 ms SLO, Vivaldi distances, seed 1.
    fn default() -> Settings {
        Settings {
            users: 100_000,
            requests: 1_000_000,
            replicas: 10,
            hotspots: 8,
            concentration: DemandShape::DEFAULT_CONCENTRATION,
            reach: DemandShape::DEFAULT_REACH,
            placement: Pinning::Scheduler,
            zones: 8,
            alphas: vec![0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0],
            default_alpha: brume_fog::ProximityParams::default().alpha,
            p: brume_fog::ProximityParams::default().p,
            utilisation: 0.6,
            slo_ms: 30.0,
            service: ServiceModel::default(),
            distances: Distances::Vivaldi,
            small_instances: 10,
            small_nodes: 16,
            seed: 1,
        }
    }
}

fn bad(name: &'static str, value: impl std::fmt::Display, valid: &str) -> SimError {
    SimError::Setting {
        name,
        value: value.to_string(),
        valid: valid.into(),
    }
}

impl Settings {
    /// Checks every setting against the topology it will run on.
    pub fn validate(&self, topology: &Topology) -> Result<(), SimError> {
        let n = topology.len();
        if n < 3 {
            return Err(bad("nodes", n, "at least 3 nodes"));
        }
        if self.users == 0 {
            return Err(bad("--users", 0, "at least 1"));
        }
        if self.requests == 0 {
            return Err(bad("--requests", 0, "at least 1"));
        }
        if self.replicas == 0 || self.replicas > n {
            return Err(bad(
                "--replicas",
                self.replicas,
                &format!("1 to the number of nodes ({n})"),
            ));
        }
        if self.hotspots > n {
            return Err(bad(
                "--hotspots",
                self.hotspots,
                &format!("0 to the number of nodes ({n})"),
            ));
        }
        if !(0.0..=1.0).contains(&self.concentration) {
            return Err(bad(
                "--concentration",
                self.concentration,
                "a share of the users in [0, 1]",
            ));
        }
        if !(self.reach.is_finite() && self.reach >= 0.0) {
            return Err(bad("--reach", self.reach, "a mean rank of nodes >= 0"));
        }
        if self.placement == Pinning::Hotspots && self.replicas > self.hotspots {
            return Err(bad(
                "--replicas",
                self.replicas,
                &format!(
                    "at most --hotspots ({}) with --placement hotspots (one replica per centre)",
                    self.hotspots
                ),
            ));
        }
        if self.zones == 0 {
            return Err(bad("--zones", 0, "at least 1"));
        }
        for &a in &self.alphas {
            if !(0.0..=1.0).contains(&a) {
                return Err(bad("--alphas", a, "numbers in [0, 1]"));
            }
        }
        if !(0.0..=1.0).contains(&self.default_alpha) {
            return Err(bad("--alpha", self.default_alpha, "a number in [0, 1]"));
        }
        if !(self.p.is_finite() && self.p > 0.0) {
            return Err(bad("--p", self.p, "a number > 0"));
        }
        if !(self.utilisation > 0.0 && self.utilisation <= 2.0) {
            return Err(bad(
                "--utilisation",
                self.utilisation,
                "a share of capacity in (0, 2]",
            ));
        }
        if !(self.slo_ms.is_finite() && self.slo_ms > 0.0) {
            return Err(bad("--slo-ms", self.slo_ms, "a number of ms > 0"));
        }
        if !(self.service.mean_service_ms.is_finite() && self.service.mean_service_ms > 0.0) {
            return Err(bad(
                "--service-ms",
                self.service.mean_service_ms,
                "a number of ms > 0",
            ));
        }
        if self.small_nodes < 3 || self.small_nodes > n {
            return Err(bad(
                "--small-nodes",
                self.small_nodes,
                &format!("3 to the number of nodes ({n})"),
            ));
        }
        Ok(())
    }

    /// Brume's proximity routing at `alpha`, with this run's p and the proxy's β.
    pub fn proximity(&self, alpha: f64) -> Routing {
        let Routing::Proximity { mut params } = Routing::proximity(alpha) else {
            unreachable!("Routing::proximity is a proximity routing")
        };
        params.p = self.p;
        Routing::Proximity { params }
    }

    /// Where the demand is: `hotspots` centres drawn with `seed`, this run's concentration and
    /// reach.
    pub fn demand_shape(&self, topology: &Topology, seed: u64) -> DemandShape {
        DemandShape::new(
            topology,
            self.hotspots,
            self.concentration,
            self.reach,
            seed,
        )
    }

    /// The offered request rate: `utilisation` of the replicas' capacity.
    pub fn rate_rps(&self) -> f64 {
        self.utilisation * self.replicas as f64 * self.service.capacity_rps()
    }
}

/// How far a run has got, for a progress bar: units done out of a total that a scenario sets
/// when it knows it.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// Adds to the total.
    pub fn plan(&self, units: u64) {
        self.total.fetch_add(units, Ordering::Relaxed);
    }

    /// Counts units done.
    pub fn advance(&self, units: u64) {
        self.done.fetch_add(units, Ordering::Relaxed);
    }

    /// (done, total).
    pub fn get(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// What every request-level scenario starts from.
pub struct Setup<'a> {
    /// The topology.
    pub topology: &'a Topology,
    /// What the nodes believe the RTTs are.
    pub estimates: Estimates,
    /// Each node's zone for the Kubernetes baseline.
    pub zones: Vec<u16>,
    /// Where the demand is concentrated.
    pub shape: DemandShape,
    /// The users.
    pub users: Population,
    /// Users per gateway, the rate per gateway in users.
    pub demand: Vec<(usize, f64)>,
}

impl<'a> Setup<'a> {
    /// Computes coordinates, zones and users for `settings` on `topology`.
    pub fn new(topology: &'a Topology, settings: &Settings) -> Result<Setup<'a>, SimError> {
        settings.validate(topology)?;
        let estimates = Estimates::compute(topology, settings.distances, settings.seed)?;
        let zones = zones::cluster(topology, settings.zones);
        let shape = settings.demand_shape(topology, settings.seed);
        let users = Population::draw(topology, &shape, settings.users, settings.seed);
        let demand = users.demand(topology.len(), 1.0);
        Ok(Setup {
            topology,
            estimates,
            zones,
            shape,
            users,
            demand,
        })
    }
}

impl Setup<'_> {
    /// An engine over this setup with `routing`, one listed replica on each of `nodes`.
    pub fn engine(&self, settings: &Settings, routing: Routing, nodes: &[usize]) -> Engine<'_> {
        let mut engine = Engine::new(
            self.topology,
            &self.estimates,
            &self.zones,
            routing,
            settings.service,
            settings.slo_ms,
            settings.seed,
        );
        for &node in nodes {
            engine.add_replica(node);
        }
        engine
    }

    /// Where the routing scenario's replicas run: Brume's placement, or one replica on each of
    /// the first `settings.replicas` hotspot centres.
    pub fn routing_placement(&self, settings: &Settings) -> Vec<usize> {
        match settings.placement {
            Pinning::Scheduler => self.brume_placement(settings).1,
            Pinning::Hotspots => self.shape.hotspots[..settings.replicas].to_vec(),
        }
    }

    /// Where Brume's scheduler puts the Service's replicas for this demand, on nodes carrying
    /// the seeded background load: the placement the routing and failure scenarios start from.
    /// Returns the scheduler's nodes, with the replicas counted, and the replicas' nodes.
    pub fn brume_placement(&self, settings: &Settings) -> (Vec<NodeInfo>, Vec<usize>) {
        self.scheduled(settings, true)
    }

    /// Where the scheduler puts the Service's `settings.replicas` replicas for this demand on
    /// nodes carrying the seeded background load, with ProximityPlacement (Brume) or without
    /// (Kubernetes' default scores). Returns the nodes, the replicas counted, and the replicas'
    /// nodes.
    pub fn scheduled(&self, settings: &Settings, proximity: bool) -> (Vec<NodeInfo>, Vec<usize>) {
        let n = self.topology.len();
        let background = crate::placement::background_load(n, settings.seed);
        let mut nodes = crate::placement::cluster(&self.estimates, n, &background);
        let replicas =
            crate::placement::schedule(&mut nodes, &self.demand, settings.replicas, proximity, 0);
        (nodes, replicas)
    }
}

/// Requests per progress step: the engine runs in chunks of this many and counts each.
const CHUNK: u64 = 50_000;

/// Runs `requests` requests with `routing` over replicas on `nodes`, counting progress; returns
/// the engine, drained.
pub fn run_static<'a>(
    setup: &'a Setup<'_>,
    settings: &Settings,
    routing: Routing,
    nodes: &[usize],
    requests: u64,
    progress: &Progress,
) -> Engine<'a> {
    let mut engine = setup.engine(settings, routing, nodes);
    let rate = settings.rate_rps();
    while engine.issued() < requests {
        let next = (engine.issued() + CHUNK).min(requests);
        let before = engine.issued();
        engine.run_until(f64::INFINITY, next, &setup.users, rate);
        progress.advance(engine.issued() - before);
    }
    engine.drain();
    engine
}

/// Runs `jobs` on up to as many threads as the machine has cores, keeping their order; each job
/// is deterministic on its own, so the results do not depend on the threads.
pub fn parallel<T: Send, R: Send>(jobs: Vec<T>, run: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len())
        .max(1);
    let mut slots: Vec<Option<R>> = (0..jobs.len()).map(|_| None).collect();
    let queue = std::sync::Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>());
    let results = std::sync::Mutex::new(&mut slots);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let job = queue.lock().expect("queue").pop();
                    let Some((i, job)) = job else { break };
                    let r = run(job);
                    results.lock().expect("results")[i] = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

/// Runs one scenario on `topology`; `later` is a later measurement of the same nodes for the
/// Vivaldi scenario, and `command` the command line recorded in the report.
pub fn run(
    scenario: Scenario,
    topology: &Topology,
    later: Option<&Topology>,
    settings: &Settings,
    command: &str,
    progress: &Progress,
) -> Result<Report, SimError> {
    let mut report = match scenario {
        Scenario::Routing => routing::run(topology, settings, progress)?,
        Scenario::Placement => placement::run(topology, settings, progress)?,
        Scenario::Vivaldi => vivaldi::run(topology, later, settings, progress)?,
        Scenario::Failures => failures::run(topology, settings, progress)?,
        Scenario::Load => load::run(topology, settings, progress)?,
        Scenario::UsersMoving => users_moving::run(topology, settings, progress)?,
    };
    report.command = command.to_string();
    Ok(report)
}
