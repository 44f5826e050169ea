//! RuntimeHandler (filter): a pod with `runtimeClassName` goes only to nodes whose agent offers
//! that handler (annotation `fog.brume.io/runtime-handlers`, DESIGN §6). A pod without one runs
//! on any node's default handler.

use crate::framework::{CycleState, FilterPlugin, NodeInfo, PodInfo};

/// The filter for runtime handlers.
pub struct RuntimeHandler;

impl FilterPlugin for RuntimeHandler {
    fn name(&self) -> &'static str {
        "RuntimeHandler"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _: &CycleState) -> Result<(), String> {
        match &pod.runtime_class {
            Some(h) if !node.runtime_handlers.iter().any(|n| n == h) => {
                Err(format!("node(s) did not offer runtime handler \"{h}\""))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, pod, run_filter};

    #[test]
    fn only_nodes_offering_the_handler_fit() {
        let mut n = node("n");
        n.runtime_handlers = vec!["process".into()];
        let mut p = pod("p", 0, 0);
        assert_eq!(run_filter(&RuntimeHandler, &p, &n, &[]), Ok(()));
        p.runtime_class = Some("process".into());
        assert_eq!(run_filter(&RuntimeHandler, &p, &n, &[]), Ok(()));
        p.runtime_class = Some("docker".into());
        assert_eq!(
            run_filter(&RuntimeHandler, &p, &n, &[]),
            Err("node(s) did not offer runtime handler \"docker\"".into())
        );
    }
}
