//! LeastAllocated (score): prefers the node with the most cpu and memory left once the pod is
//! placed, averaging the two (kube-scheduler's `NodeResourcesFit` LeastAllocated strategy,
//! resource weights 1 and 1). Requests use the non-zero defaults, so best-effort pods spread.

use crate::framework::{CycleState, NodeInfo, PodInfo, ScorePlugin};

/// The score for free resources.
pub struct LeastAllocated;

/// `(capacity - requested) * 100 / capacity`, 0 when the node has none or is full.
fn free_share(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * 100 / capacity
}

impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        "LeastAllocated"
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, _: &[NodeInfo], _: &CycleState) -> i64 {
        let (used, want, have) = (
            &node.nonzero_requested,
            &pod.nonzero_requests,
            &node.allocatable,
        );
        let cpu = free_share(used.cpu_milli + want.cpu_milli, have.cpu_milli);
        let memory = free_share(used.memory + want.memory, have.memory);
        (cpu + memory) / 2
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
    fn the_emptier_node_scores_higher() {
        let empty = node("a");
        let mut busy = node("b");
        busy.add_pod(Arc::new(pod("x", 2000, 4 << 30)));
        let p = pod("p", 1000, 2 << 30);
        let s = CycleState::default();
        // 4 cores, 8 GiB: the pod alone leaves 75% of each; with x, 25%.
        assert_eq!(LeastAllocated.score(&p, &empty, &[], &s), 75);
        assert_eq!(LeastAllocated.score(&p, &busy, &[], &s), 25);
        let mut none = node("c");
        none.allocatable.cpu_milli = 0;
        assert_eq!(LeastAllocated.score(&p, &none, &[], &s), 37);
    }
}
