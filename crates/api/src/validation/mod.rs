//! Kubernetes validation of objects on create and update: every rule that makes the API server
//! answer 422 Invalid, with the field paths and messages Kubernetes uses (DESIGN §2.6, §4).
//!
//! Validation runs after decoding and defaulting. Fields that defaulting fills in (`restartPolicy`,
//! `protocol`, `imagePullPolicy`, ...) are checked when present and not required, so the result
//! is the same whether or not defaults were applied first. All errors of an object are collected.
//! Status and the metadata the server sets (`resourceVersion`, `creationTimestamp`) are not checked.

mod configmap;
mod container;
mod daemonset;
mod deployment;
mod endpoints;
mod endpointslice;
mod errors;
mod event;
mod hpa;
pub mod labels;
mod latency_autoscaler;
mod lease;
mod metadata;
mod metrics;
pub mod name;
mod namespace;
mod network;
mod node;
mod pod;
mod pod_update;
mod probe;
pub mod quantity;
mod replicaset;
mod resources;
mod rolling;
mod secret;
mod selector;
mod service;
mod template;
mod traffic_report;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::FieldError;
use crate::resource::ResourceInfo;

pub use quantity::{Quantity, parse_quantity};

/// Rules for a new object, or for the new version of an updated one.
type CreateRule = fn(&Value, &mut Vec<FieldError>);
/// Rules that compare an updated object with the stored one.
type UpdateRule = fn(&Value, &Value, &mut Vec<FieldError>);

/// The rules of each kind; kinds without their own rules get the metadata checks only.
fn rules(info: &ResourceInfo) -> Option<(CreateRule, Option<UpdateRule>)> {
    Some(match (info.group, info.kind) {
        ("", "Pod") => (pod::validate, Some(pod_update::validate_update)),
        ("", "Service") => (service::validate, Some(service::validate_update)),
        ("", "Node") => (node::validate, Some(node::validate_update)),
        ("", "Namespace") => (namespace::validate, None),
        ("", "ConfigMap") => (configmap::validate, Some(configmap::validate_update)),
        ("", "Secret") => (secret::validate, Some(secret::validate_update)),
        ("", "Event") => (event::validate, None),
        ("", "Endpoints") => (endpoints::validate, None),
        ("apps", "Deployment") => (deployment::validate, Some(deployment::validate_update)),
        ("apps", "ReplicaSet") => (replicaset::validate, Some(replicaset::validate_update)),
        ("apps", "DaemonSet") => (daemonset::validate, Some(daemonset::validate_update)),
        ("discovery.k8s.io", "EndpointSlice") => (
            endpointslice::validate,
            Some(endpointslice::validate_update),
        ),
        ("coordination.k8s.io", "Lease") => (lease::validate, None),
        ("autoscaling", "HorizontalPodAutoscaler") => (hpa::validate, None),
        ("fog.brume.io", "TrafficReport") => (traffic_report::validate, None),
        ("fog.brume.io", "LatencyAutoscaler") => (latency_autoscaler::validate, None),
        ("metrics.k8s.io", "PodMetrics") => (metrics::validate_pod, None),
        ("metrics.k8s.io", "NodeMetrics") => (metrics::validate_node, None),
        _ => return None,
    })
}

/// Validates an object about to be created; `Err` lists every invalid field.
pub fn validate_create(info: &ResourceInfo, obj: &Value) -> Result<(), Vec<FieldError>> {
    let mut errs = Vec::new();
    metadata::validate(info, obj, &mut errs);
    if let Some((create, _)) = rules(info) {
        create(obj, &mut errs);
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// Validates an update of `old` to `obj`: the new object must be valid, and fields that may not
/// change (identity, selectors, a pod's spec, ...) must not have changed.
pub fn validate_update(
    info: &ResourceInfo,
    obj: &Value,
    old: &Value,
) -> Result<(), Vec<FieldError>> {
    let mut errs = Vec::new();
    metadata::validate(info, obj, &mut errs);
    metadata::validate_update(obj, old, &mut errs);
    if let Some((create, update)) = rules(info) {
        create(obj, &mut errs);
        if let Some(update) = update {
            update(obj, old, &mut errs);
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// Decodes `value` (found at `path`) into its typed form, or records why it cannot be. Decoding
/// normally succeeded already, so this only fails for objects that skipped it.
fn typed<T: DeserializeOwned>(value: &Value, path: &str, errs: &mut Vec<FieldError>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let field = match (path.is_empty(), inner.as_str()) {
                (true, ".") => String::new(),
                (true, _) => inner,
                (false, ".") => path.to_string(),
                (false, _) => format!("{path}.{inner}"),
            };
            errs.push(FieldError::new(
                crate::error::FieldErrorKind::Invalid,
                field,
                None,
                e.into_inner().to_string(),
            ));
            None
        }
    }
}

/// Decodes a stored object for comparison; a stored object that does not decode is not the
/// user's fault, so nothing is reported.
fn typed_quiet<T: DeserializeOwned>(value: &Value) -> Option<T> {
    T::deserialize(value).ok()
}

#[cfg(test)]
mod tests;
