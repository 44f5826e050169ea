//! Zones for the Kubernetes topology-aware baseline: Kubernetes routes by the
//! `topology.kubernetes.io/zone` label, which an operator sets by hand. Here the zones come from
//! a clustering of the topology by RTT, as an operator who knew the network would draw them:
//! farthest-point seeds (Gonzalez's k-center, 1985), then a few rounds of k-medoids.

use crate::topology::Topology;

/// Rounds of medoid refinement after the seeding; the assignment settles in a handful.
const REFINE_ROUNDS: usize = 4;

/// The zone of each node, `0..k`, from a clustering of the topology into `k` zones (fewer when
/// there are fewer nodes). Deterministic: the first seed is node 0.
pub fn cluster(topology: &Topology, k: usize) -> Vec<u16> {
    let n = topology.len();
    let k = k.clamp(1, n.max(1)).min(u16::MAX as usize);
    if n == 0 {
        return Vec::new();
    }
    let mut centres = vec![0usize];
    let mut nearest: Vec<f64> = (0..n).map(|j| topology.rtt_ms(0, j)).collect();
    while centres.len() < k {
        let far = (0..n)
            .max_by(|&a, &b| nearest[a].total_cmp(&nearest[b]).then(b.cmp(&a)))
            .unwrap_or(0);
        centres.push(far);
        for (j, d) in nearest.iter_mut().enumerate() {
            *d = d.min(topology.rtt_ms(far, j));
        }
    }
    let mut zone = assign(topology, &centres);
    for _ in 0..REFINE_ROUNDS {
        let members: Vec<Vec<usize>> = (0..centres.len())
            .map(|z| (0..n).filter(|&j| zone[j] as usize == z).collect())
            .collect();
        for (z, nodes) in members.iter().enumerate() {
            // The medoid: the member with the least total RTT to the others.
            let cost = |c: usize| nodes.iter().map(|&j| topology.rtt_ms(c, j)).sum::<f64>();
            if let Some(&best) = nodes
                .iter()
                .min_by(|&&a, &&b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b)))
            {
                centres[z] = best;
            }
        }
        let next = assign(topology, &centres);
        if next == zone {
            break;
        }
        zone = next;
    }
    zone
}

fn assign(topology: &Topology, centres: &[usize]) -> Vec<u16> {
    (0..topology.len())
        .map(|j| {
            (0..centres.len())
                .min_by(|&a, &b| {
                    topology
                        .rtt_ms(centres[a], j)
                        .total_cmp(&topology.rtt_ms(centres[b], j))
                        .then(a.cmp(&b))
                })
                .unwrap_or(0) as u16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_fog::RttMatrix;

    #[test]
    fn two_far_groups_make_two_zones() {
        // Nodes 0-2 near 0 ms, nodes 3-5 near 100 ms along a line.
        let pos: [f64; 6] = [0.0, 2.0, 4.0, 100.0, 102.0, 104.0];
        let t = Topology::from_matrix(
            "line",
            RttMatrix::from_fn(6, |i, j| (pos[i] - pos[j]).abs()),
        );
        let zones = cluster(&t, 2);
        assert_eq!(zones[0], zones[1]);
        assert_eq!(zones[1], zones[2]);
        assert_eq!(zones[3], zones[4]);
        assert_eq!(zones[4], zones[5]);
        assert_ne!(zones[0], zones[3]);
        assert_eq!(cluster(&t, 1), vec![0; 6]);
        assert_eq!(cluster(&t, 10).iter().max(), Some(&5));
    }
}
