//! Rows of the fog.brume.io kinds (DESIGN §8): TrafficReports, the demand each gateway sees, and
//! LatencyAutoscalers, the objective held on a Deployment.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::format::{AGE, NAME, age, col, name, text, wide};

/// TrafficReport columns: what `kubectl get trafficreports` shows.
pub(super) const TRAFFIC_REPORT: &[Column] = &[
    NAME,
    col(
        "Service",
        "string",
        "The Service whose traffic is reported.",
    ),
    col(
        "Gateway",
        "string",
        "The node whose proxy received the traffic: the users' gateway.",
    ),
    col("Req/s", "string", "Smoothed HTTP requests per second."),
    col("Conn/s", "string", "Smoothed TCP connections per second."),
    AGE,
];

/// A rate with one decimal; an absent rate is zero, as the spec defaults it.
fn rate(obj: &Value, pointer: &str) -> Value {
    json!(format!(
        "{:.1}",
        obj.pointer(pointer).and_then(Value::as_f64).unwrap_or(0.0)
    ))
}

/// The cells of one TrafficReport.
pub(super) fn traffic_report(report: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        name(report),
        json!(text(report, "/spec/service")),
        json!(text(report, "/spec/gateway")),
        rate(report, "/spec/requestsPerSecond"),
        rate(report, "/spec/connectionsPerSecond"),
        age(report, now),
    ]
}

/// LatencyAutoscaler columns, after the HPA's: what is scaled, the objective, the replicas now
/// and wanted, the attainment measured by the proxies and predicted by the plan, and why.
pub(super) const LATENCY_AUTOSCALER: &[Column] = &[
    NAME,
    col(
        "Reference",
        "string",
        "The Deployment being sized, as Kind/name.",
    ),
    col("Objective", "string", "The latency objective: pN < bound."),
    col(
        "Replicas",
        "string",
        "How many replicas the Deployment runs now.",
    ),
    col(
        "Desired",
        "string",
        "How many replicas the objective needs, within the bounds.",
    ),
    col(
        "Measured",
        "string",
        "The share of requests the proxies measured within the bound, last window.",
    ),
    col(
        "Predicted",
        "string",
        "The share of requests the plan is predicted to serve within the bound.",
    ),
    col("Reason", "string", "Why the desired count is what it is."),
    AGE,
    wide(
        "Placement",
        "string",
        "The nodes the plan puts replicas on.",
    ),
];

/// A share in percent with one decimal, `<unknown>` when absent.
fn percent(obj: &Value, pointer: &str) -> Value {
    match obj.pointer(pointer).and_then(Value::as_f64) {
        Some(p) => json!(format!("{p:.1}%")),
        None => json!("<unknown>"),
    }
}

/// An integer cell; absent is 0, as the status defaults it.
fn count(obj: &Value, pointer: &str) -> Value {
    json!(
        obj.pointer(pointer)
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string()
    )
}

/// The cells of one LatencyAutoscaler.
pub(super) fn latency_autoscaler(la: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let target = &la["spec"]["scaleTargetRef"];
    let objective = match (
        la.pointer("/spec/objective/percentile")
            .and_then(Value::as_f64),
        la.pointer("/spec/objective/latencyMs")
            .and_then(Value::as_f64),
    ) {
        (Some(p), Some(ms)) => format!("p{p} < {ms}ms"),
        _ => "<unset>".to_string(),
    };
    let placement: Vec<&str> = la
        .pointer("/status/placement")
        .and_then(Value::as_array)
        .map(|nodes| nodes.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    vec![
        name(la),
        json!(format!(
            "{}/{}",
            text(target, "/kind"),
            text(target, "/name")
        )),
        json!(objective),
        count(la, "/status/currentReplicas"),
        count(la, "/status/desiredReplicas"),
        percent(la, "/status/measuredAttainment"),
        percent(la, "/status/predictedAttainment"),
        json!(match text(la, "/status/reason") {
            "" => "<none>",
            r => r,
        }),
        age(la, now),
        json!(if placement.is_empty() {
            "<none>".to_string()
        } else {
            placement.join(",")
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::{kind, now};
    use crate::table::{columns, row};
    use serde_json::json;

    #[test]
    fn a_report_shows_its_service_gateway_and_rates() {
        let names: Vec<_> = columns(kind("TrafficReport"))
            .iter()
            .map(|c| (c.name, c.priority))
            .collect();
        assert_eq!(
            names,
            [
                ("Name", 0),
                ("Service", 0),
                ("Gateway", 0),
                ("Req/s", 0),
                ("Conn/s", 0),
                ("Age", 0)
            ]
        );
        let report = json!({"metadata": {"name": "web.node-3", "namespace": "default",
                "creationTimestamp": "2025-06-01T11:59:30Z"},
            "spec": {"service": "web", "gateway": "node-3", "requestsPerSecond": 12.46,
                "connectionsPerSecond": 0.04, "requestsTotal": 1234}});
        assert_eq!(
            row(kind("TrafficReport"), &report, now()),
            ["web.node-3", "web", "node-3", "12.5", "0.0", "30s"]
        );
        let bare = json!({"metadata": {"name": "r"}, "spec": {"requestsPerSecond": 3}});
        assert_eq!(
            row(kind("TrafficReport"), &bare, now()),
            ["r", "", "", "3.0", "0.0", "<unknown>"]
        );
    }

    #[test]
    fn an_autoscaler_shows_its_objective_replicas_and_attainment() {
        let names: Vec<_> = columns(kind("LatencyAutoscaler"))
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            [
                "Name",
                "Reference",
                "Objective",
                "Replicas",
                "Desired",
                "Measured",
                "Predicted",
                "Reason",
                "Age",
                "Placement"
            ]
        );
        let la = json!({"metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:59:30Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "objective": {"percentile": 90.0, "latencyMs": 30.0}, "replicaCapacity": 50.0,
                "maxReplicas": 5},
            "status": {"currentReplicas": 2, "desiredReplicas": 3, "measuredAttainment": 71.25,
                "predictedAttainment": 96.0, "reason": "ObjectiveMet", "placement": ["n1", "n5"]}});
        assert_eq!(
            row(kind("LatencyAutoscaler"), &la, now()),
            [
                "web",
                "Deployment/web",
                "p90 < 30ms",
                "2",
                "3",
                "71.2%",
                "96.0%",
                "ObjectiveMet",
                "30s",
                "n1,n5"
            ]
        );
        let bare = json!({"metadata": {"name": "x"}});
        assert_eq!(
            row(kind("LatencyAutoscaler"), &bare, now()),
            [
                "x",
                "/",
                "<unset>",
                "0",
                "0",
                "<unknown>",
                "<unknown>",
                "<none>",
                "<unknown>",
                "<none>"
            ]
        );
    }
}
