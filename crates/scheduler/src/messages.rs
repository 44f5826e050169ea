//! The bodies the scheduler sends: a Binding, the `PodScheduled` condition patch and Events.
//! Pure, so their shape is tested without a server.

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use crate::SCHEDULER_NAME;
use crate::framework::PodInfo;

/// The `pods/<name>/binding` body that assigns the pod to the node.
pub(crate) fn binding(pod: &PodInfo, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    })
}

/// A strategic merge patch of the status that sets the `PodScheduled` condition (conditions
/// merge by `type`, so the pod's other conditions stay).
pub(crate) fn pod_scheduled(
    status: bool,
    reason: Option<&str>,
    message: Option<&str>,
    now: Timestamp,
) -> Value {
    let mut condition = json!({
        "type": "PodScheduled",
        "status": if status { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": now.to_string(),
    });
    if let Some(r) = reason {
        condition["reason"] = json!(r);
    }
    if let Some(m) = message {
        condition["message"] = json!(m);
    }
    json!({"status": {"conditions": [condition]}})
}

/// A core/v1 Event about the pod from the scheduler, named as client-go's recorder names
/// events (`<pod>.<nanoseconds in hex>`).
pub(crate) fn event(
    pod: &PodInfo,
    type_: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Event {
    let value = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{}.{:x}", pod.name, now.as_nanosecond()),
            "namespace": pod.namespace,
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod.name,
            "namespace": pod.namespace,
            "uid": pod.uid,
        },
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": SCHEDULER_NAME},
        "reportingComponent": SCHEDULER_NAME,
        "reportingInstance": SCHEDULER_NAME,
        "firstTimestamp": now.to_string(),
        "lastTimestamp": now.to_string(),
        "count": 1,
    });
    serde_json::from_value(value).expect("the event literal matches core/v1 Event")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;

    #[test]
    fn the_binding_targets_the_node() {
        let b = binding(&pod("p", 0, 0), "n1");
        assert_eq!(b["kind"], "Binding");
        assert_eq!(b["metadata"]["name"], "p");
        assert_eq!(
            b["target"],
            json!({"apiVersion": "v1", "kind": "Node", "name": "n1"})
        );
    }

    #[test]
    fn the_event_names_the_pod_and_the_scheduler() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let e = event(
            &pod("p", 0, 0),
            "Warning",
            "FailedScheduling",
            "0/1 nodes",
            now,
        );
        assert_eq!(e.involved_object.name.as_deref(), Some("p"));
        assert_eq!(e.involved_object.kind.as_deref(), Some("Pod"));
        assert_eq!(e.reason.as_deref(), Some("FailedScheduling"));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(
            e.source.and_then(|s| s.component).as_deref(),
            Some("default-scheduler")
        );
        assert_eq!(e.metadata.name.as_deref(), Some("p.17979cfe362a0000"));
        let patch = pod_scheduled(false, Some("Unschedulable"), Some("m"), now);
        let c = &patch["status"]["conditions"][0];
        assert_eq!(
            (c["type"].as_str(), c["status"].as_str()),
            (Some("PodScheduled"), Some("False"))
        );
        assert_eq!(c["reason"], "Unschedulable");
    }
}
