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
//! Heuristic: greedy coverage. Only (gateway, replica) pairs within the bound can serve a
//! request in time, and the nearest-first assignment uses all of them before any pair beyond
//! it, so each candidate's *cover* — the gateways within the bound of it, nearest first — is
//! computed once (O(G·N) distances for G gateways and N candidates, split over the cores when
//! large). Then, from no replica, add the candidate whose capacity poured into its cover serves
//! the most still-unserved demand (ties: the lower mean RTT, then the candidate order), until
//! the nearest-first assignment meets the objective with at least `min` replicas and enough
//! capacity for all the demand, or `max` is reached. One replica per node. Gains only fall as
//! demand is served, so the candidates sit in a max-heap of stale gains and only the top is
//! re-evaluated (lazy greedy, as for submodular coverage): a step costs about one cover walk
//! instead of N. A plan costs O(G·N + R·(C + log N) + R·C·log(R·C)) for R replicas and covers
//! of C gateways (`benches`: `brume bench slo`).
//!
//! Where it stops being near-optimal: greedy is near-optimal when the demand's clusters are far
//! apart compared with the bound (each replica then covers one cluster); it can overshoot by a
//! replica when one well-placed replica would cover two clusters that greedy first covers
//! separately, and a candidate that reaches no unserved demand in time (gain 0) is taken in
//! candidate order. The tests compare it with the exhaustive optimum on small instances.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

/// The smallest greedy plan meeting the objective within `max` replicas, or the best `max`
/// replicas when it cannot be met. See the module's documentation for the heuristic.
pub fn plan<N: Clone + Sync>(
    problem: &SloProblem<N>,
    distance_ms: impl Fn(&N, &N) -> Option<f64> + Sync,
) -> SloPlan<N> {
    let p = problem;
    let rates: Vec<f64> = p
        .demand
        .iter()
        .map(|(_, r)| if usable(*r) { *r } else { 0.0 })
        .collect();
    let total: f64 = rates.iter().sum();
    let for_capacity = if p.capacity_rps > 0.0 {
        (total / p.capacity_rps).ceil() as usize
    } else {
        usize::MAX
    };
    let max = p.max.min(p.candidates.len());
    let covers = covers(p, &rates, &distance_ms);
    let greedy = Greedy {
        covers: &covers,
        capacity: p.capacity_rps,
        quantile: p.objective.quantile,
        max,
    };
    // The count: what the demand's shape needs at every sizing point up to the one at or above
    // its total, and what its capacity needs. Each term only grows with the demand, so the count
    // does too; the greedy alone would not (its path depends on the demand).
    let points = sizing_points(total, p.capacity_rps);
    // Each gateway's share of the total, rounded to 1e-12 so that the same shape scaled by any
    // factor rounds to the same shares (and the greedy breaks its ties the same way).
    let shares: Vec<f64> = rates
        .iter()
        .map(|r| (r / total * 1e12).round() / 1e12)
        .collect();
    let shape = |t: f64| -> Vec<f64> { shares.iter().map(|s| s * t).collect() };
    // Below the total at which some candidate's cover could fill a replica, capacity never
    // binds: every gain scales with the total and the greedy takes the same path, so of the
    // points below it only the largest is run. The cut depends on the shape alone, so more
    // demand of the same shape still sizes at a superset of points.
    let widest = covers
        .iter()
        .map(|cover| cover.iter().map(|&(_, g)| shares[g]).sum::<f64>())
        .fold(0.0, f64::max);
    let binding_from = if widest > 0.0 {
        p.capacity_rps / widest
    } else {
        f64::INFINITY
    };
    let below = points.iter().rposition(|&t| t < binding_from);
    let points: Vec<f64> = match below {
        Some(i) => points[i..].to_vec(),
        None => points,
    };
    // The sizing points are independent: split them over the cores.
    let most = |points: &[f64]| {
        points
            .iter()
            .map(|&t| greedy.run(&shape(t), t, p.min.min(max), true).len())
            .max()
            .unwrap_or(0)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let needed = if points.len() < 4 || threads < 2 || rates.len() * p.candidates.len() < 200_000 {
        most(&points)
    } else {
        // Interleaved, so each thread gets small and large totals alike.
        let parts: Vec<Vec<f64>> = (0..threads)
            .map(|k| points.iter().skip(k).step_by(threads).copied().collect())
            .collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .map(|part| scope.spawn(|| most(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
    };
    let count = p.min.max(for_capacity).max(needed).min(max);
    // The placement: the greedy at the top sizing point, carried to the count.
    let chosen = match points.last() {
        Some(&top) => greedy.run(&shape(top), top, count, false),
        None => greedy.run(&rates, total, count, false),
    };
    let current = attainment_of(p, &covers, &chosen, &rates, total, &distance_ms);
    SloPlan {
        replicas: chosen.iter().map(|&i| p.candidates[i].clone()).collect(),
        meets: current.share >= p.objective.quantile && chosen.len() >= p.min.min(max),
        attainment: current,
    }
}

/// The step between two sizing points: demand is sized at totals `capacity × STEP^j`, so the
/// plan holds up to 19 % more demand than measured (2^(1/4)).
pub const SIZING_STEP: f64 = 1.189_207_115_002_721;

/// The totals a demand's shape is sized at: `capacity × SIZING_STEP^j` from half the
/// capacity up to the first at or above `total` (just `total` without a capacity). The points
/// are fixed, not relative to the demand, so more demand of the same shape sizes at a superset.
fn sizing_points(total: f64, capacity: f64) -> Vec<f64> {
    if total <= 0.0 || !total.is_finite() {
        return Vec::new();
    }
    if capacity <= 0.0 || !capacity.is_finite() {
        return vec![total];
    }
    let mut points = Vec::new();
    let mut t = capacity / 2.0;
    while t < total {
        points.push(t);
        t *= SIZING_STEP;
    }
    points.push(t);
    points
}

/// The lazy coverage greedy over fixed covers.
struct Greedy<'a> {
    covers: &'a [Vec<(f64, usize)>],
    capacity: f64,
    quantile: f64,
    max: usize,
}

impl Greedy<'_> {
    /// Candidates picked for `rates` (summing to `total`): at least `floor`, then — with
    /// `until_met` — until the nearest-first assignment meets the objective, or `max`.
    fn run(&self, rates: &[f64], total: f64, floor: usize, until_met: bool) -> Vec<usize> {
        let covers = self.covers;
        let mut left = rates.to_vec();
        let mut estimated = 0.0;
        let mut chosen: Vec<usize> = Vec::new();
        let mut taken = vec![false; covers.len()];
        // A candidate's gain only falls as demand is served, so a stale gain is an upper bound;
        // the best is re-evaluated until it stays best.
        // The heap starts from upper bounds (all the cover's demand up to the capacity, at the
        // best possible mean), which the lazy evaluation corrects as candidates reach the top.
        let mut heap: BinaryHeap<Gain> = covers
            .iter()
            .enumerate()
            .map(|(c, cover)| Gain {
                candidate: c,
                served: cover
                    .iter()
                    .map(|&(_, g)| rates[g])
                    .sum::<f64>()
                    .min(self.capacity.max(0.0)),
                mean_ms: 0.0,
            })
            .collect();
        while chosen.len() < self.max {
            if chosen.len() >= floor {
                if !until_met {
                    break;
                }
                // The greedy's own assignment is only an estimate: the nearest-first one
                // decides.
                if (total <= 0.0 || estimated / total >= self.quantile)
                    && share_within(covers, &chosen, rates, self.capacity, total) >= self.quantile
                {
                    break;
                }
            }
            let Some(best) = next_best(&mut heap, covers, &left, &taken, self.capacity) else {
                break;
            };
            taken[best] = true;
            chosen.push(best);
            estimated += serve(&covers[best], &mut left, self.capacity);
        }
        chosen
    }
}

/// [`attainment`] of `chosen`, the same figures computed from the covers: the pairs within the
/// bound (from the covers, already sorted) are assigned first, as in the nearest-first order,
/// and only the demand left after them is paired with the replicas beyond the bound.
fn attainment_of<N>(
    p: &SloProblem<N>,
    covers: &[Vec<(f64, usize)>],
    chosen: &[usize],
    rates: &[f64],
    total: f64,
    distance_ms: &impl Fn(&N, &N) -> Option<f64>,
) -> Attainment {
    if total <= 0.0 {
        return Attainment {
            share: 1.0,
            mean_ms: 0.0,
        };
    }
    let mut a = assign_within(covers, chosen, rates, p.capacity_rps);
    let mut far: Vec<(f64, usize, usize)> = Vec::new();
    for (g, (gateway, _)) in p.demand.iter().enumerate() {
        if a.left[g] <= 0.0 {
            continue;
        }
        for (r, &c) in chosen.iter().enumerate() {
            if let Some(d) = distance_ms(gateway, &p.candidates[c])
                .filter(|d| d.is_finite() && *d > p.objective.latency_ms)
            {
                far.push((d, g, r));
            }
        }
    }
    far.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let mut served = a.within;
    for (d, g, r) in far {
        let moved = a.left[g].min(a.room[r]);
        if moved > 0.0 {
            a.left[g] -= moved;
            a.room[r] -= moved;
            served += moved;
            a.weighted += moved * d;
        }
    }
    Attainment {
        share: a.within / total,
        mean_ms: if served > 0.0 {
            a.weighted / served
        } else {
            0.0
        },
    }
}

/// The exact share within the bound of the nearest-first assignment to `chosen`.
fn share_within(
    covers: &[Vec<(f64, usize)>],
    chosen: &[usize],
    rates: &[f64],
    capacity: f64,
    total: f64,
) -> f64 {
    if total <= 0.0 {
        return 1.0;
    }
    assign_within(covers, chosen, rates, capacity).within / total
}

/// The nearest-first assignment to `chosen`, of the pairs within the bound only (the covers):
/// they all come before any pair beyond it, so this is the assignment's beginning.
struct WithinBound {
    /// Demand still unserved, per gateway.
    left: Vec<f64>,
    /// Capacity still free, per chosen replica.
    room: Vec<f64>,
    /// Demand served within the bound.
    within: f64,
    /// Σ served × RTT so far.
    weighted: f64,
}

fn assign_within(
    covers: &[Vec<(f64, usize)>],
    chosen: &[usize],
    rates: &[f64],
    capacity: f64,
) -> WithinBound {
    // The covers are sorted already: merge them (a heap of one head per replica) rather than
    // sort all their pairs, which at 10,000 gateways means megabytes allocated per check.
    let mut heads: BinaryHeap<std::cmp::Reverse<Pair>> = chosen
        .iter()
        .enumerate()
        .filter_map(|(r, &c)| {
            covers[c]
                .first()
                .map(|&(d, g)| std::cmp::Reverse(Pair { d, g, r, i: 0 }))
        })
        .collect();
    let mut out = WithinBound {
        left: rates.to_vec(),
        room: vec![capacity.max(0.0); chosen.len()],
        within: 0.0,
        weighted: 0.0,
    };
    while let Some(std::cmp::Reverse(Pair { d, g, r, i })) = heads.pop() {
        let moved = out.left[g].min(out.room[r]);
        out.left[g] -= moved;
        out.room[r] -= moved;
        out.within += moved;
        out.weighted += moved * d;
        if out.room[r] > 0.0
            && let Some(&(d, g)) = covers[chosen[r]].get(i + 1)
        {
            heads.push(std::cmp::Reverse(Pair { d, g, r, i: i + 1 }));
        }
    }
    out
}

/// One (gateway, replica) pair of a cover in the merge: ordered by RTT, then gateway, then
/// replica, as the nearest-first assignment takes them.
#[derive(Debug, Clone, Copy)]
struct Pair {
    d: f64,
    g: usize,
    r: usize,
    /// Its index in the replica's cover.
    i: usize,
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pair {}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.d
            .total_cmp(&other.d)
            .then(self.g.cmp(&other.g))
            .then(self.r.cmp(&other.r))
    }
}

/// For each candidate, the gateways within the bound of it, nearest first: (RTT, gateway).
/// Only these pairs can serve demand within the bound, and in the nearest-first assignment
/// they are all used before any pair beyond it. This is the O(G·N) part; it is split over the
/// machine's cores when large.
fn covers<N: Sync>(
    p: &SloProblem<N>,
    rates: &[f64],
    distance_ms: &(impl Fn(&N, &N) -> Option<f64> + Sync),
) -> Vec<Vec<(f64, usize)>> {
    let bound = p.objective.latency_ms;
    let one = |c: &N| {
        let mut cover: Vec<(f64, usize)> = p
            .demand
            .iter()
            .enumerate()
            .filter(|(g, _)| rates[*g] > 0.0)
            .filter_map(|(g, (gateway, _))| {
                distance_ms(gateway, c)
                    .filter(|d| d.is_finite() && *d >= 0.0 && *d <= bound)
                    .map(|d| (d, g))
            })
            .collect();
        cover.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        cover
    };
    let work = p.demand.len().saturating_mul(p.candidates.len());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if work < 200_000 || threads < 2 {
        return p.candidates.iter().map(one).collect();
    }
    let chunk = p.candidates.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = p
            .candidates
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// What one more replica on a candidate would serve within the bound.
#[derive(Debug, Clone, Copy)]
struct Gain {
    candidate: usize,
    /// Demand newly served within the bound (requests per second).
    served: f64,
    /// Its mean RTT, for ties.
    mean_ms: f64,
}

impl PartialEq for Gain {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Gain {}

impl PartialOrd for Gain {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Gain {
    /// More served first, then the lower mean RTT, then the earlier candidate.
    fn cmp(&self, other: &Self) -> Ordering {
        self.served
            .total_cmp(&other.served)
            .then(other.mean_ms.total_cmp(&self.mean_ms))
            .then(other.candidate.cmp(&self.candidate))
    }
}

/// The gain of `candidate` given the demand `left` unserved: its capacity poured into its
/// cover, nearest first.
fn gain(candidate: usize, cover: &[(f64, usize)], left: &[f64], capacity: f64) -> Gain {
    let (mut room, mut served, mut weighted) = (capacity.max(0.0), 0.0, 0.0);
    for &(d, g) in cover {
        if room <= 0.0 {
            break;
        }
        let moved = left[g].min(room);
        room -= moved;
        served += moved;
        weighted += moved * d;
    }
    Gain {
        candidate,
        served,
        mean_ms: if served > 0.0 {
            weighted / served
        } else {
            f64::INFINITY
        },
    }
}

/// Serves `left` from a new replica with this cover; returns what it served.
fn serve(cover: &[(f64, usize)], left: &mut [f64], capacity: f64) -> f64 {
    let (mut room, mut served) = (capacity.max(0.0), 0.0);
    for &(_, g) in cover {
        if room <= 0.0 {
            break;
        }
        let moved = left[g].min(room);
        left[g] -= moved;
        room -= moved;
        served += moved;
    }
    served
}

/// Pops the candidate with the best up-to-date gain.
fn next_best(
    heap: &mut BinaryHeap<Gain>,
    covers: &[Vec<(f64, usize)>],
    left: &[f64],
    taken: &[bool],
    capacity: f64,
) -> Option<usize> {
    while let Some(top) = heap.pop() {
        if taken[top.candidate] {
            continue;
        }
        let fresh = gain(top.candidate, &covers[top.candidate], left, capacity);
        match heap.peek() {
            Some(next) if fresh < *next => heap.push(fresh),
            _ => return Some(fresh.candidate),
        }
    }
    None
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
            let replicas: Vec<&usize> = greedy.replicas.iter().collect();
            let direct = attainment(&p.demand, &replicas, p.capacity_rps, &p.objective, &rtt);
            assert!(
                (greedy.attainment.share - direct.share).abs() < 1e-9
                    && (greedy.attainment.mean_ms - direct.mean_ms).abs() < 1e-9,
                "the covers give the same attainment: {greedy:?} vs {direct:?}"
            );
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
