//! Latency-SLO sizing (DESIGN §8, "Latency-SLO autoscaling", in the spirit of Voilà, Fahs,
//! Pierre & Elmroth, MASCOTS 2020): the smallest set of replicas whose placement serves a given
//! share of the demand under a latency bound, e.g. "90 % of requests under 30 ms".
//!
//! Model. Demand is a rate per gateway; a replica serves at most `capacity_rps`. Demand is
//! assigned to replicas nearest-first under capacity: the (gateway, replica) pairs are taken in
//! increasing RTT and each moves as much demand as both sides have left. A request meets the
//! objective when the RTT of the replica serving it is within the bound; demand that no replica
//! can take (over capacity, or no known distance) misses it. Unknown distances are never 0.
//!
//! Heuristic. Greedy: start from no replica and add, one at a time, the candidate node that
//! raises the attainment most (ties: the lower mean latency, then the candidate order), until
//! the objective is met with at least `min` replicas and enough capacity for all the demand, or
//! `max` is reached. One replica per node. Each step evaluates every candidate with one
//! assignment, O(G·R·log(G·R)), so a plan costs O(max · N · G·R·log(G·R)) for N candidates and G
//! gateways. Greedy is near-optimal when the demand's clusters are far apart compared with the
//! bound (each replica then covers one cluster); it can overshoot by a replica when one
//! well-placed replica would cover two clusters that greedy first covers separately — the tests
//! compare it with the exhaustive optimum on small instances.

use std::cmp::Ordering;

/// A latency objective: `quantile` of the requests within `latency_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SloObjective {
    /// The share of requests that must meet the bound, in (0, 1].
    pub quantile: f64,
    /// The bound, in milliseconds.
    pub latency_ms: f64,
}

/// What is being sized.
#[derive(Debug, Clone)]
pub struct SloProblem<N> {
    /// (gateway node, requests per second) pairs; non-positive or non-finite rates are ignored.
    pub demand: Vec<(N, f64)>,
    /// The nodes a replica may go to, in order of preference for ties.
    pub candidates: Vec<N>,
    /// Requests per second one replica serves.
    pub capacity_rps: f64,
    /// The fewest replicas.
    pub min: usize,
    /// The most replicas.
    pub max: usize,
    /// The objective.
    pub objective: SloObjective,
}

/// How well a set of replicas serves the demand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attainment {
    /// The share of the demand served within the bound, in [0, 1]; 1 when there is no demand.
    pub share: f64,
    /// The demand-weighted mean RTT of the served demand, in ms (0 when nothing is served).
    pub mean_ms: f64,
}

/// The plan: which nodes get a replica, and what they are predicted to attain.
#[derive(Debug, Clone, PartialEq)]
pub struct SloPlan<N> {
    /// The replica nodes, in the order they were chosen.
    pub replicas: Vec<N>,
    /// The predicted attainment.
    pub attainment: Attainment,
    /// Whether the objective is met (false when `max` replicas are not enough: `SLOUnmet`).
    pub meets: bool,
}

fn usable(rate: f64) -> bool {
    rate.is_finite() && rate > 0.0
}

/// The attainment of `replicas` for `demand` (see the module's model).
pub fn attainment<N>(
    demand: &[(N, f64)],
    replicas: &[&N],
    capacity_rps: f64,
    objective: &SloObjective,
    distance_ms: &impl Fn(&N, &N) -> Option<f64>,
) -> Attainment {
    let mut left: Vec<f64> = demand
        .iter()
        .map(|(_, r)| if usable(*r) { *r } else { 0.0 })
        .collect();
    let total: f64 = left.iter().sum();
    if total <= 0.0 {
        return Attainment {
            share: 1.0,
            mean_ms: 0.0,
        };
    }
    let mut room = vec![capacity_rps.max(0.0); replicas.len()];
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (g, (gateway, _)) in demand.iter().enumerate() {
        if left[g] <= 0.0 {
            continue;
        }
        for (r, replica) in replicas.iter().enumerate() {
            if let Some(d) = distance_ms(gateway, replica).filter(|d| d.is_finite() && *d >= 0.0) {
                pairs.push((d, g, r));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let (mut within, mut served, mut weighted) = (0.0, 0.0, 0.0);
    for (d, g, r) in pairs {
        let moved = left[g].min(room[r]);
        if moved <= 0.0 {
            continue;
        }
        left[g] -= moved;
        room[r] -= moved;
        served += moved;
        weighted += moved * d;
        if d <= objective.latency_ms {
            within += moved;
        }
    }
    Attainment {
        share: within / total,
        mean_ms: if served > 0.0 { weighted / served } else { 0.0 },
    }
}

fn better(a: &Attainment, b: &Attainment) -> bool {
    match a.share.total_cmp(&b.share) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => a.mean_ms < b.mean_ms,
    }
}

/// The smallest greedy plan meeting the objective within `max` replicas, or the best `max`
/// replicas when it cannot be met.
pub fn plan<N: Clone>(
    problem: &SloProblem<N>,
    distance_ms: impl Fn(&N, &N) -> Option<f64>,
) -> SloPlan<N> {
    let p = problem;
    let total: f64 = p
        .demand
        .iter()
        .map(|(_, r)| *r)
        .filter(|r| usable(*r))
        .sum();
    let for_capacity = if p.capacity_rps > 0.0 {
        (total / p.capacity_rps).ceil() as usize
    } else {
        usize::MAX
    };
    let max = p.max.min(p.candidates.len());
    let floor = p.min.max(for_capacity).min(max);
    let mut chosen: Vec<usize> = Vec::new();
    let evaluate = |chosen: &[usize]| {
        let replicas: Vec<&N> = chosen.iter().map(|&i| &p.candidates[i]).collect();
        attainment(
            &p.demand,
            &replicas,
            p.capacity_rps,
            &p.objective,
            &distance_ms,
        )
    };
    let mut current = evaluate(&chosen);
    while chosen.len() < max && (chosen.len() < floor || current.share < p.objective.quantile) {
        let mut best: Option<(usize, Attainment)> = None;
        for i in (0..p.candidates.len()).filter(|i| !chosen.contains(i)) {
            let mut trial = chosen.clone();
            trial.push(i);
            let a = evaluate(&trial);
            if best.as_ref().is_none_or(|(_, b)| better(&a, b)) {
                best = Some((i, a));
            }
        }
        let Some((i, a)) = best else { break };
        chosen.push(i);
        current = a;
    }
    SloPlan {
        replicas: chosen.iter().map(|&i| p.candidates[i].clone()).collect(),
        meets: current.share >= p.objective.quantile && chosen.len() >= p.min.min(max),
        attainment: current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes on a line at these positions (ms); RTT = |x_a − x_b| + 2.
    const LINE: [f64; 8] = [0.0, 5.0, 12.0, 40.0, 46.0, 90.0, 97.0, 140.0];

    fn rtt(a: &usize, b: &usize) -> Option<f64> {
        Some(if a == b {
            0.0
        } else {
            (LINE[*a] - LINE[*b]).abs() + 2.0
        })
    }

    fn problem(demand: Vec<(usize, f64)>, capacity: f64, bound: f64) -> SloProblem<usize> {
        SloProblem {
            demand,
            candidates: (0..LINE.len()).collect(),
            capacity_rps: capacity,
            min: 1,
            max: LINE.len(),
            objective: SloObjective {
                quantile: 0.9,
                latency_ms: bound,
            },
        }
    }

    /// The fewest replicas meeting the objective, by trying every subset.
    fn optimum(p: &SloProblem<usize>) -> Option<usize> {
        let n = p.candidates.len();
        (1..=p.max.min(n)).find(|&k| {
            (0u32..1 << n)
                .filter(|m| m.count_ones() as usize == k)
                .any(|mask| {
                    let replicas: Vec<&usize> = p
                        .candidates
                        .iter()
                        .filter(|&&c| mask & (1 << c) != 0)
                        .collect();
                    attainment(&p.demand, &replicas, p.capacity_rps, &p.objective, &rtt).share
                        >= p.objective.quantile
                })
        })
    }

    #[test]
    fn the_assignment_is_nearest_first_under_capacity() {
        let demand = vec![(0, 10.0), (7, 10.0)];
        let obj = SloObjective {
            quantile: 0.9,
            latency_ms: 10.0,
        };
        // One replica at 0 with room for everything: node 7's demand is 142 ms away.
        let a = attainment(&demand, &[&0], 100.0, &obj, &rtt);
        assert_eq!(a.share, 0.5);
        assert_eq!(a.mean_ms, 71.0);
        // With room for 15 only, a quarter of the demand is not served at all.
        let a = attainment(&demand, &[&0], 15.0, &obj, &rtt);
        assert_eq!(a.share, 0.5);
        assert!((a.mean_ms - 5.0 * 142.0 / 15.0).abs() < 1e-9, "{a:?}");
        // No demand: nothing to miss.
        assert_eq!(
            attainment(&[] as &[(usize, f64)], &[&0], 1.0, &obj, &rtt).share,
            1.0
        );
        // Unknown distances are misses, never zero.
        let unknown = |_: &usize, _: &usize| None;
        assert_eq!(attainment(&demand, &[&0], 100.0, &obj, &unknown).share, 0.0);
    }

    #[test]
    fn greedy_is_within_one_replica_of_the_exhaustive_optimum() {
        let cases = [
            (vec![(0, 10.0), (7, 10.0)], 100.0, 10.0),
            (
                vec![(0, 5.0), (1, 5.0), (3, 5.0), (4, 5.0), (6, 5.0)],
                100.0,
                10.0,
            ),
            (vec![(0, 30.0), (2, 30.0), (5, 30.0)], 25.0, 15.0),
            (vec![(1, 1.0), (3, 1.0), (5, 1.0), (7, 1.0)], 10.0, 60.0),
            (vec![(0, 50.0), (4, 5.0), (7, 5.0)], 30.0, 8.0),
        ];
        for (demand, capacity, bound) in cases {
            let p = problem(demand.clone(), capacity, bound);
            let greedy = plan(&p, rtt);
            let best = optimum(&p);
            match best {
                Some(k) => {
                    assert!(greedy.meets, "{demand:?}: {greedy:?}");
                    assert!(
                        greedy.replicas.len() <= k + 1,
                        "{demand:?}: greedy {greedy:?}, optimum {k}"
                    );
                }
                None => assert!(!greedy.meets, "{demand:?}: {greedy:?}"),
            }
        }
    }

    #[test]
    fn an_unreachable_objective_uses_max_and_says_so() {
        let mut p = problem(vec![(0, 10.0), (3, 10.0), (7, 10.0)], 100.0, 5.0);
        p.max = 2;
        let plan = plan(&p, rtt);
        assert_eq!(plan.replicas.len(), 2);
        assert!(!plan.meets);
        assert!(
            (plan.attainment.share - 2.0 / 3.0).abs() < 1e-12,
            "{plan:?}"
        );
    }

    #[test]
    fn capacity_and_min_set_a_floor() {
        // Everything at one gateway, 95 req/s, 20 per replica: 5 replicas, the nearest first.
        let p = problem(vec![(0, 95.0)], 20.0, 50.0);
        let plan = plan(&p, rtt);
        assert_eq!(plan.replicas, vec![0, 1, 2, 3, 4]);
        assert!(plan.meets);
        // No demand: `min` replicas.
        let mut idle = problem(vec![], 20.0, 50.0);
        idle.min = 2;
        assert_eq!(super::plan(&idle, rtt).replicas.len(), 2);
    }
}
