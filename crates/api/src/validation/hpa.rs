//! HorizontalPodAutoscalers, autoscaling/v2 (`ValidateHorizontalPodAutoscaler`): the target, the
//! replica bounds and the metrics.

use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, MetricSpec, MetricTarget};
use serde_json::Value;

use super::container::one_of;
use super::errors::{forbidden, invalid_str};
use super::name::path_segment;
use super::quantity::parse_quantity;
use super::typed;
use crate::error::FieldError;

/// The metric source types, each with the field that carries it.
const SOURCES: &[(&str, &str)] = &[
    ("ContainerResource", "containerResource"),
    ("External", "external"),
    ("Object", "object"),
    ("Pods", "pods"),
    ("Resource", "resource"),
];

/// Validates a new or updated HorizontalPodAutoscaler.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(hpa) = typed::<HorizontalPodAutoscaler>(obj, "", errs) else {
        return;
    };
    let spec = &hpa.spec;
    let target = &spec.scale_target_ref;
    for (field, value) in [("kind", &target.kind), ("name", &target.name)] {
        let path = format!("spec.scaleTargetRef.{field}");
        if value.is_empty() {
            errs.push(FieldError::required(path, "the workload to scale"));
        } else {
            for msg in path_segment(value) {
                errs.push(invalid_str(&path, value, msg));
            }
        }
    }
    if let Some(min) = spec.min_replicas.filter(|m| *m < 1) {
        errs.push(FieldError::invalid(
            "spec.minReplicas",
            min,
            "must be greater than or equal to 1",
        ));
    }
    if spec.max_replicas < 1 {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            spec.max_replicas,
            "must be greater than 0",
        ));
    } else if spec.min_replicas.is_some_and(|min| min > spec.max_replicas) {
        errs.push(FieldError::invalid(
            "spec.maxReplicas",
            spec.max_replicas,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    for (i, metric) in spec.metrics.iter().flatten().enumerate() {
        validate_metric(metric, &format!("spec.metrics[{i}]"), errs);
    }
}

fn validate_metric(m: &MetricSpec, path: &str, errs: &mut Vec<FieldError>) {
    let types: Vec<&str> = SOURCES.iter().map(|(t, _)| *t).collect();
    one_of(Some(&m.type_), &format!("{path}.type"), &types, errs);
    let present = [
        m.container_resource.is_some(),
        m.external.is_some(),
        m.object.is_some(),
        m.pods.is_some(),
        m.resource.is_some(),
    ];
    for ((ty, field), set) in SOURCES.iter().zip(present) {
        if *ty == m.type_ && !set {
            errs.push(FieldError::required(
                format!("{path}.{field}"),
                "must populate information for the given metric source",
            ));
        } else if *ty != m.type_ && set {
            errs.push(forbidden(
                format!("{path}.{field}"),
                "must populate the given metric source only",
            ));
        }
    }
    let (target, resource) = match m.type_.as_str() {
        "Resource" => (m.resource.as_ref().map(|r| &r.target), true),
        "ContainerResource" => (m.container_resource.as_ref().map(|r| &r.target), true),
        "Pods" => (m.pods.as_ref().map(|r| &r.target), false),
        "Object" => (m.object.as_ref().map(|r| &r.target), false),
        "External" => (m.external.as_ref().map(|r| &r.target), false),
        _ => (None, false),
    };
    if let Some(target) = target {
        let field = SOURCES
            .iter()
            .find(|(t, _)| *t == m.type_)
            .map_or("", |(_, f)| f);
        validate_target(target, resource, &format!("{path}.{field}.target"), errs);
    }
}

fn validate_target(t: &MetricTarget, resource: bool, path: &str, errs: &mut Vec<FieldError>) {
    one_of(
        Some(&t.type_),
        &format!("{path}.type"),
        &["AverageValue", "Utilization", "Value"],
        errs,
    );
    for (field, q) in [("value", &t.value), ("averageValue", &t.average_value)] {
        if let Some(q) = q {
            match parse_quantity(&q.0) {
                Ok(v) if v.is_negative() || v.is_zero() => {
                    errs.push(invalid_str(
                        format!("{path}.{field}"),
                        &q.0,
                        "must be positive",
                    ));
                }
                Ok(_) => {}
                Err(msg) => errs.push(invalid_str(format!("{path}.{field}"), &q.0, msg)),
            }
        }
    }
    if let Some(u) = t.average_utilization.filter(|u| *u < 1) {
        errs.push(FieldError::invalid(
            format!("{path}.averageUtilization"),
            u,
            "must be greater than 0",
        ));
    }
    if resource {
        if t.value.is_some() {
            errs.push(forbidden(
                format!("{path}.value"),
                "may not set value for a resource metric",
            ));
        }
        if t.average_utilization.is_none() && t.average_value.is_none() {
            errs.push(FieldError::required(
                format!("{path}.averageUtilization"),
                "must set either a target raw value or a target utilization",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(
            &json!({"metadata": {"name": "web"}, "spec": spec}),
            &mut errs,
        );
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn realistic_hpa_passes() {
        assert!(
            messages(json!({
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                             "target": {"type": "Utilization", "averageUtilization": 70}}},
                            {"type": "Pods", "pods": {"metric": {"name": "rps"},
                             "target": {"type": "AverageValue", "averageValue": "100"}}}]
            }))
            .is_empty()
        );
    }

    #[test]
    fn bounds_targets_and_metrics() {
        assert_eq!(
            messages(json!({"scaleTargetRef": {"kind": "", "name": "a/b"},
                            "minReplicas": 5, "maxReplicas": 3})),
            [
                "spec.scaleTargetRef.kind: Required value: the workload to scale",
                "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'",
                "spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`"
            ]
        );
        let m = messages(
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 0, "maxReplicas": 0,
            "metrics": [{"type": "Resource", "pods": {"metric": {"name": "x"}, "target": {"type": "Value"}}},
                        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}]}),
        );
        assert_eq!(
            m,
            [
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.metrics[0].pods: Forbidden: must populate the given metric source only",
                "spec.metrics[0].resource: Required value: must populate information for the given metric source",
                "spec.metrics[1].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"
            ]
        );
    }
}
