//! `brume bench slo`: how long the fog decisions take at scale — sizing a Deployment for a
//! latency objective ([`brume_fog::slo::plan`], what the latency autoscaler runs) and finding
//! the best single replica move ([`brume_fog::replace::best_move`], what re-placement runs) —
//! for N nodes and G gateways' demand.
//!
//! The topology is synthetic and seeded: nodes spread on a 150 × 150 ms plane (Vivaldi
//! coordinates with a 1 ms height), gateways each a few ms from a random node, demand per
//! gateway heavy-tailed (a Pareto draw). Distances are [`brume_fog::estimate_rtt_ms`] of the
//! nodes' locations, as in the controllers. The baseline, measured in the same run, is the G × N
//! distance estimates alone: the least any decision reading every pair must do.

use std::time::{Duration, Instant};

use brume_fog::replace::{MoveThreshold, best_move};
use brume_fog::slo::{SloObjective, SloProblem, plan};
use brume_fog::{Coordinate, NodeLocation, PlacementConfig, estimate_rtt_ms};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Arguments of `brume bench slo`.
#[derive(clap::Args)]
pub struct Args {
    /// Nodes a replica may run on.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Gateways with demand.
    #[arg(long, default_value_t = 10_000)]
    gateways: usize,
    /// Decisions to time (the median and the worst are printed).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The objective's latency bound (ms); 90 % of requests within it.
    #[arg(long, default_value_t = 25.0)]
    latency_ms: f64,
    /// Requests per second one replica serves.
    #[arg(long, default_value_t = 500.0)]
    capacity: f64,
    /// Replicas of the Deployment whose best move is searched.
    #[arg(long, default_value_t = 5)]
    replicas: usize,
    /// The seed of the topology.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn at(x: f64, y: f64) -> NodeLocation {
    NodeLocation {
        coordinate: Some(Coordinate {
            vector: vec![x, y],
            height: 1.0,
            error: 0.2,
        }),
        ..NodeLocation::default()
    }
}

/// Times `f` `runs` times: (median, worst) and the last result.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    times.sort();
    let out = last.unwrap_or_else(|| unreachable!("runs >= 1"));
    (times[times.len() / 2], times[times.len() - 1], out)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    // Locations: nodes first (0..N), then gateways (N..N+G).
    let mut locations: Vec<NodeLocation> = (0..args.nodes)
        .map(|_| at(rng.random_range(0.0..150.0), rng.random_range(0.0..150.0)))
        .collect();
    let mut demand = Vec::with_capacity(args.gateways);
    for g in 0..args.gateways {
        let home = rng.random_range(0..args.nodes.max(1));
        let v = &locations[home]
            .coordinate
            .as_ref()
            .map_or(vec![0.0, 0.0], |c| c.vector.clone());
        locations.push(at(
            v[0] + rng.random_range(-3.0..3.0),
            v[1] + rng.random_range(-3.0..3.0),
        ));
        // Pareto(α = 1.5) around 1 req/s: a few gateways carry most of the demand.
        let u: f64 = rng.random_range(0.0001..1.0);
        demand.push((args.nodes + g, u.powf(-1.0 / 1.5)));
    }
    let total: f64 = demand.iter().map(|(_, r)| r).sum();
    let candidates: Vec<usize> = (0..args.nodes).collect();
    let rtt = |a: &usize, b: &usize| {
        if a == b {
            return Some(0.0);
        }
        estimate_rtt_ms(&locations[*a], &locations[*b])
    };
    println!(
        "brume bench slo: {} nodes, {} gateways, {:.0} req/s in all, p90 < {} ms, {} req/s per replica, {} runs",
        args.nodes, args.gateways, total, args.latency_ms, args.capacity, args.runs
    );

    let (base_med, base_max, pairs) = time(args.runs, || {
        let mut within = 0usize;
        for (g, _) in &demand {
            for c in &candidates {
                if rtt(g, c).is_some_and(|d| d <= args.latency_ms) {
                    within += 1;
                }
            }
        }
        within
    });
    println!(
        "  baseline: {} x {} distance estimates        median {:8.1} ms  worst {:8.1} ms  ({} pairs within the bound)",
        args.gateways,
        args.nodes,
        ms(base_med),
        ms(base_max),
        pairs
    );

    let problem = SloProblem {
        demand: demand.clone(),
        candidates: candidates.clone(),
        capacity_rps: args.capacity,
        min: 1,
        max: args.nodes,
        objective: SloObjective {
            quantile: 0.9,
            latency_ms: args.latency_ms,
        },
    };
    let (plan_med, plan_max, sized) = time(args.runs, || plan(&problem, rtt));
    println!(
        "  latency autoscaler (slo::plan)              median {:8.1} ms  worst {:8.1} ms  -> {} replicas, predicted {:.1}% (meets: {})  ratio to baseline {:.2}",
        ms(plan_med),
        ms(plan_max),
        sized.replicas.len(),
        sized.attainment.share * 100.0,
        sized.meets,
        ms(plan_med) / ms(base_med).max(1e-9)
    );

    // Re-placement: the Deployment's replicas sit on the first nodes; the best single move.
    let replicas: Vec<usize> = (0..args.replicas.min(args.nodes)).collect();
    let (move_med, move_max, found) = time(args.runs, || {
        best_move(
            &demand,
            &replicas,
            &candidates,
            rtt,
            &PlacementConfig::default(),
            &MoveThreshold::default(),
        )
    });
    let found = match found {
        Some(m) => format!(
            "move {} -> {}, p90 {:.1} -> {:.1} ms",
            m.from, m.to, m.before.tail_ms, m.after.tail_ms
        ),
        None => "no move".to_string(),
    };
    println!(
        "  re-placement ({} replicas, replace::best_move) median {:8.1} ms  worst {:8.1} ms  -> {}  ratio to baseline {:.2}",
        replicas.len(),
        ms(move_med),
        ms(move_max),
        found,
        ms(move_med) / ms(base_med).max(1e-9)
    );
    let verdict =
        |median: Duration, worst: Duration| match (ms(median) <= 100.0, ms(worst) <= 100.0) {
            (true, true) => "met",
            (true, false) => "met by the median, missed by the worst run",
            _ => "missed",
        };
    println!(
        "  target: <= 100 ms per decision on 2 cores: sizing {}; re-placement {}",
        verdict(plan_med, plan_max),
        verdict(move_med, move_max)
    );
    Ok(())
}
