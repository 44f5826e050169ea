//! PodMetrics and NodeMetrics, metrics.k8s.io/v1beta1: a sample must say when it was taken,
//! name each container once, and carry usage quantities a reader can add up (well formed, not
//! negative). The window is checked when it is decoded (a Go duration, not negative).

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;

use super::errors::{duplicate, invalid_str, quote};
use super::name::dns1123_label;
use super::{parse_quantity, typed};
use crate::error::FieldError;
use crate::metrics::{NodeMetrics, PodMetrics};

/// Validates a new or updated PodMetrics.
pub(super) fn validate_pod(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(metrics) = typed::<PodMetrics>(obj, "", errs) else {
        return;
    };
    if metrics.timestamp.is_none() {
        errs.push(FieldError::required(
            "timestamp",
            "the end of the measuring window (RFC 3339)",
        ));
    }
    let mut seen = HashSet::new();
    for (i, c) in metrics.containers.iter().enumerate() {
        let field = format!("containers[{i}].name");
        if c.name.is_empty() {
            errs.push(FieldError::required(
                field,
                "the name of the container in the pod's spec.containers",
            ));
        } else if !seen.insert(c.name.as_str()) {
            errs.push(duplicate(field, quote(&c.name)));
        } else {
            for msg in dns1123_label(&c.name) {
                errs.push(invalid_str(&field, &c.name, msg));
            }
        }
        usage(&format!("containers[{i}].usage"), &c.usage, errs);
    }
}

/// Validates a new or updated NodeMetrics.
pub(super) fn validate_node(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(metrics) = typed::<NodeMetrics>(obj, "", errs) else {
        return;
    };
    if metrics.timestamp.is_none() {
        errs.push(FieldError::required(
            "timestamp",
            "the end of the measuring window (RFC 3339)",
        ));
    }
    usage("usage", &metrics.usage, errs);
}

/// Every usage quantity parses and is not negative.
fn usage(path: &str, usage: &BTreeMap<String, Quantity>, errs: &mut Vec<FieldError>) {
    for (resource, q) in usage {
        let field = format!("{path}[{resource}]");
        match parse_quantity(&q.0) {
            Err(msg) => errs.push(invalid_str(field, &q.0, msg)),
            Ok(v) if v.is_negative() => errs.push(invalid_str(
                field,
                &q.0,
                "must be greater than or equal to 0",
            )),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(rule: fn(&Value, &mut Vec<FieldError>), obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        rule(&obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn an_agents_samples_are_valid() {
        let pod = json!({"metadata": {"name": "web-1", "namespace": "default"},
            "timestamp": "2026-12-03T07:00:00Z", "window": "15s",
            "containers": [{"name": "app", "usage": {"cpu": "1200n", "memory": "1048576"}}]});
        assert_eq!(messages(validate_pod, pod), Vec::<String>::new());
        let node = json!({"metadata": {"name": "node-1"}, "timestamp": "2026-12-03T07:00:00Z",
            "window": "15s", "usage": {"cpu": "1500m", "memory": "2Gi"}});
        assert_eq!(messages(validate_node, node), Vec::<String>::new());
    }

    #[test]
    fn a_sample_says_when_and_names_each_container_once() {
        let m = messages(
            validate_pod,
            json!({"containers": [{"name": "app"}, {"name": "app"}, {"name": ""},
                {"name": "Bad_Name"}]}),
        );
        assert_eq!(m.len(), 4, "{m:?}");
        assert_eq!(
            m[0],
            "timestamp: Required value: the end of the measuring window (RFC 3339)"
        );
        assert_eq!(
            m[1],
            "containers[1].name: Duplicate value: \"app\": must be unique"
        );
        assert_eq!(
            m[2],
            "containers[2].name: Required value: the name of the container in the pod's spec.containers"
        );
        assert!(
            m[3].starts_with(
                "containers[3].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"
            ),
            "{m:?}"
        );
    }

    #[test]
    fn usage_is_a_quantity_and_not_negative() {
        let m = messages(
            validate_node,
            json!({"timestamp": "2026-12-03T07:00:00Z",
                "usage": {"cpu": "-5m", "memory": "lots"}}),
        );
        assert_eq!(
            m,
            [
                "usage[cpu]: Invalid value: \"-5m\": must be greater than or equal to 0",
                "usage[memory]: Invalid value: \"lots\": quantities must match the regular \
                 expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            ]
        );
        let m = messages(
            validate_pod,
            json!({"timestamp": "2026-12-03T07:00:00Z", "window": "soon"}),
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("\"soon\" is not a duration"), "{m:?}");
    }
}
