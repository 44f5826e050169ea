//! Rows of the metrics.k8s.io kinds: a pod's or a node's usage over its window, summed over a
//! pod's containers, in `kubectl top`'s units (millicores, mebibytes). The metrics-server's
//! table has the same columns (name, cpu, memory, window).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::format::{NAME, UNKNOWN, col, name, text};
use crate::metrics::{CPU, MEMORY, NodeMetrics, PodMetrics, top_cpu, top_memory};

/// PodMetrics columns.
pub(super) const POD_METRICS: &[Column] = &[
    NAME,
    col(
        "CPU",
        "string",
        "The CPU the pod's containers used over the window, in millicores.",
    ),
    col(
        "Memory",
        "string",
        "The working set of the pod's containers at the end of the window, in MiB.",
    ),
    col("Window", "string", "How long the usage was measured over."),
];

/// NodeMetrics columns.
pub(super) const NODE_METRICS: &[Column] = &[
    NAME,
    col(
        "CPU",
        "string",
        "The CPU the node used over the window, in millicores.",
    ),
    col(
        "Memory",
        "string",
        "The node's memory working set at the end of the window, in MiB.",
    ),
    col("Window", "string", "How long the usage was measured over."),
];

fn cell(milli: Option<i128>, format: fn(i128) -> String) -> Value {
    json!(milli.map_or_else(|| UNKNOWN.to_string(), format))
}

/// The cells of one PodMetrics.
pub(super) fn pod_metrics(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let typed: Option<PodMetrics> = serde_json::from_value(obj.clone()).ok();
    let total = |r: &str| typed.as_ref().and_then(|m| m.total_milli(r));
    vec![
        name(obj),
        cell(total(CPU), top_cpu),
        cell(total(MEMORY), top_memory),
        json!(text(obj, "/window")),
    ]
}

/// The cells of one NodeMetrics.
pub(super) fn node_metrics(obj: &Value, _now: DateTime<Utc>) -> Vec<Value> {
    let typed: Option<NodeMetrics> = serde_json::from_value(obj.clone()).ok();
    let usage = |r: &str| typed.as_ref().and_then(|m| m.usage_milli(r));
    vec![
        name(obj),
        cell(usage(CPU), top_cpu),
        cell(usage(MEMORY), top_memory),
        json!(text(obj, "/window")),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::row;
    use super::super::testing::{kind, now};

    #[test]
    fn pod_metrics_sum_their_containers_in_top_units() {
        let m = json!({"metadata": {"name": "web-1"}, "window": "15s",
            "timestamp": "2025-06-01T12:00:00Z",
            "containers": [
                {"name": "app", "usage": {"cpu": "250000000n", "memory": "50Mi"}},
                {"name": "log", "usage": {"cpu": "5m", "memory": "2Mi"}}]});
        assert_eq!(
            row(kind("PodMetrics"), &m, now()),
            [json!("web-1"), json!("255m"), json!("52Mi"), json!("15s")]
        );
        let empty = json!({"metadata": {"name": "new"}, "containers": []});
        assert_eq!(
            row(kind("PodMetrics"), &empty, now())[1..3],
            [json!("<unknown>"), json!("<unknown>")]
        );
    }

    #[test]
    fn node_metrics_show_usage_or_unknown() {
        let m = json!({"metadata": {"name": "node-1"}, "window": "15.5s",
            "usage": {"cpu": "1500m", "memory": "2Gi"}});
        assert_eq!(
            row(kind("NodeMetrics"), &m, now()),
            [
                json!("node-1"),
                json!("1500m"),
                json!("2048Mi"),
                json!("15.5s")
            ]
        );
        let bare = json!({"metadata": {"name": "node-2"}, "usage": {"cpu": "1"}});
        assert_eq!(
            row(kind("NodeMetrics"), &bare, now())[2],
            json!("<unknown>")
        );
    }
}
