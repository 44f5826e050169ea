//! The metrics objects an agent writes, built from measured rates: a PodMetrics named and
//! labelled like its pod (the HPA controller and `kubectl top -l` select them by the pod's
//! labels) and owned by it, and a NodeMetrics owned by its Node, so the garbage collector
//! removes each with what it measures.

use std::collections::BTreeMap;
use std::time::Duration;

use brume_api::metrics::{
    CPU, ContainerMetrics, MEMORY, NodeMetrics, PodMetrics, Window, cpu_quantity, memory_quantity,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;

/// One container's usage over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerUsage {
    /// Its name in the pod.
    pub name: String,
    /// Average cores busy.
    pub cores: f64,
    /// Working set at the end of the window, in bytes.
    pub memory_bytes: u64,
}

fn usage(
    cores: f64,
    memory_bytes: u64,
) -> BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    BTreeMap::from([
        (CPU.to_string(), cpu_quantity(cores)),
        (MEMORY.to_string(), memory_quantity(memory_bytes)),
    ])
}

/// The PodMetrics of `pod` for its containers' usage over `window`, ending `at`.
pub fn pod_metrics(
    pod: &Pod,
    containers: &[ContainerUsage],
    window: Duration,
    at: Timestamp,
) -> PodMetrics {
    let meta = &pod.metadata;
    let name = meta.name.clone().unwrap_or_default();
    PodMetrics {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: meta.namespace.clone(),
            labels: meta.labels.clone(),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name,
                uid: meta.uid.clone().unwrap_or_default(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        timestamp: Some(Time(at)),
        window: Window(window),
        containers: containers
            .iter()
            .map(|c| ContainerMetrics {
                name: c.name.clone(),
                usage: usage(c.cores, c.memory_bytes),
            })
            .collect(),
    }
}

/// The NodeMetrics of `node` (owned by the Node of `node_uid` when known).
pub fn node_metrics(
    node: &str,
    node_uid: Option<&str>,
    cores: f64,
    memory_bytes: u64,
    window: Duration,
    at: Timestamp,
) -> NodeMetrics {
    NodeMetrics {
        metadata: ObjectMeta {
            name: Some(node.to_string()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node.to_string(),
                    uid: uid.to_string(),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        timestamp: Some(Time(at)),
        window: Window(window),
        usage: usage(cores, memory_bytes),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pod_metrics_are_named_labelled_and_owned_like_their_pod() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                "labels": {"app": "web"}}}))
        .unwrap();
        let at: Timestamp = "2026-12-03T07:00:15Z".parse().unwrap();
        let m = pod_metrics(
            &pod,
            &[ContainerUsage {
                name: "app".into(),
                cores: 0.5,
                memory_bytes: 1 << 20,
            }],
            Duration::from_millis(15_020),
            at,
        );
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "web-1",
                        "uid": "u-1"}]},
                "timestamp": "2026-12-03T07:00:15Z", "window": "15.02s",
                "containers": [{"name": "app",
                    "usage": {"cpu": "500000000n", "memory": "1048576"}}]})
        );
    }

    #[test]
    fn node_metrics_are_owned_by_the_node_when_its_uid_is_known() {
        let at: Timestamp = "2026-12-03T07:00:15Z".parse().unwrap();
        let m = node_metrics("n1", Some("u-n1"), 1.25, 2048, Duration::from_secs(15), at);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(v["usage"], json!({"cpu": "1250000000n", "memory": "2048"}));
        let orphan = node_metrics("n1", None, 0.0, 0, Duration::from_secs(15), at);
        assert!(orphan.metadata.owner_references.is_none());
    }
}
