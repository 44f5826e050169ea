//! The built-in plugins, one file each, and the default profile that runs them.

pub mod balanced_allocation;
pub mod least_allocated;
pub mod node_affinity;
pub mod node_ready;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod preferred_affinity;
pub mod proximity_placement;
pub mod replica_move;
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
pub use proximity_placement::{ProximityPlacement, ServiceDemand};
pub use replica_move::ReplicaMove;
pub use runtime_handler::RuntimeHandler;
pub use taint_toleration::TaintToleration;
pub use topology_spread::PodTopologySpread;

use brume_fog::PlacementConfig;

use crate::framework::{Profile, ScorePlugin};

/// The settings of the profile `brume` runs.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileConfig {
    /// The weight of [`ProximityPlacement`] against the resource scores (each weight 1); 0
    /// leaves the plugin out. Defaults to [`ProximityPlacement::DEFAULT_WEIGHT`].
    pub proximity_weight: i64,
    /// The tail quantile, tail weight and unknown-distance penalty of the placement maths.
    pub placement: PlacementConfig,
}

impl Default for ProfileConfig {
    fn default() -> ProfileConfig {
        ProfileConfig {
            proximity_weight: ProximityPlacement::DEFAULT_WEIGHT,
            placement: PlacementConfig::default(),
        }
    }
}

/// The profile `brume` runs, with the default [`ProfileConfig`].
pub fn default_profile() -> Profile {
    profile(&ProfileConfig::default())
}

/// Every built-in filter, cheapest first, and the scores with kube-scheduler's default weights
/// (resources 1 each, node affinity 2, topology spread 2) plus proximity placement at the
/// configured weight.
///
/// A pod's architecture and OS (`kubernetes.io/arch`, `kubernetes.io/os`) are node labels, so
/// asking for them in `nodeSelector` or node affinity is handled by [`NodeAffinity`]; no
/// separate plugin is needed.
pub fn profile(config: &ProfileConfig) -> Profile {
    let mut scores: Vec<Box<dyn ScorePlugin>> = vec![
        Box::new(LeastAllocated),
        Box::new(BalancedAllocation),
        Box::new(PreferredNodeAffinity),
        Box::new(PodTopologySpread),
        Box::new(ReplicaMove),
    ];
    if config.proximity_weight > 0 {
        scores.push(Box::new(ProximityPlacement::new(
            config.proximity_weight,
            config.placement,
        )));
    }
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
        scores,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{NodeInfo, schedule};
    use crate::plugins::testing::{labelled, node, pod};
    use std::sync::Arc;

    #[test]
    fn the_default_profile_counts_each_node_under_its_first_reason() {
        let mut full = node("full");
        full.add_pod(Arc::new(pod("x", 3500, 0)));
        let mut cordoned = labelled(node("cordoned"), "disk", "ssd");
        cordoned.unschedulable = true;
        let mut not_ready = labelled(node("not-ready"), "disk", "ssd");
        not_ready.ready = false;
        let nodes = vec![
            labelled(full, "disk", "ssd"),
            node("hdd"),
            cordoned,
            not_ready,
            labelled(node("small"), "disk", "ssd"),
        ];
        let mut p = pod("p", 1000, 0);
        p.node_selector.insert("disk".into(), "ssd".into());
        assert_eq!(schedule(&default_profile(), &p, &nodes).unwrap(), "small");
        let mut big = pod("big", 4500, 0);
        big.node_selector = p.node_selector.clone();
        let err = schedule(&default_profile(), &big, &nodes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/5 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
             1 node(s) were not ready, 1 node(s) were unschedulable, 2 Insufficient cpu."
        );
    }

    #[test]
    fn the_default_profile_prefers_the_emptier_and_preferred_nodes() {
        let mut busy = node("a");
        busy.add_pod(Arc::new(pod("x", 2000, 4 << 30)));
        let nodes: Vec<NodeInfo> = vec![busy, node("b")];
        let p = pod("p", 500, 1 << 30);
        assert_eq!(schedule(&default_profile(), &p, &nodes).unwrap(), "b");
        let mut picky = p.clone();
        picky.preferred_affinity = vec![(
            100,
            crate::selector::NodeTerm {
                expressions: vec![],
                fields: vec![crate::selector::Requirement::new(
                    "metadata.name",
                    "In",
                    &["a"],
                )],
            },
        )];
        assert_eq!(schedule(&default_profile(), &picky, &nodes).unwrap(), "a");
    }
}
