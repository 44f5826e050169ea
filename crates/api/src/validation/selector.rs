//! Label selectors in specs (`spec.selector` of workloads): their validation, and whether one
//! matches a set of labels, which decides if a template's pods would be selected.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::errors::{forbidden, invalid_str};
use super::labels::{label_value, qualified_name, validate_labels};
use crate::error::FieldError;

/// Validates a label selector at `path` (`ValidateLabelSelector`).
pub(super) fn validate(selector: &LabelSelector, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(labels) = &selector.match_labels {
        validate_labels(labels, &format!("{path}.matchLabels"), errs);
    }
    for (i, expr) in selector
        .match_expressions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let p = format!("{path}.matchExpressions[{i}]");
        let values = expr.values.as_deref().unwrap_or(&[]);
        match expr.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        format!("{p}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        format!("{p}.values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(invalid_str(
                format!("{p}.operator"),
                other,
                "not a valid selector operator: must be In, NotIn, Exists or DoesNotExist",
            )),
        }
        for msg in qualified_name(&expr.key) {
            errs.push(invalid_str(format!("{p}.key"), &expr.key, msg));
        }
        for (j, v) in values.iter().enumerate() {
            for msg in label_value(v) {
                errs.push(invalid_str(format!("{p}.values[{j}]"), v, msg));
            }
        }
    }
}

/// True when the selector has no requirement at all (it would select everything).
pub(super) fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// True when `labels` satisfy every requirement of `selector`.
pub(super) fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn selector(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matching() {
        let s = selector(json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]}));
        assert!(matches(&s, &labels(&[("app", "web"), ("tier", "a")])));
        assert!(!matches(&s, &labels(&[("app", "web"), ("tier", "c")])));
        assert!(!matches(
            &s,
            &labels(&[("app", "web"), ("tier", "a"), ("canary", "1")])
        ));
        assert!(!matches(&s, &labels(&[("tier", "a")])));
        assert!(is_empty(&selector(json!({}))));
        assert!(!is_empty(&s));
    }

    #[test]
    fn bad_expressions_are_reported_at_their_path() {
        let s = selector(json!({"matchExpressions": [
            {"key": "tier", "operator": "In"},
            {"key": "x", "operator": "Exists", "values": ["a"]},
            {"key": "bad key", "operator": "Equals", "values": ["-v"]}]}));
        let mut errs = Vec::new();
        validate(&s, "spec.selector", &mut errs);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.selector.matchExpressions[0].values",
                "spec.selector.matchExpressions[1].values",
                "spec.selector.matchExpressions[2].operator",
                "spec.selector.matchExpressions[2].key",
                "spec.selector.matchExpressions[2].values[0]"
            ]
        );
    }
}
