//! Where replicas go. Each strategy is the live decision for the same inputs: the scheduler's
//! own profile and `select` over NodeInfos that carry the nodes' Vivaldi coordinates and the
//! Service's demand (Kubernetes' default placement is the same profile without
//! ProximityPlacement), and the latency autoscaler's `brume_fog::slo::plan`. The exhaustive
//! optimum is the yardstick for small instances.

use std::sync::Arc;

use brume_fog::replace::best_move;
use brume_fog::slo::{SloObjective, SloProblem, plan};
use brume_fog::{LatencySummary, PlacementConfig, latency_summary};
use brume_scheduler::framework::{Search, feasible_nodes_to_find, select};
use brume_scheduler::plugins::{ProfileConfig, ProximityPlacement, ServiceDemand, profile};
use brume_scheduler::pod_info::Resources;
use brume_scheduler::{CycleState, NodeInfo, PodInfo};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::estimates::Estimates;
use crate::topology::Topology;

/// The label the simulated Service selects its replicas by.
const APP: (&str, &str) = ("app", "sim");

/// The CPU one replica requests, in millicores, and its memory, in bytes.
const REPLICA_CPU_MILLI: i64 = 250;
const REPLICA_MEMORY: i64 = 256 << 20;

/// What each simulated node offers: 4 cores, 8 GiB, 110 pods, as a small fog box.
const NODE: Resources = Resources {
    cpu_milli: 4000,
    memory: 8 << 30,
    pods: 110,
};

/// The name of node `i` as the scheduler sees it; zero-padded, so the scheduler's tie-break by
/// name is the node order.
pub fn node_name(i: usize) -> String {
    format!("node-{i:05}")
}

/// A cluster as the scheduler sees it: every node ready, with the coordinates the estimates
/// hold and some of its CPU and memory already taken by other workloads (`background[i]` in
/// [0, 1)), so that the resource scores differ as they do in a real cluster.
pub fn cluster(estimates: &Estimates, nodes: usize, background: &[f64]) -> Vec<NodeInfo> {
    (0..nodes)
        .map(|i| {
            let used = background.get(i).copied().unwrap_or(0.0);
            let taken = Resources {
                cpu_milli: (NODE.cpu_milli as f64 * used) as i64,
                memory: (NODE.memory as f64 * used) as i64,
                pods: 0,
            };
            NodeInfo {
                name: node_name(i),
                ready: true,
                allocatable: NODE,
                requested: taken,
                nonzero_requested: taken,
                location: estimates.location(i).cloned().unwrap_or_default(),
                ..NodeInfo::default()
            }
        })
        .collect()
}

/// Background load per node: uniform in [0, 0.6), seeded.
pub fn background_load(nodes: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xb0_ad);
    (0..nodes).map(|_| rng.random_range(0.0..0.6)).collect()
}

/// One replica pod as the scheduler reads it.
pub fn replica_pod(index: usize) -> PodInfo {
    let requests = Resources {
        cpu_milli: REPLICA_CPU_MILLI,
        memory: REPLICA_MEMORY,
        pods: 1,
    };
    PodInfo {
        namespace: "default".into(),
        name: format!("sim-{index}"),
        labels: [(APP.0.to_string(), APP.1.to_string())].into(),
        requests,
        nonzero_requests: requests,
        ..PodInfo::default()
    }
}

/// The scheduler's input for the Service's demand: its selector and the rate per gateway.
pub fn service_demand(demand: &[(usize, f64)]) -> ServiceDemand {
    ServiceDemand {
        selectors: vec![[(APP.0.to_string(), APP.1.to_string())].into()],
        demand: demand.iter().map(|&(g, r)| (node_name(g), r)).collect(),
    }
}

/// Schedules `count` more replicas one after the other, as the live scheduler binds a
/// Deployment's pods: the default profile (with or without ProximityPlacement), the demand
/// seeded into each cycle, a search from a rotating start bounded as kube-scheduler bounds it,
/// each placed pod counted on its node before the next. Returns the chosen node indices.
pub fn schedule(
    nodes: &mut [NodeInfo],
    demand: &[(usize, f64)],
    count: usize,
    proximity: bool,
    first_index: usize,
) -> Vec<usize> {
    let config = ProfileConfig {
        proximity_weight: if proximity {
            ProximityPlacement::DEFAULT_WEIGHT
        } else {
            0
        },
        ..ProfileConfig::default()
    };
    let profile = profile(&config);
    let input = service_demand(demand);
    let mut start = 0;
    let mut chosen = Vec::new();
    for k in 0..count {
        let pod = replica_pod(first_index + k);
        let search = Search {
            start,
            feasible_wanted: feasible_nodes_to_find(nodes.len(), 0),
        };
        let mut state = CycleState::default();
        ProximityPlacement::seed(&mut state, input.clone());
        let Ok(placement) = select(&profile, &pod, nodes, search, state) else {
            break;
        };
        start = placement.next_start;
        nodes[placement.node].add_pod(Arc::new(pod));
        chosen.push(placement.node);
    }
    chosen
}

/// The moves a follow-users Deployment may make before it comes to rest: enough for every
/// replica of the scenarios to move twice.
pub const MAX_SETTLING_MOVES: usize = 20;

/// Where a follow-users Deployment comes to rest from `replicas`: the re-placement controller's
/// best single move (`brume_fog::replace::best_move` with the controller's default threshold,
/// as `follow_users::decide` calls it) carried out, again and again, until it proposes none or
/// [`MAX_SETTLING_MOVES`] were made. Candidates are the nodes without a replica.
pub fn settle(
    topology: &Topology,
    estimates: &Estimates,
    demand: &[(usize, f64)],
    mut replicas: Vec<usize>,
) -> Vec<usize> {
    let threshold = brume_controllers::follow_users::Settings::default().threshold;
    for _ in 0..MAX_SETTLING_MOVES {
        let candidates: Vec<usize> = (0..topology.len())
            .filter(|n| !replicas.contains(n))
            .collect();
        let Some(m) = best_move(
            demand,
            &replicas,
            &candidates,
            |&g, &r| estimates.rtt_ms(topology, g, r),
            &PlacementConfig::default(),
            &threshold,
        ) else {
            break;
        };
        if let Some(slot) = replicas.iter().position(|&r| r == m.from) {
            replicas[slot] = m.to;
        }
    }
    replicas
}

/// The latency autoscaler's plan for this demand: the fewest replicas (within `min..=max`) and
/// their nodes meeting `objective`, by the estimated distances.
pub fn slo_plan(
    topology: &Topology,
    estimates: &Estimates,
    demand: &[(usize, f64)],
    capacity_rps: f64,
    min: usize,
    max: usize,
    objective: SloObjective,
) -> brume_fog::slo::SloPlan<usize> {
    let problem = SloProblem {
        demand: demand.to_vec(),
        candidates: (0..topology.len()).collect(),
        capacity_rps,
        min,
        max,
        objective,
    };
    plan(&problem, |&g, &r| estimates.rtt_ms(topology, g, r))
}

/// The demand-weighted latency of `replicas` by the true RTTs, each gateway served by its
/// nearest replica; `None` without demand.
pub fn true_latency(
    topology: &Topology,
    demand: &[(usize, f64)],
    replicas: &[usize],
) -> Option<LatencySummary> {
    latency_by(demand, replicas, |g, r| Some(topology.rtt_ms(g, r)))
}

/// The same by any distance (e.g. the estimates).
fn latency_by(
    demand: &[(usize, f64)],
    replicas: &[usize],
    distance: impl Fn(usize, usize) -> Option<f64>,
) -> Option<LatencySummary> {
    let refs: Vec<&usize> = replicas.iter().collect();
    latency_summary(
        demand,
        &refs,
        |&g, &r| distance(g, r),
        &PlacementConfig::default(),
    )
}

/// The `k` replicas among `candidates` with the least p90 by the true RTTs (ties: the least
/// mean, then the first in enumeration order), by trying every subset. Only for small
/// instances: C(candidates, k) subsets.
pub fn exhaustive_optimum(
    topology: &Topology,
    demand: &[(usize, f64)],
    candidates: &[usize],
    k: usize,
) -> Option<(Vec<usize>, LatencySummary)> {
    exhaustive_by(demand, candidates, k, |g, r| Some(topology.rtt_ms(g, r)))
}

/// Like [`exhaustive_optimum`], by the estimated RTTs: the best placement the nodes' own
/// knowledge allows, which tells how much of a gap to the optimum is the estimates' error.
/// The summary is by the estimates too.
pub fn exhaustive_by_estimates(
    topology: &Topology,
    estimates: &Estimates,
    demand: &[(usize, f64)],
    candidates: &[usize],
    k: usize,
) -> Option<(Vec<usize>, LatencySummary)> {
    exhaustive_by(demand, candidates, k, |g, r| {
        estimates.rtt_ms(topology, g, r)
    })
}

fn exhaustive_by(
    demand: &[(usize, f64)],
    candidates: &[usize],
    k: usize,
    distance: impl Fn(usize, usize) -> Option<f64>,
) -> Option<(Vec<usize>, LatencySummary)> {
    let k = k.min(candidates.len());
    let mut pick: Vec<usize> = (0..k).collect();
    let mut best: Option<(Vec<usize>, LatencySummary)> = None;
    if k == 0 {
        return None;
    }
    loop {
        let replicas: Vec<usize> = pick.iter().map(|&i| candidates[i]).collect();
        if let Some(s) = latency_by(demand, &replicas, &distance) {
            let better = best.as_ref().is_none_or(|(_, b)| {
                s.tail_ms < b.tail_ms || (s.tail_ms == b.tail_ms && s.mean_ms < b.mean_ms)
            });
            if better {
                best = Some((replicas, s));
            }
        }
        // The next k-subset in lexicographic order.
        let Some(i) = (0..k).rev().find(|&i| pick[i] < candidates.len() - k + i) else {
            break;
        };
        pick[i] += 1;
        for j in i + 1..k {
            pick[j] = pick[j - 1] + 1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimates::Distances;
    use brume_fog::RttMatrix;

    fn line() -> Topology {
        Topology::from_matrix(
            "line",
            RttMatrix::from_fn(6, |i, j| 10.0 * (i as f64 - j as f64).abs()),
        )
    }

    #[test]
    fn the_optimum_tries_every_subset() {
        let t = line();
        let demand = vec![(0, 10.0), (5, 10.0)];
        let (best, s) = exhaustive_optimum(&t, &demand, &[1, 2, 3, 4, 5, 0], 2).unwrap();
        let mut best = best;
        best.sort();
        assert_eq!(best, vec![0, 5]);
        assert_eq!(s.tail_ms, 0.0);
        assert_eq!(
            exhaustive_optimum(&t, &demand, &[2, 3], 1)
                .unwrap()
                .1
                .tail_ms,
            30.0
        );
    }

    #[test]
    fn the_scheduler_puts_replicas_at_the_demand_and_kubernetes_does_not_look() {
        let t = line();
        let e = Estimates::compute(&t, Distances::Measured, 1).unwrap();
        let demand = vec![(5, 100.0)];
        // Measured distances carry no coordinates: the scheduler only knows a node's distance
        // to itself, which is enough for the gateway to win.
        let mut nodes = cluster(&e, t.len(), &[0.5, 0.0, 0.5, 0.5, 0.5, 0.5]);
        assert_eq!(schedule(&mut nodes, &demand, 1, true, 0), vec![5]);
        let mut nodes = cluster(&e, t.len(), &[0.5, 0.0, 0.5, 0.5, 0.5, 0.5]);
        assert_eq!(schedule(&mut nodes, &demand, 1, false, 0), vec![1]);
    }
}
