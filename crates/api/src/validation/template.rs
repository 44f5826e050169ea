//! What Deployments, ReplicaSets and DaemonSets share: a required, non-empty selector that selects
//! the pods of the template, and a template whose pods always restart
//! (`ValidatePodTemplateSpecForReplicaSet`).

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use super::errors::{forbidden, go_map, immutable, json, not_supported};
use super::labels::{validate_annotations, validate_labels};
use super::{pod, selector};
use crate::error::FieldError;

/// Validates `spec.selector` and `spec.template` of a workload. `raw_spec` is the spec as sent,
/// to tell a missing selector from an empty one; `kind` names the kind in messages.
pub(super) fn validate(
    raw_spec: Option<&Value>,
    sel: &LabelSelector,
    template: Option<&PodTemplateSpec>,
    kind: &str,
    errs: &mut Vec<FieldError>,
) {
    let has_selector = raw_spec
        .and_then(|s| s.get("selector"))
        .is_some_and(|s| !s.is_null());
    if !has_selector {
        errs.push(FieldError::required(
            "spec.selector",
            "a label selector that matches the template's labels",
        ));
    } else if selector::is_empty(sel) {
        errs.push(FieldError::invalid(
            "spec.selector",
            json(sel),
            format!(
                "empty selector is invalid for {}",
                kind.to_ascii_lowercase()
            ),
        ));
    } else {
        selector::validate(sel, "spec.selector", errs);
    }
    let Some(template) = template else {
        errs.push(FieldError::required(
            "spec.template",
            "the pod template to create pods from",
        ));
        return;
    };
    let meta = template.metadata.clone().unwrap_or_default();
    let labels = meta.labels.unwrap_or_default();
    validate_labels(&labels, "spec.template.metadata.labels", errs);
    if let Some(annotations) = &meta.annotations {
        validate_annotations(annotations, "spec.template.metadata.annotations", errs);
    }
    if has_selector && !selector::is_empty(sel) && !selector::matches(sel, &labels) {
        errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            go_map(&labels),
            "`selector` does not match template `labels`",
        ));
    }
    let spec = template.spec.clone().unwrap_or_default();
    pod::validate_spec(&spec, "spec.template.spec", errs);
    if let Some(policy) = spec.restart_policy.as_deref().filter(|p| *p != "Always") {
        errs.push(not_supported(
            "spec.template.spec.restartPolicy",
            policy,
            &["Always"],
        ));
    }
    if spec.active_deadline_seconds.is_some() {
        errs.push(forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
}

/// A workload's selector may not change once created (apps/v1).
pub(super) fn validate_selector_update(
    new: &LabelSelector,
    old: &LabelSelector,
    errs: &mut Vec<FieldError>,
) {
    if new != old {
        errs.push(immutable("spec.selector", json(new)));
    }
}
