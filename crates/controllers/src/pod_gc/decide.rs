//! The pod garbage collector's decision (Kubernetes `pkg/controller/podgc`, `gcOrphaned`): pods
//! bound to a node that no longer exists will never be finished by an agent, so they are deleted
//! at once.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::Pod;

/// The pods bound to a node that is not among `nodes`.
pub fn orphaned<'a>(pods: &'a [Pod], nodes: &HashSet<String>) -> Vec<&'a Pod> {
    pods.iter()
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty() && !nodes.contains(n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::fixtures::{pod, ready};

    #[test]
    fn only_pods_of_missing_nodes_are_orphaned() {
        let pods = vec![
            ready(pod("here", 1, &[]), 1, "n1"),
            ready(pod("gone", 1, &[]), 1, "n2"),
            pod("unbound", 1, &[]),
        ];
        let nodes: HashSet<String> = ["n1".to_string()].into();
        let names: Vec<_> = orphaned(&pods, &nodes)
            .into_iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, vec!["gone"]);
    }
}
