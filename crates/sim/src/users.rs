//! Who sends the requests and from where: each user sits behind one gateway node (DESIGN §8:
//! "where a user is is the node whose proxy received the request"). Demand clusters around a
//! few hotspots, with a background spread over every node, as in a city where a stadium, a
//! station and a business district draw most of the traffic.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::topology::Topology;

/// The users: the gateway node of each one. Every user sends at the same rate, so a
/// gateway's demand is its share of the users.
#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    /// The gateway of each user, by user index.
    pub gateways: Vec<u32>,
}

/// Where the demand is concentrated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemandShape {
    /// The hotspots' centre nodes.
    pub hotspots: Vec<usize>,
    /// The share of users around the hotspots (the rest are spread uniformly over all nodes).
    pub concentration: f64,
    /// How far users spread around a hotspot: the mean rank, among the centre's nodes by RTT,
    /// of a user's gateway (a geometric draw: 0 is the centre itself).
    pub reach: f64,
}

impl DemandShape {
    /// The share of users around the hotspots unless a run says otherwise.
    pub const DEFAULT_CONCENTRATION: f64 = 0.7;
    /// How far users spread around a hotspot unless a run says otherwise (mean rank).
    pub const DEFAULT_REACH: f64 = 4.0;

    /// `hotspots` hotspots at random nodes, 70 % of the users around them, a reach of 4 nodes.
    pub fn random(topology: &Topology, hotspots: usize, seed: u64) -> DemandShape {
        DemandShape::new(
            topology,
            hotspots,
            DemandShape::DEFAULT_CONCENTRATION,
            DemandShape::DEFAULT_REACH,
            seed,
        )
    }

    /// `hotspots` hotspots at random nodes, `concentration` of the users around them, spread
    /// over a mean rank of `reach` nodes from each centre (0: on the centre itself).
    pub fn new(
        topology: &Topology,
        hotspots: usize,
        concentration: f64,
        reach: f64,
        seed: u64,
    ) -> DemandShape {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x407_5907);
        let mut centres = Vec::new();
        while centres.len() < hotspots.min(topology.len()) {
            let c = rng.random_range(0..topology.len());
            if !centres.contains(&c) {
                centres.push(c);
            }
        }
        DemandShape {
            hotspots: centres,
            concentration,
            reach,
        }
    }
}

impl Population {
    /// `users` users drawn as `shape` says.
    pub fn draw(topology: &Topology, shape: &DemandShape, users: usize, seed: u64) -> Population {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x05e7_5eed);
        let nearest: Vec<Vec<usize>> = shape
            .hotspots
            .iter()
            .map(|&c| topology.by_distance(c))
            .collect();
        // The geometric draw's success probability for a mean of `reach` failures.
        let p = 1.0 / (1.0 + shape.reach.max(0.0));
        let n = topology.len();
        let gateways = (0..users)
            .map(|_| {
                let around = !nearest.is_empty() && rng.random_bool(shape.concentration);
                if !around {
                    return rng.random_range(0..n) as u32;
                }
                let order = &nearest[rng.random_range(0..nearest.len())];
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                let rank = (u.ln() / (1.0 - p).ln()).floor() as usize;
                order[rank.min(n - 1)] as u32
            })
            .collect();
        Population { gateways }
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.gateways.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.gateways.is_empty()
    }

    /// The demand per gateway: (node, users there × `rate_per_user`), for the gateways that
    /// have users, in node order.
    pub fn demand(&self, nodes: usize, rate_per_user: f64) -> Vec<(usize, f64)> {
        let mut counts = vec![0u64; nodes];
        for &g in &self.gateways {
            counts[g as usize] += 1;
        }
        counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(node, c)| (node, *c as f64 * rate_per_user))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::CitySettings;

    #[test]
    fn users_gather_around_the_hotspots() {
        let t = Topology::city(&CitySettings::new(400, 3));
        let shape = DemandShape::random(&t, 2, 3);
        let users = Population::draw(&t, &shape, 20_000, 3);
        assert_eq!(users.len(), 20_000);
        let demand = users.demand(t.len(), 1.0);
        let total: f64 = demand.iter().map(|(_, r)| r).sum();
        assert_eq!(total, 20_000.0);
        // Each hotspot's centre holds about 0.7 / 2 / 5 of the users (geometric, mean rank 4).
        for &c in &shape.hotspots {
            let at = demand.iter().find(|(n, _)| *n == c).unwrap().1 / total;
            assert!((0.04..0.12).contains(&at), "centre {c}: {at}");
        }
        assert_eq!(users, Population::draw(&t, &shape, 20_000, 3));
    }

    #[test]
    fn no_reach_and_full_concentration_put_every_user_on_a_centre() {
        let t = Topology::city(&CitySettings::new(400, 3));
        let shape = DemandShape::new(&t, 5, 1.0, 0.0, 3);
        let demand = Population::draw(&t, &shape, 10_000, 3).demand(t.len(), 1.0);
        let gateways: Vec<usize> = demand.iter().map(|(g, _)| *g).collect();
        let mut centres = shape.hotspots.clone();
        centres.sort();
        assert_eq!(gateways, centres, "only the centres have users");
        for (g, users) in &demand {
            // 10,000 users over 5 centres drawn uniformly: 2,000 each, give or take.
            assert!((1_800.0..2_200.0).contains(users), "{g}: {users}");
        }
        // No concentration: the users spread over (nearly) every node.
        let spread = DemandShape::new(&t, 5, 0.0, 0.0, 3);
        let demand = Population::draw(&t, &spread, 10_000, 3).demand(t.len(), 1.0);
        assert!(demand.len() > 390, "{} gateways", demand.len());
    }
}
