//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new pods, unless the pod
//! tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint (as DaemonSet pods do).

use crate::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo};
use crate::taint::{Effect, Taint, tolerated};

/// The filter for cordoned nodes.
pub struct NodeUnschedulable;

/// Kubernetes' reason for a cordoned node.
pub const REASON: &str = "node(s) were unschedulable";

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> Result<(), String> {
        if !node.unschedulable {
            return Ok(());
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            value: String::new(),
            effect: Effect::NoSchedule,
        };
        if tolerated(&pod.tolerations, &taint) {
            Ok(())
        } else {
            Err(REASON.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod, run_filter};
    use crate::taint::Toleration;

    #[test]
    fn a_cordoned_node_refuses_pods_that_do_not_tolerate_it() {
        let mut n = node("n");
        let mut p = pod("p", 0, 0);
        assert_eq!(run_filter(&NodeUnschedulable, &p, &n, &[]), Ok(()));
        n.unschedulable = true;
        assert_eq!(
            run_filter(&NodeUnschedulable, &p, &n, &[]),
            Err(REASON.into())
        );
        p.tolerations.push(Toleration {
            key: "node.kubernetes.io/unschedulable".into(),
            exists: true,
            value: String::new(),
            effect: Some(Effect::NoSchedule),
        });
        assert_eq!(run_filter(&NodeUnschedulable, &p, &n, &[]), Ok(()));
    }
}
