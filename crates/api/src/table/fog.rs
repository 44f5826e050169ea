//! Rows of the fog.brume.io kinds: TrafficReports, the demand each gateway sees (DESIGN §8).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::format::{AGE, NAME, age, col, name, text};

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
}
