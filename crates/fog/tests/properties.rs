//! Property tests of the fog decisions (issue 5): on random small topologies,
//! - more demand never lowers the replica count [`slo::plan`] computes, when it grows by the
//!   same factor everywhere. Growth at one gateway can: with a percentile objective, demand added
//!   where users are already served in time raises the share served in time, and the exhaustive
//!   optimum drops too ([`the_optimum_itself_can_drop_when_served_demand_grows`]);
//! - every move [`replace::best_move`] proposes cuts the tail by more than the hysteresis, and
//!   once made, the same demand never proposes moving straight back.

use brume_fog::PlacementConfig;
use brume_fog::replace::{MoveThreshold, best_move};
use brume_fog::slo::{SloObjective, SloProblem, plan};
use proptest::prelude::*;

/// Nodes at 2-D positions (ms); RTT = euclidean distance + 1 ms per end of access delay.
fn rtt(positions: &[(f64, f64)]) -> impl Fn(&usize, &usize) -> Option<f64> + Sync + '_ {
    move |a: &usize, b: &usize| {
        if a == b {
            return Some(0.0);
        }
        let (pa, pb) = (positions[*a], positions[*b]);
        Some(((pa.0 - pb.0).powi(2) + (pa.1 - pb.1).powi(2)).sqrt() + 2.0)
    }
}

fn positions() -> impl Strategy<Value = Vec<(f64, f64)>> {
    prop::collection::vec((0.0..100.0f64, 0.0..100.0f64), 3..9)
}

fn problem(
    n: usize,
    demand: Vec<(usize, f64)>,
    capacity: f64,
    bound: f64,
    max: usize,
) -> SloProblem<usize> {
    SloProblem {
        demand,
        candidates: (0..n).collect(),
        capacity_rps: capacity,
        min: 1,
        max,
        objective: SloObjective {
            quantile: 0.9,
            latency_ms: bound,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn more_demand_never_lowers_the_replica_count(
        pos in positions(),
        rates in prop::collection::vec(0.0..50.0f64, 9),
        scale in 1.0..4.0f64,
        capacity in 5.0..80.0f64,
        bound in 5.0..60.0f64,
    ) {
        let n = pos.len();
        let demand: Vec<(usize, f64)> = (0..n).map(|g| (g, rates[g])).collect();
        let base = plan(&problem(n, demand.clone(), capacity, bound, n), rtt(&pos));
        // Every gateway's demand grows by the same factor.
        let scaled: Vec<(usize, f64)> = demand.iter().map(|&(g, r)| (g, r * scale)).collect();
        let grown = plan(&problem(n, scaled, capacity, bound, n), rtt(&pos));
        prop_assert!(grown.replicas.len() >= base.replicas.len(), "x{scale}: {base:?} -> {grown:?}");
    }

    #[test]
    fn moves_clear_the_hysteresis_and_never_go_straight_back(
        pos in positions(),
        rates in prop::collection::vec(0.0..50.0f64, 9),
        replica_count in 1usize..3,
    ) {
        let n = pos.len();
        let demand: Vec<(usize, f64)> = (0..n).map(|g| (g, rates[g])).collect();
        let replicas: Vec<usize> = (0..replica_count.min(n)).collect();
        let candidates: Vec<usize> = (0..n).collect();
        let threshold = MoveThreshold::default();
        let config = PlacementConfig::default();
        if let Some(m) = best_move(&demand, &replicas, &candidates, rtt(&pos), &config, &threshold) {
            prop_assert!(m.tail_cut_ms() > threshold.min_cut_ms, "{m:?}");
            prop_assert!(m.tail_cut_ms() > threshold.min_cut_ratio * m.before.tail_ms, "{m:?}");
            let moved: Vec<usize> = replicas.iter().map(|&r| if r == m.from { m.to } else { r }).collect();
            if let Some(back) = best_move(&demand, &moved, &candidates, rtt(&pos), &config, &threshold) {
                prop_assert!(!(back.from == m.to && back.to == m.from), "flapped: {m:?} then {back:?}");
                prop_assert!(back.after.tail_ms < m.after.tail_ms, "a second move must improve further");
            }
        }
    }
}

/// The fewest replicas meeting `quantile` within `bound`, by trying every subset.
fn optimum(pos: &[(f64, f64)], demand: &[(usize, f64)], capacity: f64, bound: f64) -> usize {
    let n = pos.len();
    let rtt = rtt(pos);
    (1..=n)
        .find(|&k| {
            (0u32..1 << n)
                .filter(|m| m.count_ones() as usize == k)
                .any(|mask| {
                    let replicas: Vec<usize> = (0..n).filter(|c| mask & (1 << c) != 0).collect();
                    let refs: Vec<&usize> = replicas.iter().collect();
                    let objective = SloObjective {
                        quantile: 0.9,
                        latency_ms: bound,
                    };
                    brume_fog::slo::attainment(demand, &refs, capacity, &objective, &rtt).share
                        >= 0.9
                })
        })
        .unwrap_or(n)
}

#[test]
fn the_optimum_itself_can_drop_when_served_demand_grows() {
    // Two gateways 100 ms apart with 10 req/s each: one replica serves half in 10 ms, so "90 %"
    // needs two. 100 req/s more at the first makes one replica there serve 110 of 120: enough.
    let pos = [(0.0, 0.0), (100.0, 0.0)];
    let before = [(0, 10.0), (1, 10.0)];
    let after = [(0, 110.0), (1, 10.0)];
    assert_eq!(optimum(&pos, &before, 1000.0, 10.0), 2);
    assert_eq!(optimum(&pos, &after, 1000.0, 10.0), 1);
    let p = |d: &[(usize, f64)]| {
        plan(&problem(2, d.to_vec(), 1000.0, 10.0, 2), rtt(&pos))
            .replicas
            .len()
    };
    assert_eq!(
        (p(&before), p(&after)),
        (2, 1),
        "the plan follows the optimum"
    );
}
