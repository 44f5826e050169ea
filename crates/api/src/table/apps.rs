//! Rows of the workload controllers and what scales them: Deployments, ReplicaSets, DaemonSets
//! and HorizontalPodAutoscalers.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::format::{
    AGE, NAME, NONE, UNKNOWN, age, col, containers, int, items, labels, name, object, quantity,
    selector, selector_or_none, text, wide,
};

const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";
const SELECTOR_DOC: &str = "The label selector of the pods this object manages.";

/// `spec.replicas`, or 1 (the server's default) when unset.
fn desired(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Deployment columns.
pub(super) const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col(
        "Up-to-date",
        "string",
        "How many replicas run the latest pod template.",
    ),
    col(
        "Available",
        "string",
        "How many replicas have been ready for at least minReadySeconds.",
    ),
    AGE,
    wide("Containers", "string", CONTAINERS_DOC),
    wide("Images", "string", IMAGES_DOC),
    wide("Selector", "string", SELECTOR_DOC),
];

/// The cells of one deployment.
pub(super) fn deployment(d: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers(&d["spec"]["template"]["spec"]);
    // Unlike the other workloads, Kubernetes prints a deployment's selector without the
    // `<none>` placeholder, and `<invalid>` when it cannot be parsed.
    let selector = match object(d, "/spec/selector") {
        Some(sel) => selector(sel).unwrap_or_else(|| "<invalid>".to_string()),
        None => String::new(),
    };
    vec![
        name(d),
        json!(format!(
            "{}/{}",
            int(d, "/status/readyReplicas"),
            desired(d)
        )),
        json!(int(d, "/status/updatedReplicas")),
        json!(int(d, "/status/availableReplicas")),
        age(d, now),
        names,
        images,
        json!(selector),
    ]
}

/// ReplicaSet columns.
pub(super) const REPLICA_SET: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "How many pods the replica set should run.",
    ),
    col(
        "Current",
        "integer",
        "How many pods the replica set runs now.",
    ),
    col("Ready", "integer", "How many of its pods are ready."),
    AGE,
    wide("Containers", "string", CONTAINERS_DOC),
    wide("Images", "string", IMAGES_DOC),
    wide("Selector", "string", SELECTOR_DOC),
];

/// The cells of one replica set.
pub(super) fn replica_set(rs: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers(&rs["spec"]["template"]["spec"]);
    vec![
        name(rs),
        json!(desired(rs)),
        json!(int(rs, "/status/replicas")),
        json!(int(rs, "/status/readyReplicas")),
        age(rs, now),
        names,
        images,
        json!(selector_or_none(rs.pointer("/spec/selector"))),
    ]
}

/// DaemonSet columns.
pub(super) const DAEMON_SET: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "How many nodes should run the daemon pod.",
    ),
    col(
        "Current",
        "integer",
        "How many nodes run at least one daemon pod.",
    ),
    col("Ready", "integer", "How many nodes run a ready daemon pod."),
    col(
        "Up-to-date",
        "integer",
        "How many nodes run the latest daemon pod template.",
    ),
    col(
        "Available",
        "integer",
        "How many nodes run a daemon pod available for minReadySeconds.",
    ),
    col(
        "Node Selector",
        "string",
        "The labels a node needs to run the daemon pod.",
    ),
    AGE,
    wide("Containers", "string", CONTAINERS_DOC),
    wide("Images", "string", IMAGES_DOC),
    wide("Selector", "string", SELECTOR_DOC),
];

/// The cells of one daemon set.
pub(super) fn daemon_set(ds: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let pod_spec = &ds["spec"]["template"]["spec"];
    let (names, images) = containers(pod_spec);
    vec![
        name(ds),
        json!(int(ds, "/status/desiredNumberScheduled")),
        json!(int(ds, "/status/currentNumberScheduled")),
        json!(int(ds, "/status/numberReady")),
        json!(int(ds, "/status/updatedNumberScheduled")),
        json!(int(ds, "/status/numberAvailable")),
        json!(labels(pod_spec.get("nodeSelector"))),
        age(ds, now),
        names,
        images,
        json!(selector_or_none(ds.pointer("/spec/selector"))),
    ]
}

/// HorizontalPodAutoscaler columns.
pub(super) const HPA: &[Column] = &[
    NAME,
    col(
        "Reference",
        "string",
        "The object being scaled, as Kind/name.",
    ),
    col(
        "Targets",
        "string",
        "The first metrics, each as current/target.",
    ),
    col(
        "MinPods",
        "string",
        "The fewest replicas the autoscaler may scale down to.",
    ),
    col(
        "MaxPods",
        "string",
        "The most replicas the autoscaler may scale up to.",
    ),
    col(
        "Replicas",
        "string",
        "How many replicas the target runs now.",
    ),
    AGE,
];

/// The cells of one autoscaler.
pub(super) fn hpa(h: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let target = &h["spec"]["scaleTargetRef"];
    let min_pods = match h.pointer("/spec/minReplicas").and_then(Value::as_i64) {
        Some(n) => n.to_string(),
        None => "<unset>".to_string(),
    };
    vec![
        name(h),
        json!(format!(
            "{}/{}",
            text(target, "/kind"),
            text(target, "/name")
        )),
        json!(metrics(h)),
        json!(min_pods),
        json!(int(h, "/spec/maxReplicas")),
        json!(int(h, "/status/currentReplicas")),
        age(h, now),
    ]
}

/// The Targets cell: the first two metrics as "current/target" (resource metrics prefixed with
/// their resource, "cpu: 42%/80%"), then " + N more...". A metric's status is the entry at the
/// same index of `status.currentMetrics`, as in Kubernetes.
fn metrics(h: &Value) -> String {
    let specs = items(h, "/spec/metrics");
    if specs.is_empty() {
        return NONE.to_string();
    }
    let statuses = items(h, "/status/currentMetrics");
    let shown: Vec<String> = specs
        .iter()
        .take(2)
        .enumerate()
        .map(|(i, spec)| metric(spec, statuses.get(i)))
        .collect();
    let shown = shown.join(", ");
    if specs.len() > 2 {
        format!("{shown} + {} more...", specs.len() - 2)
    } else {
        shown
    }
}

/// One metric as "current/target".
fn metric(spec: &Value, status: Option<&Value>) -> String {
    // The source block of the spec and the status share their name: `resource`, `pods`, ...
    let source = match text(spec, "/type") {
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        "Pods" => "pods",
        "Object" => "object",
        "External" => "external",
        _ => return "<unknown type>".to_string(),
    };
    let target = &spec[source]["target"];
    let current = status.and_then(|s| object(s, &format!("/{source}")));
    let now_at = |field: &str| {
        current
            .and_then(|c| quantity(c.pointer(&format!("/current/{field}"))))
            .unwrap_or_else(|| UNKNOWN.to_string())
    };
    let average = quantity(target.get("averageValue"));
    match source {
        "resource" | "containerResource" => {
            let resource = text(&spec[source], "/name");
            match average {
                Some(avg) => format!("{resource}: {}/{avg}", now_at("averageValue")),
                None => {
                    let percent =
                        |v: Option<&Value>| v.and_then(Value::as_i64).map(|p| format!("{p}%"));
                    let cur =
                        percent(current.and_then(|c| c.pointer("/current/averageUtilization")))
                            .unwrap_or_else(|| UNKNOWN.to_string());
                    let goal = percent(target.get("averageUtilization"))
                        .unwrap_or_else(|| "<auto>".to_string());
                    format!("{resource}: {cur}/{goal}")
                }
            }
        }
        "pods" => format!("{}/{}", now_at("averageValue"), average.unwrap_or_default()),
        // Object and External targets are either an average per pod or one value.
        _ => match average {
            Some(avg) => format!("{}/{avg} (avg)", now_at("averageValue")),
            None => {
                let value = quantity(target.get("value")).unwrap_or_default();
                format!("{}/{value}", now_at("value"))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{kind, now};
    use super::*;
    use crate::table::row;

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "app", "image": "registry.local/web:2"},
            {"name": "proxy", "image": "envoy:1.31"}]}})
    }

    #[test]
    fn deployment_mid_rollout() {
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:15:00Z", "generation": 4},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
            "status": {"observedGeneration": 4, "replicas": 4, "updatedReplicas": 1,
                "readyReplicas": 2, "availableReplicas": 2, "unavailableReplicas": 2}
        });
        assert_eq!(
            row(kind("Deployment"), &d, now()),
            [
                json!("web"),
                json!("2/3"),
                json!(1),
                json!(2),
                json!("45m"),
                json!("app,proxy"),
                json!("registry.local/web:2,envoy:1.31"),
                json!("app=web")
            ]
        );
    }

    #[test]
    fn new_deployment_defaults_to_one_replica() {
        let d = json!({"metadata": {"name": "api"}, "spec": {"template": template()}});
        let cells = row(kind("Deployment"), &d, now());
        assert_eq!(cells[1..4], [json!("0/1"), json!(0), json!(0)]);
        assert_eq!(cells[7], "");
    }

    #[test]
    fn replica_set_counts_and_selector() {
        let rs = json!({
            "metadata": {"name": "web-7d4b9c8f6", "creationTimestamp": "2025-06-01T11:15:00Z"},
            "spec": {"replicas": 3, "template": template(),
                "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9c8f6"}}},
            "status": {"replicas": 3, "readyReplicas": 1}
        });
        assert_eq!(
            row(kind("ReplicaSet"), &rs, now()),
            [
                json!("web-7d4b9c8f6"),
                json!(3),
                json!(3),
                json!(1),
                json!("45m"),
                json!("app,proxy"),
                json!("registry.local/web:2,envoy:1.31"),
                json!("app=web,pod-template-hash=7d4b9c8f6")
            ]
        );
    }

    #[test]
    fn daemon_set_shows_node_selector() {
        let mut tpl = template();
        tpl["spec"]["nodeSelector"] =
            json!({"node-role.kubernetes.io/edge": "", "kubernetes.io/os": "linux"});
        let ds = json!({
            "metadata": {"name": "prober", "creationTimestamp": "2025-05-30T12:00:00Z"},
            "spec": {"selector": {"matchLabels": {"app": "prober"}}, "template": tpl},
            "status": {"desiredNumberScheduled": 5, "currentNumberScheduled": 5, "numberReady": 4,
                "updatedNumberScheduled": 5, "numberAvailable": 4}
        });
        assert_eq!(
            row(kind("DaemonSet"), &ds, now())[1..8],
            [
                json!(5),
                json!(5),
                json!(4),
                json!(5),
                json!(4),
                json!("kubernetes.io/os=linux,node-role.kubernetes.io/edge="),
                json!("2d")
            ]
        );
        let bare = json!({"metadata": {"name": "b"}});
        assert_eq!(row(kind("DaemonSet"), &bare, now())[6], "<none>");
    }

    #[test]
    fn hpa_targets_show_current_over_target() {
        let h = json!({
            "metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10, "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80}}},
                    {"type": "Resource", "resource": {"name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "512Mi"}}}]},
            "status": {"currentReplicas": 3, "desiredReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": 42, "averageValue": "210m"}}}]}
        });
        assert_eq!(
            row(kind("HorizontalPodAutoscaler"), &h, now()),
            [
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 42%/80%, memory: <unknown>/512Mi"),
                json!("2"),
                json!(10),
                json!(3),
                json!("60m")
            ]
        );
    }

    #[test]
    fn hpa_without_metrics_or_min_and_with_many_metrics() {
        let bare = json!({"metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 4}});
        let cells = row(kind("HorizontalPodAutoscaler"), &bare, now());
        assert_eq!(
            cells[1..6],
            [
                json!("Deployment/api"),
                json!("<none>"),
                json!("<unset>"),
                json!(4),
                json!(0)
            ]
        );

        let many = json!({"metadata": {"name": "h"}, "spec": {"metrics": [
            {"type": "Pods", "pods": {"metric": {"name": "rps"},
                "target": {"type": "AverageValue", "averageValue": "100"}}},
            {"type": "External", "external": {"metric": {"name": "queue"},
                "target": {"type": "Value", "value": "30"}}},
            {"type": "Object", "object": {"metric": {"name": "hits"},
                "target": {"type": "AverageValue", "averageValue": "5"}}}]},
            "status": {"currentMetrics": [
                {"type": "Pods", "pods": {"current": {"averageValue": "87"}}},
                {"type": "External", "external": {"current": {"value": "12"}}}]}});
        let cells = row(kind("HorizontalPodAutoscaler"), &many, now());
        assert_eq!(cells[2], "87/100, 12/30 + 1 more...");
    }

    #[test]
    fn hpa_object_average_and_unknown_types() {
        let spec = json!({"type": "Object", "object": {"target": {"averageValue": "5"}}});
        assert_eq!(metric(&spec, None), "<unknown>/5 (avg)");
        let spec = json!({"type": "ContainerResource", "containerResource": {"name": "cpu",
            "container": "app", "target": {"type": "Utilization"}}});
        assert_eq!(metric(&spec, None), "cpu: <unknown>/<auto>");
        assert_eq!(metric(&json!({"type": "Latency"}), None), "<unknown type>");
    }
}
