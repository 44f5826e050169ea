//! The built-in plugins, one file each, and the default profile that runs them.

pub mod balanced_allocation;
pub mod least_allocated;
pub mod node_affinity;
pub mod node_ready;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod preferred_affinity;
pub mod runtime_handler;
pub mod taint_toleration;
pub mod topology_spread;

#[cfg(test)]
pub(crate) mod testing;

pub use balanced_allocation::BalancedAllocation;
pub use least_allocated::LeastAllocated;
pub use node_affinity::NodeAffinity;
pub use node_ready::NodeReady;
pub use node_resources_fit::NodeResourcesFit;
pub use node_unschedulable::NodeUnschedulable;
pub use preferred_affinity::PreferredNodeAffinity;
pub use runtime_handler::RuntimeHandler;
pub use taint_toleration::TaintToleration;
pub use topology_spread::PodTopologySpread;

use crate::framework::Profile;

/// The profile `brume` runs: every built-in filter, cheapest first, and the scores with
/// kube-scheduler's default weights (resources 1 each, node affinity 2, topology spread 2).
///
/// A pod's architecture and OS (`kubernetes.io/arch`, `kubernetes.io/os`) are node labels, so
/// asking for them in `nodeSelector` or node affinity is handled by [`NodeAffinity`]; no
/// separate plugin is needed.
pub fn default_profile() -> Profile {
    Profile {
        filters: vec![
            Box::new(NodeUnschedulable),
            Box::new(NodeReady),
            Box::new(NodeAffinity),
            Box::new(TaintToleration),
            Box::new(RuntimeHandler),
            Box::new(NodeResourcesFit),
            Box::new(PodTopologySpread),
        ],
        scores: vec![
            Box::new(LeastAllocated),
            Box::new(BalancedAllocation),
            Box::new(PreferredNodeAffinity),
            Box::new(PodTopologySpread),
        ],
    }
}
