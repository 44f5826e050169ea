//! NodeReady: a node whose `Ready` condition is not `True` takes no new pods, unless the pod
//! tolerates `node.kubernetes.io/not-ready:NoSchedule`. (Kubernetes reaches the same result
//! through the taint the node lifecycle controller adds; filtering here also covers the seconds
//! before that taint appears.)

use crate::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo};
use crate::taint::{Effect, Taint, tolerated};

/// The filter for nodes that are not ready.
pub struct NodeReady;

/// The reason for a node that is not ready.
pub const REASON: &str = "node(s) were not ready";

impl FilterPlugin for NodeReady {
    fn name(&self) -> &'static str {
        "NodeReady"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> Result<(), String> {
        if node.ready {
            return Ok(());
        }
        let taint = Taint {
            key: "node.kubernetes.io/not-ready".into(),
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
    fn a_node_that_is_not_ready_refuses_pods() {
        let mut n = node("n");
        let mut p = pod("p", 0, 0);
        assert_eq!(run_filter(&NodeReady, &p, &n, &[]), Ok(()));
        n.ready = false;
        assert_eq!(run_filter(&NodeReady, &p, &n, &[]), Err(REASON.into()));
        p.tolerations.push(Toleration {
            key: "node.kubernetes.io/not-ready".into(),
            exists: true,
            value: String::new(),
            effect: None,
        });
        assert_eq!(run_filter(&NodeReady, &p, &n, &[]), Ok(()));
    }
}
