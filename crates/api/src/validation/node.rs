//! Nodes (`ValidateNode`, `ValidateNodeUpdate`): pod CIDRs, taints and the resources a node
//! reports. The agent writes Nodes (DESIGN §6), so its status quantities are checked too.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use serde_json::Value;

use super::container::one_of;
use super::errors::{duplicate, forbidden, invalid_str, quote};
use super::labels::{label_value, qualified_name};
use super::network::check_cidr;
use super::quantity::parse_quantity;
use super::{typed, typed_quiet};
use crate::error::FieldError;

/// Validates a new or updated Node.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(node) = typed::<Node>(obj, "", errs) else {
        return;
    };
    let spec = node.spec.unwrap_or_default();
    if let Some(cidr) = spec.pod_cidr.as_deref().filter(|c| !c.is_empty()) {
        check_cidr("spec.podCIDR", cidr, errs);
    }
    let cidrs = spec.pod_cidrs.unwrap_or_default();
    for (i, cidr) in cidrs.iter().enumerate() {
        check_cidr(&format!("spec.podCIDRs[{i}]"), cidr, errs);
    }
    if cidrs.len() > 2 {
        errs.push(invalid_str(
            "spec.podCIDRs",
            &cidrs.join(","),
            "may specify no more than one CIDR for each IP family",
        ));
    }
    validate_taints(spec.taints.as_deref().unwrap_or(&[]), errs);
    if let Some(status) = node.status {
        for (field, map) in [
            ("status.capacity", &status.capacity),
            ("status.allocatable", &status.allocatable),
        ] {
            validate_resources(map.as_ref(), field, errs);
        }
    }
}

fn validate_taints(taints: &[Taint], errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, t) in taints.iter().enumerate() {
        let p = format!("spec.taints[{i}]");
        for msg in qualified_name(&t.key) {
            errs.push(invalid_str(format!("{p}.key"), &t.key, msg));
        }
        let value = t.value.as_deref().unwrap_or("");
        for msg in label_value(value) {
            errs.push(invalid_str(format!("{p}.value"), value, msg));
        }
        if t.effect.is_empty() {
            errs.push(FieldError::required(
                format!("{p}.effect"),
                "one of NoSchedule, PreferNoSchedule or NoExecute",
            ));
        } else {
            one_of(
                Some(&t.effect),
                &format!("{p}.effect"),
                &["NoExecute", "NoSchedule", "PreferNoSchedule"],
                errs,
            );
        }
        if !seen.insert((t.key.as_str(), t.effect.as_str())) {
            errs.push(duplicate(
                p,
                format!(
                    "{{\"key\":{},\"effect\":{}}}: taints must be unique by key and effect pair",
                    quote(&t.key),
                    quote(&t.effect)
                ),
            ));
        }
    }
}

fn validate_resources(
    map: Option<&BTreeMap<String, K8sQuantity>>,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    for (name, K8sQuantity(text)) in map.into_iter().flatten() {
        let field = format!("{path}[{name}]");
        match parse_quantity(text) {
            Err(msg) => errs.push(invalid_str(field, text, msg)),
            Ok(q) if q.is_negative() => {
                errs.push(invalid_str(
                    field,
                    text,
                    "must be greater than or equal to 0",
                ));
            }
            Ok(_) => {}
        }
    }
}

/// Checks an update against the stored Node: pod CIDRs and the provider ID may be set once.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (Some(new), Some(old)) = (typed_quiet::<Node>(obj), typed_quiet::<Node>(old)) else {
        return;
    };
    let (new, old) = (new.spec.unwrap_or_default(), old.spec.unwrap_or_default());
    let set = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
    if set(&old.pod_cidr).is_some() && set(&new.pod_cidr) != set(&old.pod_cidr) {
        errs.push(forbidden(
            "spec.podCIDR",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    if set(&old.provider_id).is_some() && set(&new.provider_id) != set(&old.provider_id) {
        errs.push(forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1"},
               "spec": spec, "status": status})
    }

    fn messages(obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn agent_registration_passes() {
        let n = node(
            json!({"podCIDR": "10.244.1.0/24",
                   "taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
                              {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}),
            json!({"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                   "allocatable": {"cpu": "3800m", "memory": "7Gi", "pods": 110}}),
        );
        assert!(messages(n).is_empty());
    }

    #[test]
    fn bad_taints_cidrs_and_quantities() {
        let n = node(
            json!({"podCIDR": "10.244.1.0",
                   "taints": [{"key": "", "effect": "Sometimes"}, {"key": "a", "effect": "NoSchedule"},
                              {"key": "a", "effect": "NoSchedule", "value": "x"}]}),
            json!({"capacity": {"cpu": "lots"}}),
        );
        let fields: Vec<String> = messages(n)
            .iter()
            .map(|s| s.split(": ").next().unwrap().to_string())
            .collect();
        assert_eq!(
            fields,
            [
                "spec.podCIDR",
                "spec.taints[0].key",
                "spec.taints[0].key",
                "spec.taints[0].effect",
                "spec.taints[2]",
                "status.capacity[cpu]"
            ]
        );
    }

    #[test]
    fn pod_cidr_is_set_once() {
        let old = node(json!({"podCIDR": "10.244.1.0/24"}), json!({}));
        let mut errs = Vec::new();
        validate_update(
            &node(json!({"podCIDR": "10.244.2.0/24"}), json!({})),
            &old,
            &mut errs,
        );
        validate_update(&old, &node(json!({}), json!({})), &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.podCIDR");
    }
}
