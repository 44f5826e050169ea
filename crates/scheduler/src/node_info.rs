//! What the scheduler knows about one node: the facts read from the Node object plus the
//! resources taken by the pods bound (or assumed) there.

use std::sync::Arc;

use brume_fog::NodeLocation;
use k8s_openapi::api::core::v1::Node;

use crate::pod_info::{PodInfo, Resources, quantity_milli, quantity_units};
use crate::selector::Labels;
use crate::taint::Taint;

/// The node annotation listing the runtime handlers the node's agent offers, comma-separated
/// (`docker,process`).
pub const RUNTIME_HANDLERS_ANNOTATION: &str = "fog.brume.io/runtime-handlers";
/// The well-known label holding the node's CPU architecture.
pub const ARCH_LABEL: &str = "kubernetes.io/arch";
/// The well-known label holding the node's operating system.
pub const OS_LABEL: &str = "kubernetes.io/os";

/// One node as the filters and scores see it.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// The node's labels.
    pub labels: Labels,
    /// Its taints with a known effect.
    pub taints: Vec<Taint>,
    /// `status.allocatable` (or `status.capacity` when absent): cpu in millicores, memory in
    /// bytes, and the pod count.
    pub allocatable: Resources,
    /// What the pods on the node request; `pods` is their count.
    pub requested: Resources,
    /// Like `requested`, but a container without a request counts Kubernetes' default (see
    /// [`PodInfo::nonzero_requests`]); the resource scores use it so best-effort pods still spread.
    pub nonzero_requested: Resources,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// The `kubernetes.io/arch` label.
    pub arch: Option<String>,
    /// The `kubernetes.io/os` label.
    pub os: Option<String>,
    /// The runtime handlers from the `fog.brume.io/runtime-handlers` annotation.
    pub runtime_handlers: Vec<String>,
    /// Where the node is: its Vivaldi coordinate, GPS position and zone/region labels, as far
    /// as its metadata tells (an annotation that does not parse is left out).
    pub location: NodeLocation,
    /// The pods bound or assumed here (for topology spread counts).
    pub pods: Vec<Arc<PodInfo>>,
}

impl NodeInfo {
    /// Reads the node's facts; it starts with no pods.
    pub fn from_node(node: &Node) -> NodeInfo {
        let mut info = NodeInfo::default();
        info.set_node(node);
        info
    }

    /// Replaces the facts read from the Node object, keeping the pod accounting.
    pub fn set_node(&mut self, node: &Node) {
        let meta = &node.metadata;
        self.name = meta.name.clone().unwrap_or_default();
        self.labels = meta.labels.clone().unwrap_or_default();
        self.arch = self.labels.get(ARCH_LABEL).cloned();
        self.os = self.labels.get(OS_LABEL).cloned();
        self.runtime_handlers = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(RUNTIME_HANDLERS_ANNOTATION))
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        self.location =
            NodeLocation::from_metadata(meta.annotations.as_ref(), meta.labels.as_ref()).0;
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.taints = spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter_map(Taint::from_api)
            .collect();
        let status = node.status.as_ref();
        let amounts = status.and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()));
        let get = |k: &str| amounts.and_then(|a| a.get(k));
        self.allocatable = Resources {
            cpu_milli: get("cpu").map(quantity_milli).unwrap_or(0),
            memory: get("memory").map(quantity_units).unwrap_or(0),
            pods: get("pods").map(quantity_units).unwrap_or(0),
        };
        self.ready = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
    }

    /// Whether two infos differ in a fact that can change where pods fit (everything but the
    /// pod accounting). Heartbeats that change nothing here do not retry unschedulable pods.
    /// The location is left out: it only scores, and coordinates move with every Vivaldi
    /// update, which would retry every unschedulable pod for nothing.
    pub fn facts_differ(&self, other: &NodeInfo) -> bool {
        self.name != other.name
            || self.labels != other.labels
            || self.taints != other.taints
            || self.allocatable != other.allocatable
            || self.unschedulable != other.unschedulable
            || self.ready != other.ready
            || self.runtime_handlers != other.runtime_handlers
    }

    /// Counts a pod on the node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.nonzero_requested.add(&pod.nonzero_requests);
        self.pods.push(pod);
    }

    /// Stops counting the pod `namespace/name`; false when it was not counted here.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> bool {
        let Some(at) = self
            .pods
            .iter()
            .position(|p| p.name == name && p.namespace == namespace)
        else {
            return false;
        };
        let pod = self.pods.swap_remove(at);
        self.requested.sub(&pod.requests);
        self.nonzero_requested.sub(&pod.nonzero_requests);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_is_read_with_its_handlers_arch_and_readiness() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1",
                "labels": {"kubernetes.io/arch": "arm64", "kubernetes.io/os": "linux",
                    "topology.kubernetes.io/zone": "z1"},
                "annotations": {"fog.brume.io/runtime-handlers": "docker, process",
                    "fog.brume.io/coordinates": r#"{"vector": [3.0, 4.0], "height": 1.0, "error": 0.2}"#}},
            "spec": {"unschedulable": true,
                "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "1500m", "memory": "2Gi", "pods": "10"},
                "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let n = NodeInfo::from_node(&node);
        assert_eq!(n.name, "n1");
        assert_eq!(n.arch.as_deref(), Some("arm64"));
        assert_eq!(n.os.as_deref(), Some("linux"));
        assert_eq!(n.runtime_handlers, ["docker", "process"]);
        assert!(n.unschedulable && n.ready);
        assert_eq!(n.taints.len(), 1);
        assert_eq!(n.location.zone.as_deref(), Some("z1"));
        assert_eq!(
            n.location.coordinate.as_ref().map(|c| c.vector.clone()),
            Some(vec![3.0, 4.0])
        );
        assert_eq!(
            n.allocatable,
            Resources {
                cpu_milli: 1500,
                memory: 2 << 30,
                pods: 10
            }
        );
    }

    #[test]
    fn pods_are_counted_and_uncounted() {
        let mut n = NodeInfo::default();
        let pod = PodInfo {
            namespace: "ns".into(),
            name: "p".into(),
            requests: Resources {
                cpu_milli: 200,
                memory: 0,
                pods: 1,
            },
            nonzero_requests: Resources {
                cpu_milli: 200,
                memory: crate::pod_info::DEFAULT_MEMORY_REQUEST,
                pods: 1,
            },
            ..PodInfo::default()
        };
        n.add_pod(Arc::new(pod));
        assert_eq!(n.requested.cpu_milli, 200);
        assert_eq!(n.requested.pods, 1);
        assert!(n.nonzero_requested.memory > 0);
        assert!(!n.remove_pod("ns", "other"));
        assert!(n.remove_pod("ns", "p"));
        assert_eq!(n.requested, Resources::default());
        assert_eq!(n.nonzero_requested, Resources::default());
    }
}
