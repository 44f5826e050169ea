//! The scheduler's view of the cluster: one [`NodeInfo`] per node, indexed by name, with the
//! pods counted on each (bound ones from the watch, assumed ones the moment the scheduler picks
//! a node, so a burst of pods sees the room its predecessors took).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;

use crate::framework::{NodeInfo, PodInfo};

/// A pod counted on a node.
struct Placed {
    node: String,
    /// Chosen by this scheduler, binding not yet seen through the watch.
    assumed: bool,
    info: Arc<PodInfo>,
}

/// Nodes and the pods counted on them.
#[derive(Default)]
pub(crate) struct Cache {
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    pods: HashMap<String, Placed>,
}

impl Cache {
    /// The nodes, in no particular order.
    pub(crate) fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// Adds or updates a node; true when something that decides placement changed (so
    /// unschedulable pods deserve another try).
    pub(crate) fn apply_node(&mut self, node: &Node) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        if let Some(&i) = self.index.get(&name) {
            let before = std::mem::take(&mut self.nodes[i].pods);
            let mut fresh = NodeInfo::from_node(node);
            let changed = fresh.facts_differ(&self.nodes[i]);
            fresh.requested = self.nodes[i].requested;
            fresh.nonzero_requested = self.nodes[i].nonzero_requested;
            fresh.pods = before;
            self.nodes[i] = fresh;
            return changed;
        }
        let mut info = NodeInfo::from_node(node);
        // Pods may have been bound to it before the node was seen (or while it was gone).
        for p in self.pods.values().filter(|p| p.node == name) {
            info.add_pod(p.info.clone());
        }
        self.index.insert(name, self.nodes.len());
        self.nodes.push(info);
        true
    }

    /// Forgets a node (its pods stay known, and count again if it comes back).
    pub(crate) fn delete_node(&mut self, name: &str) {
        let Some(i) = self.index.remove(name) else {
            return;
        };
        self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.index.insert(moved.name.clone(), i);
        }
    }

    /// Forgets every node not in `names` (after a relist).
    pub(crate) fn retain_nodes(&mut self, names: &HashSet<String>) {
        let gone: Vec<String> = self
            .index
            .keys()
            .filter(|n| !names.contains(*n))
            .cloned()
            .collect();
        for n in gone {
            self.delete_node(&n);
        }
    }

    /// Counts a pod on a node, moving it if it was counted elsewhere.
    pub(crate) fn place(&mut self, info: Arc<PodInfo>, node: &str, assumed: bool) {
        let key = info.key();
        self.unplace(&key);
        if let Some(&i) = self.index.get(node) {
            self.nodes[i].add_pod(info.clone());
        }
        self.pods.insert(
            key,
            Placed {
                node: node.to_string(),
                assumed,
                info,
            },
        );
    }

    /// Stops counting a pod; true when it was counted.
    pub(crate) fn unplace(&mut self, key: &str) -> bool {
        let Some(p) = self.pods.remove(key) else {
            return false;
        };
        if let Some(&i) = self.index.get(&p.node) {
            self.nodes[i].remove_pod(&p.info.namespace, &p.info.name);
        }
        true
    }

    /// Stops counting a pod if it is still only assumed (its binding failed).
    pub(crate) fn forget_assumed(&mut self, key: &str) {
        if self.pods.get(key).is_some_and(|p| p.assumed) {
            self.unplace(key);
        }
    }

    /// Whether the pod is counted on this node already (as bound, not merely assumed), as
    /// terminating or not (a terminating pod is no longer a replica of its Services), and with
    /// the same move mark (where its replacement goes).
    pub(crate) fn is_bound_on(
        &self,
        key: &str,
        node: &str,
        terminating: bool,
        move_to: Option<&str>,
    ) -> bool {
        self.pods.get(key).is_some_and(|p| {
            !p.assumed
                && p.node == node
                && p.info.terminating == terminating
                && p.info.move_to.as_deref() == move_to
        })
    }

    /// The keys of every pod counted (for relists).
    pub(crate) fn pod_keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    /// The node a pod is counted on.
    #[cfg(test)]
    pub(crate) fn node_of(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|p| p.node.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use serde_json::json;

    fn node(name: &str, cpu: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"},
                "conditions": [{"type": "Ready", "status": "True"}]}}))
        .unwrap()
    }

    fn requested(c: &Cache, name: &str) -> i64 {
        c.nodes()
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.requested.cpu_milli)
            .unwrap()
    }

    #[test]
    fn pods_count_where_placed_and_survive_node_updates() {
        let mut c = Cache::default();
        assert!(c.apply_node(&node("a", "2")));
        assert!(c.apply_node(&node("b", "2")));
        c.place(Arc::new(pod("p", 500, 0)), "a", true);
        assert_eq!(requested(&c, "a"), 500);
        // A heartbeat that changes nothing keeps the accounting and reports no change.
        assert!(!c.apply_node(&node("a", "2")));
        assert_eq!(requested(&c, "a"), 500);
        assert!(c.apply_node(&node("a", "4")));
        assert_eq!(requested(&c, "a"), 500);
        // The watch says it went to b after all.
        c.place(Arc::new(pod("p", 500, 0)), "b", false);
        assert_eq!((requested(&c, "a"), requested(&c, "b")), (0, 500));
        assert!(c.is_bound_on("default/p", "b", false, None));
        assert!(
            !c.is_bound_on("default/p", "b", true, None),
            "becoming terminating is news"
        );
        c.forget_assumed("default/p");
        assert_eq!(requested(&c, "b"), 500);
        assert!(c.unplace("default/p"));
        assert_eq!(requested(&c, "b"), 0);
    }

    #[test]
    fn a_failed_binding_is_forgotten() {
        let mut c = Cache::default();
        c.apply_node(&node("a", "2"));
        c.place(Arc::new(pod("p", 500, 0)), "a", true);
        c.forget_assumed("default/p");
        assert_eq!(requested(&c, "a"), 0);
        assert_eq!(c.node_of("default/p"), None);
    }

    #[test]
    fn nodes_come_and_go_and_their_pods_count_again() {
        let mut c = Cache::default();
        c.place(Arc::new(pod("early", 300, 0)), "a", false);
        c.apply_node(&node("a", "2"));
        c.apply_node(&node("b", "2"));
        c.apply_node(&node("c", "2"));
        assert_eq!(requested(&c, "a"), 300);
        c.delete_node("a");
        assert_eq!(c.nodes().len(), 2);
        assert_eq!(requested(&c, "c"), 0);
        c.retain_nodes(&["c".to_string()].into());
        assert_eq!(c.nodes().len(), 1);
        assert_eq!(c.nodes()[0].name, "c");
        c.apply_node(&node("a", "2"));
        assert_eq!(requested(&c, "a"), 300);
    }
}
