//! What the scheduler needs to know about one pod, read once from the Pod object: its requests,
//! where it may go (selector, affinity, tolerations, runtime handler) and how it spreads.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::node_info::NodeInfo;
use crate::selector::{Labels, NodeTerm, PodSelector};
use crate::taint::Toleration;

/// The CPU a container without a CPU request counts for the resource *scores*, in millicores
/// (Kubernetes' `DefaultMilliCPURequest`, pkg/scheduler/util/pod_resources.go).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory a container without a memory request counts for the resource scores, in bytes
/// (Kubernetes' `DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of the resources the scheduler tracks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub cpu_milli: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// A number of pods.
    pub pods: i64,
}

impl Resources {
    /// Adds another amount to this one.
    pub fn add(&mut self, other: &Resources) {
        self.cpu_milli = self.cpu_milli.saturating_add(other.cpu_milli);
        self.memory = self.memory.saturating_add(other.memory);
        self.pods = self.pods.saturating_add(other.pods);
    }

    /// Takes another amount from this one.
    pub fn sub(&mut self, other: &Resources) {
        self.cpu_milli = self.cpu_milli.saturating_sub(other.cpu_milli);
        self.memory = self.memory.saturating_sub(other.memory);
        self.pods = self.pods.saturating_sub(other.pods);
    }

    fn max(&mut self, other: &Resources) {
        self.cpu_milli = self.cpu_milli.max(other.cpu_milli);
        self.memory = self.memory.max(other.memory);
    }
}

/// How a pod must (or should) spread over the values of a node label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpreadConstraint {
    /// The largest allowed difference between a domain's matching pods and the least loaded one.
    pub max_skew: i64,
    /// The node label whose values are the domains.
    pub topology_key: String,
    /// `DoNotSchedule` (a filter) rather than `ScheduleAnyway` (a score).
    pub hard: bool,
    /// Which pods count; `None` (no selector) counts none.
    pub selector: Option<PodSelector>,
}

impl SpreadConstraint {
    fn from_api(c: &TopologySpreadConstraint) -> SpreadConstraint {
        SpreadConstraint {
            max_skew: i64::from(c.max_skew.max(1)),
            topology_key: c.topology_key.clone(),
            hard: c.when_unsatisfiable != "ScheduleAnyway",
            selector: c.label_selector.as_ref().map(PodSelector::from_api),
        }
    }

    /// Whether a pod with these labels, in the constrained pod's namespace, counts.
    pub fn counts(&self, labels: &Labels) -> bool {
        self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}

/// One pod as the filters and scores see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodInfo {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The pod's UID (for events).
    pub uid: String,
    /// The pod's labels.
    pub labels: Labels,
    /// What the pod requests: containers summed, then raised to the largest init container,
    /// plus `spec.overhead`; `pods` is 1.
    pub requests: Resources,
    /// The same with Kubernetes' defaults for containers that request no cpu or memory.
    pub nonzero_requests: Resources,
    /// `spec.nodeSelector`.
    pub node_selector: Labels,
    /// The required node affinity terms (ORed); `None` when the pod states none.
    pub required_affinity: Option<Vec<NodeTerm>>,
    /// The preferred node affinity terms with their weights (1-100).
    pub preferred_affinity: Vec<(i64, NodeTerm)>,
    /// The pod's tolerations.
    pub tolerations: Vec<Toleration>,
    /// `spec.runtimeClassName`, the runtime handler the pod needs; `None` runs on any node's
    /// default handler.
    pub runtime_class: Option<String>,
    /// `spec.topologySpreadConstraints`.
    pub spread: Vec<SpreadConstraint>,
    /// `metadata.deletionTimestamp` is set: the pod still holds its resources but is going
    /// away, so it no longer counts as a replica of its Services.
    pub terminating: bool,
    /// `fog.brume.io/move-to`: the node the re-placement controller moves this replica to, so
    /// its replacement is sent there ([`crate::plugins::ReplicaMove`]).
    pub move_to: Option<String>,
}

/// The node a pod's replacement goes to (`fog.brume.io/move-to`), set while the pod is moved.
pub fn move_to(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()?
        .get(brume_api::placement::MOVE_TO_ANNOTATION)
        .map(String::as_str)
        .filter(|n| !n.is_empty())
}

impl PodInfo {
    /// Reads a pod.
    pub fn from_pod(pod: &Pod) -> PodInfo {
        let meta = &pod.metadata;
        let mut info = PodInfo {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            terminating: meta.deletion_timestamp.is_some(),
            move_to: move_to(meta).map(String::from),
            ..PodInfo::default()
        };
        let Some(spec) = pod.spec.as_ref() else {
            info.requests.pods = 1;
            info.nonzero_requests.pods = 1;
            return info;
        };
        let (mut requests, mut nonzero) = (Resources::default(), Resources::default());
        for c in &spec.containers {
            let (r, nz) = container_requests(c);
            requests.add(&r);
            nonzero.add(&nz);
        }
        for c in spec.init_containers.iter().flatten() {
            let (r, nz) = container_requests(c);
            requests.max(&r);
            nonzero.max(&nz);
        }
        if let Some(overhead) = &spec.overhead {
            let extra = amounts(overhead);
            requests.add(&extra);
            nonzero.add(&extra);
        }
        requests.pods = 1;
        nonzero.pods = 1;
        info.requests = requests;
        info.nonzero_requests = nonzero;
        info.node_selector = spec.node_selector.clone().unwrap_or_default();
        if let Some(na) = spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
        {
            info.required_affinity = na
                .required_during_scheduling_ignored_during_execution
                .as_ref()
                .map(|s| {
                    s.node_selector_terms
                        .iter()
                        .map(NodeTerm::from_api)
                        .collect()
                });
            info.preferred_affinity = na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .map(|p| (i64::from(p.weight), NodeTerm::from_api(&p.preference)))
                .collect();
        }
        info.tolerations = spec
            .tolerations
            .iter()
            .flatten()
            .map(Toleration::from_api)
            .collect();
        info.runtime_class = spec.runtime_class_name.clone().filter(|s| !s.is_empty());
        info.spread = spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(SpreadConstraint::from_api)
            .collect();
        info
    }

    /// `namespace/name`, the pod's key.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether the node satisfies the pod's `nodeSelector` and required node affinity
    /// (Kubernetes' `RequiredNodeAffinity.Match`).
    pub fn matches_node_selection(&self, node: &NodeInfo) -> bool {
        let selector_ok = self
            .node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v));
        selector_ok
            && self
                .required_affinity
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(&node.labels, &node.name)))
    }
}

/// A container's requests, and the same with the scoring defaults; a resource with a limit but
/// no request requests its limit, as Kubernetes' defaulting makes it.
fn container_requests(c: &Container) -> (Resources, Resources) {
    let res = c.resources.as_ref();
    let pick = |key: &str| {
        res.and_then(|r| r.requests.as_ref().and_then(|m| m.get(key)))
            .or_else(|| res.and_then(|r| r.limits.as_ref().and_then(|m| m.get(key))))
    };
    let cpu = pick("cpu").map(quantity_milli);
    let memory = pick("memory").map(quantity_units);
    let requests = Resources {
        cpu_milli: cpu.unwrap_or(0),
        memory: memory.unwrap_or(0),
        pods: 0,
    };
    let nonzero = Resources {
        cpu_milli: cpu.filter(|c| *c != 0).unwrap_or(DEFAULT_MILLI_CPU_REQUEST),
        memory: memory.filter(|m| *m != 0).unwrap_or(DEFAULT_MEMORY_REQUEST),
        pods: 0,
    };
    (requests, nonzero)
}

fn amounts(m: &BTreeMap<String, Quantity>) -> Resources {
    Resources {
        cpu_milli: m.get("cpu").map(quantity_milli).unwrap_or(0),
        memory: m.get("memory").map(quantity_units).unwrap_or(0),
        pods: 0,
    }
}

/// A quantity in thousandths (CPU in millicores); a malformed one counts as zero, since the API
/// server validated it already.
pub fn quantity_milli(q: &Quantity) -> i64 {
    brume_api::validation::parse_quantity(&q.0)
        .map(|q| clamp(q.as_milli()))
        .unwrap_or(0)
}

/// A quantity in units (bytes, pods), rounded up as Kubernetes' `Value` does.
pub fn quantity_units(q: &Quantity) -> i64 {
    brume_api::validation::parse_quantity(&q.0)
        .map(|q| clamp(q.as_units()))
        .unwrap_or(0)
}

fn clamp(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> PodInfo {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
            "spec": spec,
        }))
        .unwrap();
        PodInfo::from_pod(&pod)
    }

    #[test]
    fn containers_add_up_and_init_containers_raise_to_their_max() {
        let p = pod(json!({
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"limits": {"cpu": "1"}}},
            ],
            "initContainers": [
                {"name": "i", "resources": {"requests": {"cpu": "2", "memory": "1Mi"}}},
            ],
        }));
        assert_eq!(
            p.requests,
            Resources {
                cpu_milli: 2000,
                memory: 64 << 20,
                pods: 1
            }
        );
        // Container b requests no memory: the score default applies to it.
        assert_eq!(
            p.nonzero_requests.memory,
            (64 << 20) + DEFAULT_MEMORY_REQUEST
        );
    }

    #[test]
    fn placement_fields_are_read() {
        let p = pod(json!({
            "containers": [{"name": "a"}],
            "nodeSelector": {"disk": "ssd"},
            "runtimeClassName": "process",
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 5, "preference": {"matchExpressions": [
                        {"key": "zone", "operator": "Exists"}]}}]}},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "web"}}}],
        }));
        assert_eq!(p.key(), "ns/p");
        assert_eq!(p.requests.cpu_milli, 0);
        assert_eq!(p.nonzero_requests.cpu_milli, DEFAULT_MILLI_CPU_REQUEST);
        assert_eq!(p.node_selector.get("disk").map(String::as_str), Some("ssd"));
        assert_eq!(p.runtime_class.as_deref(), Some("process"));
        assert_eq!(p.tolerations.len(), 1);
        assert_eq!(p.required_affinity.as_ref().map(Vec::len), Some(1));
        assert_eq!(p.preferred_affinity[0].0, 5);
        assert!(p.spread[0].hard && p.spread[0].counts(&p.labels));
    }
}
