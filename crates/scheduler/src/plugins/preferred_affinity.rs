//! PreferredNodeAffinity (score): the share of the pod's preferred node affinity weight that the
//! node satisfies, 0-100. Kubernetes sums the matching weights and then normalizes by the best
//! node; dividing by the pod's total weight ranks nodes the same way without a second pass.

use crate::framework::{CycleState, NodeInfo, PodInfo, ScorePlugin};

/// The score for preferred node affinity.
pub struct PreferredNodeAffinity;

impl ScorePlugin for PreferredNodeAffinity {
    fn name(&self) -> &'static str {
        "PreferredNodeAffinity"
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, _: &[NodeInfo], _: &CycleState) -> i64 {
        let total: i64 = pod.preferred_affinity.iter().map(|(w, _)| *w).sum();
        if total <= 0 {
            return 0;
        }
        let matched: i64 = pod
            .preferred_affinity
            .iter()
            .filter(|(_, t)| t.matches(&node.labels, &node.name))
            .map(|(w, _)| *w)
            .sum();
        matched * 100 / total
    }

    fn weight(&self) -> i64 {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{labelled, node, pod};
    use crate::selector::{NodeTerm, Requirement};

    #[test]
    fn matching_weights_add_up() {
        let term = |k: &str, v: &str| NodeTerm {
            expressions: vec![Requirement::new(k, "In", &[v])],
            fields: vec![],
        };
        let mut p = pod("p", 0, 0);
        p.preferred_affinity = vec![(30, term("zone", "a")), (10, term("disk", "ssd"))];
        let s = CycleState::default();
        let both = labelled(labelled(node("a"), "zone", "a"), "disk", "ssd");
        let zone = labelled(node("b"), "zone", "a");
        let disk = labelled(node("c"), "disk", "ssd");
        assert_eq!(PreferredNodeAffinity.score(&p, &both, &[], &s), 100);
        assert_eq!(PreferredNodeAffinity.score(&p, &zone, &[], &s), 75);
        assert_eq!(PreferredNodeAffinity.score(&p, &disk, &[], &s), 25);
        assert_eq!(PreferredNodeAffinity.score(&p, &node("d"), &[], &s), 0);
    }
}
