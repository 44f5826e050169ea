//! BalancedAllocation (score): prefers nodes where cpu and memory would be used in the same
//! proportion after placing the pod: `(1 - std) * 100` over the two usage fractions, which for
//! two resources is `(1 - |cpu - memory| / 2) * 100` (kube-scheduler's
//! `NodeResourcesBalancedAllocation`).

use crate::framework::{CycleState, NodeInfo, PodInfo, ScorePlugin};

/// The score for balanced usage.
pub struct BalancedAllocation;

fn fraction(requested: i64, capacity: i64) -> f64 {
    if capacity <= 0 {
        return 1.0;
    }
    (requested as f64 / capacity as f64).min(1.0)
}

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "BalancedAllocation"
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, _: &[NodeInfo], _: &CycleState) -> i64 {
        let (used, want, have) = (
            &node.nonzero_requested,
            &pod.nonzero_requests,
            &node.allocatable,
        );
        let cpu = fraction(used.cpu_milli + want.cpu_milli, have.cpu_milli);
        let memory = fraction(used.memory + want.memory, have.memory);
        let std = (cpu - memory).abs() / 2.0;
        ((1.0 - std) * 100.0) as i64
    }

    fn weight(&self) -> i64 {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod};
    use std::sync::Arc;

    #[test]
    fn balanced_usage_scores_higher() {
        let s = CycleState::default();
        let p = pod("p", 1000, 2 << 30); // a quarter of each on a 4-core, 8 GiB node
        assert_eq!(BalancedAllocation.score(&p, &node("a"), &[], &s), 100);
        let mut cpu_heavy = node("b");
        cpu_heavy.add_pod(Arc::new(pod("x", 2000, 0)));
        // cpu 3/4, memory 1/4: std 1/4.
        assert_eq!(BalancedAllocation.score(&p, &cpu_heavy, &[], &s), 75);
    }
}
