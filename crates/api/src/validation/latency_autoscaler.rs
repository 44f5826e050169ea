//! LatencyAutoscalers, fog.brume.io/v1 (DESIGN §8): a Deployment to size, an objective that can
//! be met, a replica capacity and replica bounds that leave room for at least one replica.

use serde_json::Value;

use super::errors::invalid_str;
use super::name::{dns1123_label, dns1123_subdomain};
use super::typed;
use crate::error::FieldError;
use crate::latency_autoscaler::LatencyAutoscaler;

/// Validates a new or updated LatencyAutoscaler.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    if let Some(la) = typed::<LatencyAutoscaler>(obj, "", errs) {
        validate_spec(&la, errs);
    }
}

fn validate_spec(la: &LatencyAutoscaler, errs: &mut Vec<FieldError>) {
    let spec = &la.spec;
    let target = &spec.scale_target_ref;
    let fixed = [
        ("apiVersion", &target.api_version, "apps/v1"),
        ("kind", &target.kind, "Deployment"),
    ];
    for (field, value, want) in fixed {
        let path = format!("spec.scaleTargetRef.{field}");
        if value.is_empty() {
            errs.push(FieldError::required(path, format!("must be {want:?}")));
        } else if value != want {
            errs.push(invalid_str(
                path,
                value,
                format!("must be {want:?}: a LatencyAutoscaler sizes a Deployment"),
            ));
        }
    }
    name_ref(
        "spec.scaleTargetRef.name",
        Some(&target.name),
        dns1123_subdomain,
        "the Deployment to size",
        errs,
    );
    if let Some(service) = &spec.service {
        name_ref(
            "spec.service",
            Some(service),
            dns1123_label,
            "the Service whose demand counts",
            errs,
        );
    }
    let o = &spec.objective;
    if !(o.percentile.is_finite() && o.percentile > 0.0 && o.percentile <= 100.0) {
        errs.push(invalid_str(
            "spec.objective.percentile",
            &o.percentile.to_string(),
            "must be a share of requests in percent, 0 < percentile <= 100 (90 for \"90% of requests\")",
        ));
    }
    if !(o.latency_ms.is_finite() && o.latency_ms > 0.0) {
        errs.push(invalid_str(
            "spec.objective.latencyMs",
            &o.latency_ms.to_string(),
            "must be a latency bound in milliseconds > 0",
        ));
    }
    if !(spec.replica_capacity.is_finite() && spec.replica_capacity > 0.0) {
        errs.push(invalid_str(
            "spec.replicaCapacity",
            &spec.replica_capacity.to_string(),
            "must be the requests per second one replica serves, > 0",
        ));
    }
    if let Some(min) = spec.min_replicas.filter(|m| *m < 1) {
        errs.push(FieldError::invalid(
            "spec.minReplicas",
            min,
            "must be greater than or equal to 1: a latency objective needs a replica",
        ));
    }
    if spec.max_replicas < 1 {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            spec.max_replicas,
            "must be greater than 0",
        ));
    } else if spec.max_replicas < la.min_replicas() {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            spec.max_replicas,
            "must be greater than or equal to `minReplicas`",
        ));
    }
}

/// A required reference to an object by name, checked by the name rule of its kind.
fn name_ref(
    path: &str,
    value: Option<&String>,
    rule: fn(&str) -> Vec<String>,
    what: &str,
    errs: &mut Vec<FieldError>,
) {
    match value.map(String::as_str) {
        None | Some("") => errs.push(FieldError::required(path, what)),
        Some(v) => {
            for msg in rule(v) {
                errs.push(invalid_str(path, v, msg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn la(spec: Value) -> Value {
        json!({"apiVersion": "fog.brume.io/v1", "kind": "LatencyAutoscaler",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn good() -> Value {
        json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "objective": {"percentile": 90, "latencyMs": 30}, "replicaCapacity": 50,
            "minReplicas": 1, "maxReplicas": 5})
    }

    fn messages(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&la(spec), &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    /// `good()` with `field` set to `value`.
    fn with(field: &str, value: Value) -> Value {
        let mut spec = good();
        let mut at = &mut spec;
        let parts: Vec<&str> = field.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            at = &mut at[*p];
        }
        at[parts[parts.len() - 1]] = value;
        spec
    }

    #[test]
    fn a_documented_autoscaler_is_valid() {
        assert_eq!(messages(good()), Vec::<String>::new());
        assert_eq!(
            messages(with("service", json!("web-svc"))),
            Vec::<String>::new()
        );
        let mut no_min = good();
        no_min.as_object_mut().unwrap().remove("minReplicas");
        assert_eq!(messages(no_min), Vec::<String>::new());
    }

    #[test]
    fn the_target_is_a_deployment_by_name() {
        let msgs = messages(with(
            "scaleTargetRef",
            json!({"apiVersion": "apps/v1",
            "kind": "StatefulSet", "name": "Web_1"}),
        ));
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs[0].starts_with(
                "spec.scaleTargetRef.kind: Invalid value: \"StatefulSet\": must be \"Deployment\""
            ),
            "{msgs:?}"
        );
        assert!(
            msgs[1].starts_with("spec.scaleTargetRef.name: Invalid value: \"Web_1\""),
            "{msgs:?}"
        );
        let msgs = messages(with("scaleTargetRef", json!({})));
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(
            msgs.iter().all(|m| m.contains("Required value")),
            "{msgs:?}"
        );
    }

    #[test]
    fn the_objective_is_a_share_and_a_positive_bound() {
        for (field, value, expect) in [
            (
                "objective.percentile",
                json!(0),
                "spec.objective.percentile: Invalid value: \"0\": must be a share of requests in percent, 0 < percentile <= 100",
            ),
            (
                "objective.percentile",
                json!(101),
                "spec.objective.percentile: Invalid value: \"101\"",
            ),
            (
                "objective.latencyMs",
                json!(-5),
                "spec.objective.latencyMs: Invalid value: \"-5\": must be a latency bound in milliseconds > 0",
            ),
            (
                "replicaCapacity",
                json!(0),
                "spec.replicaCapacity: Invalid value: \"0\": must be the requests per second one replica serves",
            ),
        ] {
            let msgs = messages(with(field, value));
            assert_eq!(msgs.len(), 1, "{field}: {msgs:?}");
            assert!(msgs[0].starts_with(expect), "{field}: {msgs:?}");
        }
    }

    #[test]
    fn the_bounds_leave_room_for_a_replica() {
        let msgs = messages(with("minReplicas", json!(0)));
        assert_eq!(
            msgs,
            [
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1: a latency objective needs a replica"
            ]
        );
        let msgs = messages(with("maxReplicas", json!(0)));
        assert_eq!(
            msgs,
            ["spec.maxReplicas: Invalid value: 0: must be greater than 0"]
        );
        let mut spec = with("minReplicas", json!(4));
        spec["maxReplicas"] = json!(2);
        assert_eq!(
            messages(spec),
            ["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"]
        );
    }
}
