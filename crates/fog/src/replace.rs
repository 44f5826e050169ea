//! Following the users (DESIGN §8): the best single move of one replica for an existing
//! placement, and whether it is worth making.
//!
//! A move takes one replica off its node and puts it on a node without one. Its value is the
//! cut of the demand-weighted tail latency (each gateway served by its nearest replica,
//! [`crate::latency_summary`]), the mean breaking ties. Hysteresis: a move is proposed only when
//! it cuts the tail by more than `min_cut_ms` *and* by more than `min_cut_ratio` of it, so noise
//! in the demand or in the coordinates does not make replicas flap between two nodes of nearly
//! equal worth. Cost: O(R · N) evaluations of O(G · R) each, for R replicas, N candidates and G
//! gateways; beyond [`SHORTLIST`] candidates, N is a shortlist near the worst-served demand.

use crate::placement::{LatencySummary, PlacementConfig, latency_summary};

/// The hysteresis of re-placement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoveThreshold {
    /// The least tail cut worth a move, in milliseconds.
    pub min_cut_ms: f64,
    /// The least tail cut worth a move, as a share of the current tail.
    pub min_cut_ratio: f64,
}

impl Default for MoveThreshold {
    /// 5 ms and 20 %: below either, a move costs a pod start for a gain users would not notice.
    fn default() -> Self {
        Self {
            min_cut_ms: 5.0,
            min_cut_ratio: 0.2,
        }
    }
}

/// A proposed move and what it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Move<N> {
    /// The node the replica leaves.
    pub from: N,
    /// The node it goes to.
    pub to: N,
    /// The latency with the current placement.
    pub before: LatencySummary,
    /// The latency after the move.
    pub after: LatencySummary,
}

impl<N> Move<N> {
    /// How much the move cuts the tail latency, in milliseconds.
    pub fn tail_cut_ms(&self) -> f64 {
        self.before.tail_ms - self.after.tail_ms
    }
}

/// The move that cuts the tail most, if it clears the threshold; `None` when there is no
/// demand, no replica, or no move worth making.
pub fn best_move<N: Clone + PartialEq>(
    demand: &[(N, f64)],
    replicas: &[N],
    candidates: &[N],
    distance_ms: impl Fn(&N, &N) -> Option<f64>,
    config: &PlacementConfig,
    threshold: &MoveThreshold,
) -> Option<Move<N>> {
    let current: Vec<&N> = replicas.iter().collect();
    let before = latency_summary(demand, &current, &distance_ms, config)?;
    let shortlist = shortlist(demand, replicas, candidates, &distance_ms, config);
    let mut best: Option<(usize, &N, LatencySummary)> = None;
    for (slot, _) in replicas.iter().enumerate() {
        for to in shortlist.iter().copied().filter(|c| !replicas.contains(c)) {
            let mut moved = current.clone();
            moved[slot] = to;
            let Some(after) = latency_summary(demand, &moved, &distance_ms, config) else {
                continue;
            };
            let improves = match &best {
                None => true,
                Some((_, _, b)) => {
                    after.tail_ms < b.tail_ms
                        || (after.tail_ms == b.tail_ms && after.mean_ms < b.mean_ms)
                }
            };
            if improves {
                best = Some((slot, to, after));
            }
        }
    }
    let (slot, to, after) = best?;
    let cut = before.tail_ms - after.tail_ms;
    let worth = cut > threshold.min_cut_ms && cut > threshold.min_cut_ratio * before.tail_ms;
    worth.then(|| Move {
        from: replicas[slot].clone(),
        to: to.clone(),
        before,
        after,
    })
}

/// Above this many candidates, only a shortlist is tried.
pub const SHORTLIST: usize = 24;

/// The candidates worth trying: all of them up to [`SHORTLIST`]; beyond, the
/// [`SHORTLIST_GATEWAYS`] gateways whose demand suffers most (rate × latency to their nearest
/// replica) each bring their [`SHORTLIST_PER_GATEWAY`] nearest candidates. A move is worth
/// making because it brings a replica near badly served users, so their neighbourhoods are
/// where it lands; a move whose gain is spread thin over many small gateways far from each
/// other can be missed. This keeps a decision at O(R · SHORTLIST · G · R) for 1,000 nodes.
fn shortlist<'a, N: PartialEq>(
    demand: &[(N, f64)],
    replicas: &[N],
    candidates: &'a [N],
    distance_ms: &impl Fn(&N, &N) -> Option<f64>,
    config: &PlacementConfig,
) -> Vec<&'a N> {
    if candidates.len() <= SHORTLIST {
        return candidates.iter().collect();
    }
    let mut suffering: Vec<(f64, &N)> = demand
        .iter()
        .filter(|(_, r)| r.is_finite() && *r > 0.0)
        .map(|(g, r)| {
            let nearest = replicas
                .iter()
                .filter_map(|rep| distance_ms(g, rep))
                .filter(|d| d.is_finite() && *d >= 0.0)
                .reduce(f64::min)
                .unwrap_or(config.unknown_latency_ms);
            (r * nearest, g)
        })
        .collect();
    suffering.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out: Vec<&N> = Vec::new();
    for (_, g) in suffering.iter().take(SHORTLIST_GATEWAYS) {
        let mut near: Vec<(f64, &N)> = candidates
            .iter()
            .filter_map(|c| distance_ms(g, c).filter(|d| d.is_finite()).map(|d| (d, c)))
            .collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, c) in near.into_iter().take(SHORTLIST_PER_GATEWAY) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

/// How many of the worst-served gateways bring candidates to the shortlist.
pub const SHORTLIST_GATEWAYS: usize = 8;
/// How many of its nearest candidates each brings.
pub const SHORTLIST_PER_GATEWAY: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes on a line at these positions (ms); RTT = |x_a − x_b| + 2, 0 to itself.
    const LINE: [f64; 6] = [0.0, 10.0, 30.0, 60.0, 100.0, 150.0];

    fn rtt(a: &usize, b: &usize) -> Option<f64> {
        Some(if a == b {
            0.0
        } else {
            (LINE[*a] - LINE[*b]).abs() + 2.0
        })
    }

    fn best(demand: &[(usize, f64)], replicas: &[usize]) -> Option<Move<usize>> {
        let all: Vec<usize> = (0..LINE.len()).collect();
        best_move(
            demand,
            replicas,
            &all,
            rtt,
            &PlacementConfig::default(),
            &MoveThreshold::default(),
        )
    }

    #[test]
    fn a_replica_follows_demand_that_moved_far() {
        // The users were at node 0, where the replica is; now they are at node 5.
        let m = best(&[(5, 20.0)], &[0]).expect("a move");
        assert_eq!((m.from, m.to), (0, 5));
        assert_eq!(m.before.tail_ms, 152.0);
        assert_eq!(m.after.tail_ms, 0.0);
    }

    #[test]
    fn the_replica_that_moves_is_the_one_that_serves_least() {
        // Users at 0 and 5; replicas at 0 and 2: the one at 2 should go to 5.
        let m = best(&[(0, 10.0), (5, 10.0)], &[0, 2]).expect("a move");
        assert_eq!((m.from, m.to), (2, 5));
    }

    #[test]
    fn small_gains_do_not_move_anything() {
        // Users at node 1, replica at node 0: 12 ms, and moving cuts 12 ms, which clears the
        // threshold; users between two replicas already near cut less than 20 %.
        assert!(best(&[(1, 10.0)], &[0]).is_some());
        assert!(
            best(&[(0, 10.0), (1, 1.0)], &[0]).is_none(),
            "the tail is already at node 0"
        );
        assert!(best(&[], &[0]).is_none(), "no demand");
        assert!(best(&[(0, 1.0)], &[]).is_none(), "no replica");
    }

    #[test]
    fn every_proposed_move_cuts_the_tail_beyond_the_hysteresis() {
        // Every demand split over two gateways, every placement of two replicas.
        let threshold = MoveThreshold::default();
        let n = LINE.len();
        let mut proposed = 0;
        for g1 in 0..n {
            for g2 in 0..n {
                for r1 in 0..n {
                    for r2 in (r1 + 1)..n {
                        let demand = [(g1, 10.0), (g2, 3.0)];
                        if let Some(m) = best(&demand, &[r1, r2]) {
                            proposed += 1;
                            let cut = m.tail_cut_ms();
                            assert!(cut > threshold.min_cut_ms, "{m:?}");
                            assert!(cut > threshold.min_cut_ratio * m.before.tail_ms, "{m:?}");
                            // Moving straight back would never be proposed: no flapping.
                            let mut back = vec![r1, r2];
                            let slot = back.iter().position(|r| *r == m.from).unwrap();
                            back[slot] = m.to;
                            let again = best(&demand, &back);
                            assert!(
                                again.as_ref().is_none_or(|a| a.to != m.from),
                                "{m:?} then {again:?}"
                            );
                        }
                    }
                }
            }
        }
        assert!(proposed > 50, "the check saw moves: {proposed}");
    }

    #[test]
    fn past_the_shortlist_size_the_move_still_lands_near_the_users() {
        // 40 nodes 10 ms apart; the replica at node 0, the users at node 37 and around.
        let rtt = |a: &usize, b: &usize| Some((*a as f64 - *b as f64).abs() * 10.0);
        let candidates: Vec<usize> = (0..40).collect();
        let demand = vec![(37, 50.0), (36, 5.0), (38, 5.0), (2, 1.0)];
        let m = best_move(
            &demand,
            &[0],
            &candidates,
            rtt,
            &PlacementConfig::default(),
            &MoveThreshold::default(),
        )
        .unwrap();
        assert_eq!((m.from, m.to), (0, 37));
    }
}
