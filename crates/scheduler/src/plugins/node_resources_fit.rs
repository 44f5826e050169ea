//! NodeResourcesFit (filter): the node must have room for the pod's cpu and memory requests
//! beside what its pods already request, and room for one more pod.

use crate::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo};

/// The filter for resources.
pub struct NodeResourcesFit;

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> Result<(), String> {
        let (have, used, want) = (&node.allocatable, &node.requested, &pod.requests);
        // Kubernetes' reasons and order (noderesources/fit.go, fitsRequest).
        if used.pods + 1 > have.pods {
            return Err("Too many pods".into());
        }
        if want.cpu_milli > 0 && want.cpu_milli > have.cpu_milli - used.cpu_milli {
            return Err("Insufficient cpu".into());
        }
        if want.memory > 0 && want.memory > have.memory - used.memory {
            return Err("Insufficient memory".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod, run_filter};

    #[test]
    fn each_resource_gives_its_reason() {
        let mut n = node("n"); // 4 cores, 8 GiB, 110 pods
        assert_eq!(
            run_filter(&NodeResourcesFit, &pod("p", 4000, 8 << 30), &n, &[]),
            Ok(())
        );
        assert_eq!(
            run_filter(&NodeResourcesFit, &pod("p", 4001, 0), &n, &[]),
            Err("Insufficient cpu".into())
        );
        assert_eq!(
            run_filter(&NodeResourcesFit, &pod("p", 0, (8 << 30) + 1), &n, &[]),
            Err("Insufficient memory".into())
        );
        n.requested.pods = 110;
        assert_eq!(
            run_filter(&NodeResourcesFit, &pod("p", 0, 0), &n, &[]),
            Err("Too many pods".into())
        );
    }

    #[test]
    fn bound_pods_use_up_the_room() {
        let mut n = node("n");
        n.add_pod(std::sync::Arc::new(pod("a", 3000, 0)));
        assert_eq!(
            run_filter(&NodeResourcesFit, &pod("p", 1000, 0), &n, &[]),
            Ok(())
        );
        assert_eq!(
            run_filter(&NodeResourcesFit, &pod("p", 1001, 0), &n, &[]),
            Err("Insufficient cpu".into())
        );
    }
}
