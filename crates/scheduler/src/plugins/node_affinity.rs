//! NodeAffinity (filter): the node must carry every `nodeSelector` label and satisfy one of the
//! required node affinity terms. Architecture and OS selection (`kubernetes.io/arch`,
//! `kubernetes.io/os`) go through here too, since they are node labels.

use crate::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo};

/// The filter for `nodeSelector` and required node affinity.
pub struct NodeAffinity;

/// Kubernetes' reason (`ErrReasonPod` of the NodeAffinity plugin).
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> Result<(), String> {
        if pod.matches_node_selection(node) {
            Ok(())
        } else {
            Err(REASON.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{labelled, node, pod, run_filter};
    use crate::selector::{NodeTerm, Requirement};

    #[test]
    fn the_node_selector_needs_every_label() {
        let n = labelled(
            labelled(node("n"), "kubernetes.io/arch", "arm64"),
            "disk",
            "ssd",
        );
        let mut p = pod("p", 0, 0);
        p.node_selector
            .insert("kubernetes.io/arch".into(), "arm64".into());
        assert_eq!(run_filter(&NodeAffinity, &p, &n, &[]), Ok(()));
        p.node_selector.insert("disk".into(), "hdd".into());
        assert_eq!(run_filter(&NodeAffinity, &p, &n, &[]), Err(REASON.into()));
    }

    #[test]
    fn one_required_term_is_enough_and_each_term_needs_all_its_expressions() {
        let n = labelled(labelled(node("n"), "zone", "a"), "cores", "8");
        let term = |reqs: Vec<Requirement>| NodeTerm {
            expressions: reqs,
            fields: vec![],
        };
        let mut p = pod("p", 0, 0);
        p.required_affinity = Some(vec![
            term(vec![Requirement::new("zone", "In", &["b"])]),
            term(vec![
                Requirement::new("zone", "NotIn", &["c"]),
                Requirement::new("cores", "Gt", &["4"]),
                Requirement::new("gpu", "DoesNotExist", &[]),
            ]),
        ]);
        assert_eq!(run_filter(&NodeAffinity, &p, &n, &[]), Ok(()));
        p.required_affinity = Some(vec![term(vec![
            Requirement::new("zone", "Exists", &[]),
            Requirement::new("cores", "Lt", &["4"]),
        ])]);
        assert_eq!(run_filter(&NodeAffinity, &p, &n, &[]), Err(REASON.into()));
        p.required_affinity = Some(vec![]);
        assert_eq!(run_filter(&NodeAffinity, &p, &n, &[]), Err(REASON.into()));
    }
}
