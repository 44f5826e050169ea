//! TrafficReports, fog.brume.io/v1 (DESIGN §8): the Service and gateway a report is about, its
//! name, which must say the same, and rates a scheduler can add up.

use serde_json::Value;

use super::errors::invalid_str;
use super::name::{dns1123_label, dns1123_subdomain};
use super::typed;
use crate::error::FieldError;
use crate::traffic_report::{GATEWAY_LABEL, SERVICE_LABEL, TrafficReport};

/// A name rule: what is wrong with a name, empty when it is valid.
type NameCheck = fn(&str) -> Vec<String>;

/// Validates a new or updated TrafficReport. The name holds the Service and the gateway, and
/// names cannot change, so checking the name against the spec also keeps both from changing.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(report) = typed::<TrafficReport>(obj, "", errs) {
        validate_report(&report, errs);
    }
}

/// The rules on a decoded report.
fn validate_report(report: &TrafficReport, errs: &mut Vec<FieldError>) {
    let spec = &report.spec;
    // A Service's name is a DNS label (`NameRule::Label`), a Node's a DNS subdomain.
    let refs: [(&str, &str, NameCheck, &str); 2] = [
        (
            "spec.service",
            &spec.service,
            dns1123_label,
            "the name of the Service whose traffic is reported",
        ),
        (
            "spec.gateway",
            &spec.gateway,
            dns1123_subdomain,
            "the name of the node whose proxy received the traffic",
        ),
    ];
    let mut refs_valid = true;
    for (field, value, rule, what) in refs {
        if value.is_empty() {
            errs.push(FieldError::required(field, what));
            refs_valid = false;
            continue;
        }
        for msg in rule(value) {
            errs.push(invalid_str(field, value, msg));
            refs_valid = false;
        }
    }
    let rates = [
        ("spec.requestsPerSecond", spec.requests_per_second),
        ("spec.connectionsPerSecond", spec.connections_per_second),
    ];
    for (field, rate) in rates {
        if !rate.is_finite() || rate < 0.0 {
            errs.push(invalid_str(
                field,
                &rate.to_string(),
                "must be a finite number >= 0",
            ));
        }
    }
    if !refs_valid {
        return;
    }
    let expected = TrafficReport::name_for(&spec.service, &spec.gateway);
    let name = report.metadata.name.as_deref().unwrap_or("");
    if !name.is_empty() && name != expected {
        errs.push(invalid_str(
            "metadata.name",
            name,
            format!("must be <spec.service>.<spec.gateway>: {expected:?}"),
        ));
    }
    let labels = report.metadata.labels.as_ref();
    for (key, want) in [
        (SERVICE_LABEL, &spec.service),
        (GATEWAY_LABEL, &spec.gateway),
    ] {
        if let Some(found) = labels.and_then(|l| l.get(key)).filter(|v| *v != want) {
            errs.push(invalid_str(
                format!("metadata.labels[{key}]"),
                found,
                format!("must match the spec when set: {want:?}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn report(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "fog.brume.io/v1", "kind": "TrafficReport",
            "metadata": {"name": name, "namespace": "default",
                "labels": {"fog.brume.io/service": "web", "fog.brume.io/gateway": "node-3"}},
            "spec": spec})
    }

    fn messages(obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn a_documented_report_is_valid() {
        let ok = report(
            "web.node-3",
            json!({"service": "web", "gateway": "node-3", "requestsPerSecond": 12.5,
                "connectionsPerSecond": 0.0, "requestsTotal": 1234, "connectionsTotal": 0,
                "observedTime": "2026-12-03T07:00:00Z"}),
        );
        assert_eq!(messages(ok), Vec::<String>::new());
        // A gateway is a node name, which may hold dots.
        let dotted = json!({"metadata": {"name": "web.edge-1.paris"},
            "spec": {"service": "web", "gateway": "edge-1.paris"}});
        assert_eq!(messages(dotted), Vec::<String>::new());
    }

    #[test]
    fn service_and_gateway_are_required() {
        assert_eq!(
            messages(report("web.node-3", json!({}))),
            [
                "spec.service: Required value: the name of the Service whose traffic is reported",
                "spec.gateway: Required value: the name of the node whose proxy received the traffic"
            ]
        );
    }

    #[test]
    fn service_is_a_dns_label_and_gateway_a_dns_subdomain() {
        let m = messages(report(
            "x",
            json!({"service": "web.v2", "gateway": "Node_3"}),
        ));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(
            m[0].starts_with("spec.service: Invalid value: \"web.v2\": a lowercase RFC 1123 label"),
            "{m:?}"
        );
        assert!(
            m[1].starts_with(
                "spec.gateway: Invalid value: \"Node_3\": a lowercase RFC 1123 subdomain"
            ),
            "{m:?}"
        );
    }

    #[test]
    fn rates_are_finite_and_not_negative() {
        let m = messages(report(
            "web.node-3",
            json!({"service": "web", "gateway": "node-3", "requestsPerSecond": -1,
                "connectionsPerSecond": -0.25}),
        ));
        assert_eq!(
            m,
            [
                "spec.requestsPerSecond: Invalid value: \"-1\": must be a finite number >= 0",
                "spec.connectionsPerSecond: Invalid value: \"-0.25\": must be a finite number >= 0"
            ]
        );
        // JSON cannot carry NaN or infinity, but a report built in Rust can.
        let mut typed = TrafficReport::new("default", "web", "node-3");
        typed.spec.requests_per_second = f64::INFINITY;
        typed.spec.connections_per_second = f64::NAN;
        let mut errs = Vec::new();
        validate_report(&typed, &mut errs);
        let m: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            m,
            [
                "spec.requestsPerSecond: Invalid value: \"inf\": must be a finite number >= 0",
                "spec.connectionsPerSecond: Invalid value: \"NaN\": must be a finite number >= 0"
            ]
        );
    }

    #[test]
    fn the_name_and_labels_say_what_the_spec_says() {
        let m = messages(report(
            "web.node-4",
            json!({"service": "web", "gateway": "node-3"}),
        ));
        assert_eq!(
            m,
            [
                "metadata.name: Invalid value: \"web.node-4\": must be <spec.service>.<spec.gateway>: \"web.node-3\""
            ]
        );
        let m = messages(report(
            "api.node-3",
            json!({"service": "api", "gateway": "node-3"}),
        ));
        assert_eq!(
            m,
            [
                "metadata.labels[fog.brume.io/service]: Invalid value: \"web\": must match the spec when set: \"api\""
            ]
        );
    }
}
