//! Rows of the cluster's own bookkeeping: Nodes, Namespaces, Events and Leases.

use brume_fog::{COORDINATES_ANNOTATION, Coordinate};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::format::{
    AGE, NAME, NONE, UNKNOWN, age, col, int, items, name, object, or_none, since, some_text, text,
    time, wide,
};

/// Node columns, as Kubernetes' node printer declares them.
pub(super) const NODE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col(
        "Version",
        "string",
        "The version of the node agent (kubelet) the node runs.",
    ),
    wide(
        "Internal-IP",
        "string",
        "The node's first InternalIP address.",
    ),
    wide(
        "External-IP",
        "string",
        "The node's first ExternalIP address.",
    ),
    wide(
        "OS-Image",
        "string",
        "The operating system the node reports (/etc/os-release).",
    ),
    wide(
        "Kernel-Version",
        "string",
        "The kernel version the node reports (uname -r).",
    ),
    wide(
        "Container-Runtime",
        "string",
        "The container runtime and its version, as the node reports them.",
    ),
    wide(
        "Coord-Error",
        "string",
        "The relative error the node estimates for its Vivaldi coordinate (annotation \
         fog.brume.io/coordinates): 0 is sure, 1.5 is no idea yet.",
    ),
];

/// The label prefix that gives a node a role (`node-role.kubernetes.io/edge`).
const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
/// The older label whose value is a node's role.
const ROLE_LABEL: &str = "kubernetes.io/role";

/// The cells of one node.
pub(super) fn node(node: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Only the Ready condition speaks for the node; the last one listed wins.
    let ready = items(node, "/status/conditions")
        .iter()
        .rfind(|c| text(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if text(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push("SchedulingDisabled");
    }
    let address = |kind: &str| {
        let found = items(node, "/status/addresses")
            .iter()
            .find(|a| text(a, "/type") == kind);
        or_none(found.map_or("", |a| text(a, "/address")))
    };
    let info = |field: &str| {
        let value = text(node, &format!("/status/nodeInfo/{field}"));
        if value.is_empty() { UNKNOWN } else { value }.to_string()
    };
    vec![
        name(node),
        json!(status.join(",")),
        json!(or_none(&roles(node).join(","))),
        age(node, now),
        json!(text(node, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info("osImage")),
        json!(info("kernelVersion")),
        json!(info("containerRuntimeVersion")),
        json!(coordinate_error(node)),
    ]
}

/// The error of the node's published Vivaldi coordinate with two decimals, or `<none>` when the
/// annotation is absent or does not parse (an agent that has not measured yet, or a bad write).
fn coordinate_error(node: &Value) -> String {
    node.pointer("/metadata/annotations")
        .and_then(|a| a.get(COORDINATES_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|text| Coordinate::from_annotation(text).ok())
        .map_or_else(|| NONE.to_string(), |c| format!("{:.2}", c.error))
}

/// The node's roles, sorted and without repeats: from `node-role.kubernetes.io/<role>` label
/// keys and from the value of `kubernetes.io/role`.
fn roles(node: &Value) -> Vec<&str> {
    let Some(labels) = node.pointer("/metadata/labels").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut roles: Vec<&str> = labels
        .iter()
        .filter_map(|(key, value)| match key.strip_prefix(ROLE_PREFIX) {
            Some(role) => Some(role),
            None if key == ROLE_LABEL => value.as_str(),
            None => None,
        })
        .filter(|role| !role.is_empty())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    roles
}

/// Namespace columns.
pub(super) const NAMESPACE: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

/// The cells of one namespace.
pub(super) fn namespace(ns: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // The server sets the phase on create and on delete; derive it if nobody has yet.
    let phase = some_text(ns, "/status/phase").unwrap_or_else(|| {
        match ns.pointer("/metadata/deletionTimestamp") {
            Some(t) if !t.is_null() => "Terminating",
            _ => "Active",
        }
    });
    vec![name(ns), json!(phase), age(ns, now)]
}

/// Event columns, in Kubernetes' order: the wide ones sit between the default ones.
pub(super) const EVENT: &[Column] = &[
    col(
        "Last Seen",
        "string",
        "How long ago the event was last seen.",
    ),
    col("Type", "string", "The type of the event (Normal, Warning)."),
    col(
        "Reason",
        "string",
        "Why the event happened, in UpperCamelCase.",
    ),
    col(
        "Object",
        "string",
        "The object the event is about, as kind/name.",
    ),
    wide(
        "Subobject",
        "string",
        "The part of the object the event is about (fieldPath).",
    ),
    wide(
        "Source",
        "string",
        "The component, and host, that reported the event.",
    ),
    col(
        "Message",
        "string",
        "A human-readable description of the event.",
    ),
    wide(
        "First Seen",
        "string",
        "How long ago the event was first seen.",
    ),
    wide("Count", "string", "How many times the event has occurred."),
    Column {
        priority: 1,
        ..NAME
    },
];

/// The cells of one event.
pub(super) fn event(ev: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Events from events.k8s.io carry eventTime and a series instead of the old timestamps.
    let first = time(ev, "/firstTimestamp").or_else(|| time(ev, "/eventTime"));
    let first_seen = since(first, now);
    let mut last_seen = match time(ev, "/lastTimestamp") {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = int(ev, "/count");
    if let Some(series) = object(ev, "/series") {
        last_seen = since(time(series, "/lastObservedTime"), now);
        count = int(series, "/count");
    } else if count == 0 {
        // A singleton event of the new API has no count.
        count = 1;
    }
    let kind = text(ev, "/involvedObject/kind").to_lowercase();
    let object = match some_text(ev, "/involvedObject/name") {
        Some(name) => format!("{kind}/{name}"),
        None => kind,
    };
    let component = some_text(ev, "/source/component")
        .or_else(|| some_text(ev, "/reportingComponent"))
        .unwrap_or("");
    let source = match some_text(ev, "/source/host").or_else(|| some_text(ev, "/reportingInstance"))
    {
        Some(instance) => format!("{component}, {instance}"),
        None => component.to_string(),
    };
    vec![
        json!(last_seen),
        json!(text(ev, "/type")),
        json!(text(ev, "/reason")),
        json!(object),
        json!(text(ev, "/involvedObject/fieldPath")),
        json!(source),
        json!(text(ev, "/message").trim()),
        json!(first_seen),
        json!(count),
        name(ev),
    ]
}

/// Lease columns.
pub(super) const LEASE: &[Column] = &[
    NAME,
    col(
        "Holder",
        "string",
        "The identity of the lease's current holder.",
    ),
    AGE,
];

/// The cells of one lease.
pub(super) fn lease(lease: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(lease),
        json!(text(lease, "/spec/holderIdentity")),
        age(lease, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::{kind, now};
    use super::*;
    use crate::table::{columns, row};

    fn node_obj(ready: &str, unschedulable: bool) -> Value {
        json!({
            "metadata": {"name": "edge-3", "creationTimestamp": "2025-05-29T08:00:00Z",
                "labels": {"node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/gateway": "",
                    "kubernetes.io/role": "edge", "topology.kubernetes.io/zone": "lyon"},
                "annotations": {"fog.brume.io/coordinates":
                    "{\"vector\":[1.5,-2],\"height\":0.4,\"error\":0.2711}"}},
            "spec": {"unschedulable": unschedulable},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"},
                    {"type": "Ready", "status": ready, "reason": "NodeStatusUnknown"}],
                "addresses": [{"type": "Hostname", "address": "edge-3"},
                    {"type": "InternalIP", "address": "127.0.0.4"}],
                "nodeInfo": {"kubeletVersion": "brume-0.1.0", "osImage": "Debian GNU/Linux 12",
                    "kernelVersion": "6.1.0-18-arm64", "containerRuntimeVersion": "docker://27.1.1"}
            }
        })
    }

    #[test]
    fn not_ready_cordoned_node() {
        let cells = row(kind("Node"), &node_obj("Unknown", true), now());
        assert_eq!(
            cells,
            [
                "edge-3",
                "NotReady,SchedulingDisabled",
                "edge,gateway",
                "3d4h",
                "brume-0.1.0",
                "127.0.0.4",
                "<none>",
                "Debian GNU/Linux 12",
                "6.1.0-18-arm64",
                "docker://27.1.1",
                "0.27"
            ]
        );
    }

    #[test]
    fn ready_node_and_node_without_conditions() {
        let cells = row(kind("Node"), &node_obj("True", false), now());
        assert_eq!(cells[1], "Ready");
        let bare = json!({"metadata": {"name": "n"}});
        let cells = row(kind("Node"), &bare, now());
        assert_eq!(cells[1..4], ["Unknown", "<none>", "<unknown>"]);
        assert_eq!(
            cells[7..],
            ["<unknown>", "<unknown>", "<unknown>", "<none>"]
        );
    }

    #[test]
    fn coordinate_error_is_shown_wide_and_none_when_unreadable() {
        let col = columns(kind("Node"))
            .into_iter()
            .find(|c| c.name == "Coord-Error")
            .unwrap();
        assert_eq!(col.priority, 1);
        let with = |text: &str| json!({"metadata": {"name": "n", "annotations": {"fog.brume.io/coordinates": text}}});
        let error = |node: &Value| row(kind("Node"), node, now())[10].clone();
        assert_eq!(
            error(&with(r#"{"vector":[1,2],"height":0.5,"error":1.5}"#)),
            "1.50"
        );
        assert_eq!(
            error(&with(r#"{"vector":[1,2],"height":0.5,"error":0.126}"#)),
            "0.13"
        );
        for bad in [
            "not json",
            r#"{"vector":[1],"height":0,"error":0.2}"#,
            r#"{"error":0.2}"#,
        ] {
            assert_eq!(error(&with(bad)), "<none>", "{bad}");
        }
        let not_text = json!({"metadata": {"annotations": {"fog.brume.io/coordinates": 3}}});
        assert_eq!(error(&not_text), "<none>");
    }

    #[test]
    fn namespace_shows_its_phase() {
        let ns = json!({"metadata": {"name": "fog", "creationTimestamp": "2025-06-01T11:59:55Z"},
            "status": {"phase": "Terminating"}});
        assert_eq!(
            row(kind("Namespace"), &ns, now()),
            ["fog", "Terminating", "5s"]
        );
        let fresh = json!({"metadata": {"name": "new"}});
        assert_eq!(row(kind("Namespace"), &fresh, now())[1], "Active");
    }

    #[test]
    fn event_about_a_pod() {
        let ev = json!({
            "metadata": {"name": "web-1.17d9a1c2b3", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
            "type": "Warning", "reason": "BackOff",
            "message": "Back-off restarting failed container app\n",
            "source": {"component": "kubelet", "host": "edge-1"},
            "firstTimestamp": "2025-06-01T11:40:00Z", "lastTimestamp": "2025-06-01T11:58:30Z",
            "count": 7
        });
        let names: Vec<_> = columns(kind("Event")).iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        assert_eq!(
            row(kind("Event"), &ev, now()),
            [
                json!("90s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web-1"),
                json!("spec.containers{app}"),
                json!("kubelet, edge-1"),
                json!("Back-off restarting failed container app"),
                json!("20m"),
                json!(7),
                json!("web-1.17d9a1c2b3")
            ]
        );
    }

    #[test]
    fn new_style_event_uses_event_time_and_series() {
        let ev = json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Node"},
            "type": "Normal", "reason": "Moved",
            "reportingComponent": "fog-replacer",
            "eventTime": "2025-06-01T11:00:00.000000Z",
            "series": {"count": 3, "lastObservedTime": "2025-06-01T11:59:00.000000Z"}
        });
        let cells = row(kind("Event"), &ev, now());
        assert_eq!(cells[0], "60s");
        assert_eq!(cells[3], "node");
        assert_eq!(cells[5], "fog-replacer");
        assert_eq!(cells[7], "60m");
        assert_eq!(cells[8], 3);
        let singleton = json!({"metadata": {"name": "s"}, "eventTime": "2025-06-01T11:59:59.5Z"});
        let cells = row(kind("Event"), &singleton, now());
        assert_eq!(
            (cells[0].clone(), cells[8].clone()),
            (json!("0s"), json!(1))
        );
    }

    #[test]
    fn lease_shows_its_holder() {
        let lease = json!({"metadata": {"name": "edge-1", "namespace": "kube-node-lease",
            "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"holderIdentity": "edge-1", "leaseDurationSeconds": 10}});
        assert_eq!(
            row(kind("Lease"), &lease, now()),
            ["edge-1", "edge-1", "60m"]
        );
    }
}
