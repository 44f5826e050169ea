//! Placement against the baselines: where Kubernetes' default scheduler puts the replicas
//! (resource scores only), where Brume's scheduler puts them (with ProximityPlacement), and
//! where the latency autoscaler's plan puts the same number; on small instances cut out of the
//! topology, also the exhaustive optimum of the p90. Latency is each user's RTT to the nearest
//! replica by the true RTTs, and end to end under Brume's default routing.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use brume_fog::slo::SloObjective;

use crate::error::SimError;
use crate::figure::{Figure, FigureKind, Series};
use crate::histogram::{LatencyStats, thin};
use crate::placement::{
    background_load, cluster, exhaustive_by_estimates, exhaustive_optimum, schedule, settle,
    slo_plan, true_latency,
};
use crate::report::{Report, Table, fixed, headline};
use crate::scenario::{Progress, Settings, Setup, parallel, run_static};
use crate::topology::Topology;
use crate::users::{DemandShape, Population};

/// The placement strategies compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// kube-scheduler's default scores: LeastAllocated and BalancedAllocation.
    KubernetesDefault,
    /// Brume's scheduler: the same plus ProximityPlacement.
    BrumeProximity,
    /// Brume's scheduler, then the re-placement controller's moves until it proposes none: a
    /// Deployment with `fog.brume.io/placement: follow-users` at rest.
    BrumeFollowUsers,
    /// The latency autoscaler's plan (greedy SLO coverage) for the same replica count.
    BrumeSloPlan,
}

impl Strategy {
    const ALL: [Strategy; 4] = [
        Strategy::KubernetesDefault,
        Strategy::BrumeProximity,
        Strategy::BrumeFollowUsers,
        Strategy::BrumeSloPlan,
    ];

    fn label(&self) -> &'static str {
        match self {
            Strategy::KubernetesDefault => "kubernetes default",
            Strategy::BrumeProximity => "brume proximity placement",
            Strategy::BrumeFollowUsers => "brume placement + follow-users moves",
            Strategy::BrumeSloPlan => "brume latency-SLO plan",
        }
    }
}

/// The replicas a strategy picks for `demand` on `topology`.
fn place(
    strategy: Strategy,
    topology: &Topology,
    setup_estimates: &crate::estimates::Estimates,
    demand: &[(usize, f64)],
    k: usize,
    settings: &Settings,
    background: &[f64],
) -> Vec<usize> {
    match strategy {
        Strategy::KubernetesDefault | Strategy::BrumeProximity => {
            let mut nodes = cluster(setup_estimates, topology.len(), background);
            schedule(
                &mut nodes,
                demand,
                k,
                strategy == Strategy::BrumeProximity,
                0,
            )
        }
        Strategy::BrumeFollowUsers => {
            let start = place(
                Strategy::BrumeProximity,
                topology,
                setup_estimates,
                demand,
                k,
                settings,
                background,
            );
            settle(topology, setup_estimates, demand, start)
        }
        Strategy::BrumeSloPlan => {
            let objective = SloObjective {
                quantile: 0.9,
                latency_ms: settings.slo_ms,
            };
            // Capacity is not what this comparison is about: each replica could take it all.
            let total: f64 = demand.iter().map(|(_, r)| r).sum();
            slo_plan(topology, setup_estimates, demand, total, k, k, objective).replicas
        }
    }
}

/// What one strategy achieved.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The strategy.
    pub strategy: Strategy,
    /// The replicas' nodes.
    pub replicas: Vec<usize>,
    /// Demand-weighted mean RTT to the nearest replica.
    pub nearest_mean_ms: f64,
    /// Demand-weighted p90 RTT to the nearest replica.
    pub nearest_p90_ms: f64,
    /// End to end, under Brume's default routing.
    pub latency: LatencyStats,
    /// The share within the SLO bound end to end.
    pub attainment: f64,
    #[serde(skip)]
    cdf: Vec<(f64, f64)>,
}

/// One small instance: each strategy's p90 against the optimum.
#[derive(Debug, Clone, Serialize)]
pub struct SmallInstance {
    /// The nodes of the large topology it is cut from.
    pub nodes: Vec<usize>,
    /// The optimum's p90 (ms).
    pub optimum_p90_ms: f64,
    /// The true p90 (ms) of the subset that is optimal by what the nodes know (their coordinates and measurements): the best the
    /// nodes' own knowledge allows.
    pub optimum_by_estimates_p90_ms: f64,
    /// Each strategy's p90 (ms), in [`Strategy`] order.
    pub p90_ms: Vec<f64>,
}

/// The demand-weighted CDF of the RTT to the nearest replica.
fn nearest_cdf(
    topology: &Topology,
    demand: &[(usize, f64)],
    replicas: &[usize],
) -> Vec<(f64, f64)> {
    let mut served: Vec<(f64, f64)> = demand
        .iter()
        .map(|&(g, rate)| {
            let d = replicas
                .iter()
                .map(|&r| topology.rtt_ms(g, r))
                .fold(f64::INFINITY, f64::min);
            (d, rate)
        })
        .collect();
    served.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = served.iter().map(|(_, r)| r).sum();
    let mut seen = 0.0;
    let points = served
        .into_iter()
        .map(|(d, r)| {
            seen += r;
            (d.max(0.1), seen / total)
        })
        .collect();
    thin(points, 300)
}

/// Runs the scenario.
pub fn run(
    topology: &Topology,
    settings: &Settings,
    progress: &Progress,
) -> Result<Report, SimError> {
    let setup = Setup::new(topology, settings)?;
    let k = settings.replicas;
    let per_strategy = (settings.requests / Strategy::ALL.len() as u64).max(1);
    progress.plan(per_strategy * Strategy::ALL.len() as u64 + settings.small_instances as u64);
    let outcomes = parallel(Strategy::ALL.to_vec(), |strategy| {
        let replicas = place(
            strategy,
            topology,
            &setup.estimates,
            &setup.demand,
            k,
            settings,
            &background_load(topology.len(), settings.seed),
        );
        let summary = true_latency(topology, &setup.demand, &replicas);
        let routing = settings.proximity(settings.default_alpha);
        let engine = run_static(&setup, settings, routing, &replicas, per_strategy, progress);
        Outcome {
            strategy,
            cdf: nearest_cdf(topology, &setup.demand, &replicas),
            nearest_mean_ms: summary.map_or(0.0, |s| s.mean_ms),
            nearest_p90_ms: summary.map_or(0.0, |s| s.tail_ms),
            latency: engine.total.latency.stats(),
            attainment: engine.total.attainment(),
            replicas,
        }
    });
    let small = small_instances(topology, &setup, settings, progress);
    Ok(report(topology, settings, &outcomes, &small, per_strategy))
}

/// The replicas of a small instance: at most 3, so the optimum stays a few hundred subsets.
const SMALL_REPLICAS: usize = 3;

fn small_instances(
    topology: &Topology,
    setup: &Setup<'_>,
    settings: &Settings,
    progress: &Progress,
) -> Vec<SmallInstance> {
    let mut rng = StdRng::seed_from_u64(settings.seed ^ 0x5a11);
    let jobs: Vec<(u64, Vec<usize>)> = (0..settings.small_instances as u64)
        .map(|i| {
            let mut nodes: Vec<usize> = (0..topology.len()).collect();
            nodes.shuffle(&mut rng);
            nodes.truncate(settings.small_nodes);
            (settings.seed + i, nodes)
        })
        .collect();
    parallel(jobs, |(seed, nodes)| {
        let small = topology.subset(&nodes);
        let estimates = setup.estimates.subset(&nodes, &small);
        let shape = DemandShape::random(&small, 2, seed);
        let users = Population::draw(&small, &shape, 1000, seed);
        let demand = users.demand(small.len(), 1.0);
        let k = SMALL_REPLICAS.min(settings.replicas).min(small.len());
        let candidates: Vec<usize> = (0..small.len()).collect();
        let background = background_load(small.len(), seed);
        let optimum =
            exhaustive_optimum(&small, &demand, &candidates, k).map_or(0.0, |(_, s)| s.tail_ms);
        let by_estimates = exhaustive_by_estimates(&small, &estimates, &demand, &candidates, k)
            .and_then(|(replicas, _)| true_latency(&small, &demand, &replicas))
            .map_or(0.0, |s| s.tail_ms);
        let p90_ms = Strategy::ALL
            .iter()
            .map(|&s| {
                let replicas = place(s, &small, &estimates, &demand, k, settings, &background);
                true_latency(&small, &demand, &replicas).map_or(0.0, |l| l.tail_ms)
            })
            .collect();
        progress.advance(1);
        SmallInstance {
            nodes,
            optimum_p90_ms: optimum,
            optimum_by_estimates_p90_ms: by_estimates,
            p90_ms,
        }
    })
}

/// How far above the optimum's p90 a strategy's is, as a share (0 = optimal); a 0 ms optimum
/// counts a 0 ms result as optimal and anything else as 1 ms over.
fn excess(p90: f64, optimum: f64) -> f64 {
    if optimum > 0.0 {
        p90 / optimum - 1.0
    } else if p90 > 0.0 {
        p90
    } else {
        0.0
    }
}

fn mean_excess(pairs: impl Iterator<Item = (f64, f64)>) -> f64 {
    let all: Vec<f64> = pairs.map(|(p90, optimum)| excess(p90, optimum)).collect();
    all.iter().sum::<f64>() / all.len().max(1) as f64
}

fn report(
    topology: &Topology,
    settings: &Settings,
    outcomes: &[Outcome],
    small: &[SmallInstance],
    per_strategy: u64,
) -> Report {
    let mut table = Table::new(&[
        "placement",
        "nearest mean ms",
        "nearest p90 ms",
        "e2e mean ms",
        "e2e p90 ms",
        "within SLO",
        "small: mean p90 over optimum",
        "small: worst",
    ]);
    let mut excesses = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let over: Vec<f64> = small
            .iter()
            .map(|s| excess(s.p90_ms[i], s.optimum_p90_ms))
            .collect();
        let mean_over = over.iter().sum::<f64>() / over.len().max(1) as f64;
        let worst = over.iter().copied().fold(0.0, f64::max);
        excesses.push((mean_over, worst));
        table.push(vec![
            o.strategy.label().into(),
            fixed(o.nearest_mean_ms, 1),
            fixed(o.nearest_p90_ms, 1),
            fixed(o.latency.mean_ms, 1),
            fixed(o.latency.p90_ms, 1),
            format!("{:.1} %", 100.0 * o.attainment),
            format!("+{:.1} %", 100.0 * mean_over),
            format!("+{:.1} %", 100.0 * worst),
        ]);
    }
    let (k8s, brume) = (&outcomes[0], &outcomes[1]);
    let cut = |a: f64, b: f64| if a > 0.0 { 100.0 * (1.0 - b / a) } else { 0.0 };
    let headline = vec![
        headline(
            "p90_cut_vs_kubernetes",
            "p90 user-to-replica RTT cut of Brume's placement against Kubernetes' default",
            cut(k8s.nearest_p90_ms, brume.nearest_p90_ms),
            "%",
        ),
        headline(
            "brume_p90_ms",
            "p90 user-to-replica RTT, Brume's placement",
            brume.nearest_p90_ms,
            "ms",
        ),
        headline(
            "kubernetes_p90_ms",
            "p90 user-to-replica RTT, Kubernetes' default placement",
            k8s.nearest_p90_ms,
            "ms",
        ),
        headline(
            "brume_over_optimum_mean",
            "Brume's placement p90 above the exhaustive optimum, mean over small instances",
            100.0 * excesses[1].0,
            "%",
        ),
        headline(
            "brume_over_optimum_worst",
            "Brume's placement p90 above the exhaustive optimum, worst small instance",
            100.0 * excesses[1].1,
            "%",
        ),
        headline(
            "estimates_optimum_over_optimum_mean",
            "the optimum by what the nodes know (coordinates, measured nearest peers), p90 above the true optimum, mean over small \
             instances (what the estimates' error alone costs)",
            100.0
                * mean_excess(
                    small
                        .iter()
                        .map(|s| (s.optimum_by_estimates_p90_ms, s.optimum_p90_ms)),
                ),
            "%",
        ),
        headline(
            "brume_over_estimates_optimum_mean",
            "Brume's placement p90 above the optimum by what the nodes know (both by the true \
             RTTs), mean over small instances (what the one-at-a-time placement and the \
             resource scores cost, the estimates' error aside)",
            100.0
                * mean_excess(
                    small
                        .iter()
                        .map(|s| (s.p90_ms[1], s.optimum_by_estimates_p90_ms)),
                ),
            "%",
        ),
        headline(
            "follow_users_over_optimum_mean",
            "a follow-users Deployment at rest (Brume's placement, then the re-placement moves) \
             p90 above the exhaustive optimum, mean over small instances",
            100.0 * excesses[2].0,
            "%",
        ),
        headline(
            "follow_users_over_optimum_worst",
            "a follow-users Deployment at rest, p90 above the exhaustive optimum, worst small \
             instance",
            100.0 * excesses[2].1,
            "%",
        ),
        headline(
            "follow_users_p90_cut_vs_kubernetes",
            "p90 user-to-replica RTT cut of a follow-users Deployment at rest against \
             Kubernetes' default placement",
            cut(k8s.nearest_p90_ms, outcomes[2].nearest_p90_ms),
            "%",
        ),
        headline(
            "slo_plan_over_optimum_mean",
            "the latency-SLO plan's p90 above the exhaustive optimum, mean over small instances",
            100.0 * excesses[3].0,
            "%",
        ),
    ];
    let cdf = Figure {
        file: "placement-latency-cdf.svg".into(),
        title: format!(
            "User to nearest replica RTT by placement ({})",
            topology.name
        ),
        x_label: "RTT to the nearest replica (ms)".into(),
        y_label: "share of users".into(),
        x_log: true,
        kind: FigureKind::Lines,
        series: outcomes
            .iter()
            .map(|o| Series {
                name: o.strategy.label().into(),
                points: o.cdf.clone(),
                labels: Vec::new(),
            })
            .collect(),
    };
    Report {
        headline,
        table,
        results: serde_json::json!({
            "strategies": outcomes,
            "small_instances": small,
            "small_replicas": SMALL_REPLICAS.min(settings.replicas),
            "requests_per_strategy": per_strategy,
        }),
        figures: vec![cdf],
        requests: per_strategy * outcomes.len() as u64,
        ..Report::new("placement", topology, settings)
    }
}
