//! Which peer a node probes next (DESIGN §8: "each agent probes a few random peers plus its
//! current nearest ones").
//!
//! Random peers keep the coordinate globally consistent; the nearest peers matter most to
//! proximity routing, whose weights depend on small distances being right, and are the links
//! Vivaldi predicts worst when it only samples at random (see the PlanetLab test).

/// How a node chooses the peers it probes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbePlan {
    /// How many of the nearest peers (by the current estimate) are probed in turn with the
    /// random ones.
    pub nearest: usize,
    /// The share of probes that go to a uniformly random peer, in [0, 1].
    pub explore: f64,
}

impl Default for ProbePlan {
    /// Half of the probes at random, half among the three nearest.
    fn default() -> Self {
        Self {
            nearest: 3,
            explore: 0.5,
        }
    }
}

impl ProbePlan {
    /// The next peer to probe among `peers` (each with the current RTT estimate to it, `None`
    /// when it has no coordinate yet), given two uniform draws in [0, 1): `coin` chooses
    /// between a random and a near peer, `pick` chooses within the group. Peers without an
    /// estimate count as far, so a node first explores and then settles on its neighbours.
    pub fn next<'a, K>(
        &self,
        peers: &'a [(K, Option<f64>)],
        coin: f64,
        pick: f64,
    ) -> Option<&'a K> {
        if peers.is_empty() {
            return None;
        }
        let index = |len: usize| ((pick.clamp(0.0, 1.0) * len as f64) as usize).min(len - 1);
        let known: Vec<(usize, f64)> = peers
            .iter()
            .enumerate()
            .filter_map(|(i, (_, d))| d.filter(|d| d.is_finite()).map(|d| (i, d)))
            .collect();
        if coin < self.explore || known.is_empty() || self.nearest == 0 {
            return Some(&peers[index(peers.len())].0);
        }
        let mut near = known;
        near.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        near.truncate(self.nearest);
        Some(&peers[near[index(near.len())].0].0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEERS: [(&str, Option<f64>); 5] = [
        ("far", Some(200.0)),
        ("near", Some(5.0)),
        ("unknown", None),
        ("mid", Some(40.0)),
        ("close", Some(9.0)),
    ];

    #[test]
    fn exploring_draws_any_peer_uniformly() {
        let plan = ProbePlan::default();
        let picked: Vec<_> = (0..5)
            .map(|i| *plan.next(&PEERS, 0.1, i as f64 / 5.0).unwrap())
            .collect();
        assert_eq!(picked, ["far", "near", "unknown", "mid", "close"]);
    }

    #[test]
    fn otherwise_one_of_the_nearest_known_peers() {
        let plan = ProbePlan::default();
        let picked: Vec<_> = [0.0, 0.4, 0.7, 0.999]
            .iter()
            .map(|&p| *plan.next(&PEERS, 0.9, p).unwrap())
            .collect();
        assert_eq!(picked, ["near", "close", "mid", "mid"]);
    }

    #[test]
    fn without_estimates_or_peers_it_explores_or_gives_up() {
        let plan = ProbePlan::default();
        let blind = [("a", None), ("b", None)];
        assert_eq!(plan.next(&blind, 0.99, 0.6), Some(&"b"));
        assert_eq!(plan.next::<&str>(&[], 0.5, 0.5), None);
    }
}
