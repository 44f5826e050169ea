//! TaintToleration (filter): the pod must tolerate every `NoSchedule` and `NoExecute` taint of
//! the node. `PreferNoSchedule` taints are preferences and do not filter.

use crate::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo};
use crate::taint::{Effect, tolerated};

/// The filter for taints.
pub struct TaintToleration;

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> Result<(), String> {
        match node.taints.iter().find(|t| {
            matches!(t.effect, Effect::NoSchedule | Effect::NoExecute)
                && !tolerated(&pod.tolerations, t)
        }) {
            // Kubernetes' wording (tainttoleration.go).
            Some(t) => Err(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key, t.value
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod, run_filter};
    use crate::taint::{Taint, Toleration};

    #[test]
    fn an_untolerated_taint_is_named_and_a_toleration_lifts_it() {
        let mut n = node("n");
        n.taints = vec![
            Taint {
                key: "soft".into(),
                value: String::new(),
                effect: Effect::PreferNoSchedule,
            },
            Taint {
                key: "dedicated".into(),
                value: "edge".into(),
                effect: Effect::NoExecute,
            },
        ];
        let mut p = pod("p", 0, 0);
        assert_eq!(
            run_filter(&TaintToleration, &p, &n, &[]),
            Err("node(s) had untolerated taint {dedicated: edge}".into())
        );
        p.tolerations.push(Toleration {
            key: "dedicated".into(),
            exists: false,
            value: "edge".into(),
            effect: None,
        });
        assert_eq!(run_filter(&TaintToleration, &p, &n, &[]), Ok(()));
    }
}
