//! What an update may change in a running pod's spec (`ValidatePodUpdate`): container images,
//! `activeDeadlineSeconds` (only down), tolerations (only additions) and a negative
//! `terminationGracePeriodSeconds` raised to 1. Everything else is fixed once the pod exists.

use k8s_openapi::api::core::v1::{Pod, PodSpec, Toleration};
use serde_json::Value;

use super::errors::forbidden;
use super::typed_quiet;
use crate::error::FieldError;

/// Kubernetes' wording, so users recognise it.
const ALLOWED: &str = "pod updates may not change fields other than \
    `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,\
    `spec.tolerations` (only additions to existing tolerations),\
    `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Checks the spec of an updated Pod against the stored one.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (Some(new), Some(old)) = (typed_quiet::<Pod>(obj), typed_quiet::<Pod>(old)) else {
        return;
    };
    let new = new.spec.unwrap_or_default();
    let old = old.spec.unwrap_or_default();
    if !check_deadline(&new, &old, errs) || !check_tolerations(&new, &old, errs) {
        return;
    }
    // Copy the mutable fields from the old spec; whatever still differs was changed illegally.
    let mut masked = new.clone();
    mask_images(&mut masked.containers, &old.containers);
    if let (Some(new_init), Some(old_init)) = (&mut masked.init_containers, &old.init_containers) {
        mask_images(new_init, old_init);
    }
    masked.active_deadline_seconds = old.active_deadline_seconds;
    masked.tolerations = old.tolerations.clone();
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && new.termination_grace_period_seconds == Some(1)
    {
        masked.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    if masked != old {
        let (masked, old) = (to_json(&masked), to_json(&old));
        let mut changed = Vec::new();
        diff(&masked, &old, "spec", &mut changed);
        errs.push(forbidden(
            "spec",
            format!("{ALLOWED}; changed: {}", changed.join(", ")),
        ));
    }
}

fn to_json(spec: &PodSpec) -> Value {
    serde_json::to_value(spec).unwrap_or(Value::Null)
}

fn mask_images(
    new: &mut [k8s_openapi::api::core::v1::Container],
    old: &[k8s_openapi::api::core::v1::Container],
) {
    for (n, o) in new.iter_mut().zip(old) {
        n.image.clone_from(&o.image);
    }
}

/// `activeDeadlineSeconds` may be set or lowered, never raised or removed.
fn check_deadline(new: &PodSpec, old: &PodSpec, errs: &mut Vec<FieldError>) -> bool {
    let field = "spec.activeDeadlineSeconds";
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), Some(o)) if n > o => {
            errs.push(FieldError::invalid(
                field,
                n,
                "must be less than or equal to previous value",
            ));
            false
        }
        (None, Some(_)) => {
            errs.push(FieldError::invalid(
                field,
                "null",
                "must not update from a positive integer to nil value",
            ));
            false
        }
        _ => true,
    }
}

/// Every old toleration must still be there; only a `NoExecute` one may shorten its
/// `tolerationSeconds`.
fn check_tolerations(new: &PodSpec, old: &PodSpec, errs: &mut Vec<FieldError>) -> bool {
    let new_t = new.tolerations.as_deref().unwrap_or(&[]);
    let kept = |o: &Toleration| {
        new_t.iter().any(|n| {
            let same_but_seconds = Toleration {
                toleration_seconds: o.toleration_seconds,
                ..n.clone()
            } == *o;
            same_but_seconds
                && match (n.toleration_seconds, o.toleration_seconds) {
                    (Some(ns), Some(os)) => ns <= os,
                    (None, None) => true,
                    _ => false,
                }
        })
    };
    if old.tolerations.iter().flatten().all(kept) {
        true
    } else {
        errs.push(forbidden(
            "spec.tolerations",
            "existing toleration can not be modified except its tolerationSeconds",
        ));
        false
    }
}

/// The paths where two JSON values differ, as shallow as possible.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                diff(va, vb, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(path.to_string()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
    }

    fn base() -> Value {
        json!({"containers": [{"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}]}],
               "restartPolicy": "Always",
               "activeDeadlineSeconds": 100,
               "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]})
    }

    fn messages(new: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_update(&pod(new), &pod(base()), &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn images_deadline_and_new_tolerations_may_change() {
        let mut s = base();
        s["containers"][0]["image"] = json!("nginx:2");
        s["activeDeadlineSeconds"] = json!(50);
        s["tolerations"][0]["tolerationSeconds"] = json!(30);
        s["tolerations"]
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "x", "operator": "Exists"}));
        assert!(messages(s).is_empty());
    }

    #[test]
    fn other_changes_are_forbidden_and_named() {
        let mut s = base();
        s["containers"][0]["ports"][0]["containerPort"] = json!(81);
        s["restartPolicy"] = json!("Never");
        let m = messages(s);
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"), "{}", m[0]);
        assert!(
            m[0].ends_with(
                "; changed: spec.containers[0].ports[0].containerPort, spec.restartPolicy"
            ),
            "{}",
            m[0]
        );
    }

    #[test]
    fn deadlines_only_go_down_and_tolerations_only_grow() {
        let mut s = base();
        s["activeDeadlineSeconds"] = json!(200);
        assert_eq!(
            messages(s),
            [
                "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"
            ]
        );
        let mut s = base();
        s.as_object_mut().unwrap().remove("activeDeadlineSeconds");
        assert_eq!(messages(s).len(), 1);
        let mut s = base();
        s["tolerations"] = json!([]);
        assert_eq!(
            messages(s),
            [
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            ]
        );
    }
}
