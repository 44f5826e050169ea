//! ReplicaSets (`ValidateReplicaSet`, `ValidateReplicaSetUpdate`).

use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::Value;

use super::errors::non_negative;
use super::{template, typed, typed_quiet};
use crate::error::FieldError;

/// Validates a new or updated ReplicaSet.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(rs) = typed::<ReplicaSet>(obj, "", errs) else {
        return;
    };
    let spec = &rs.spec;
    non_negative("spec.replicas", spec.replicas.map(i64::from), errs);
    non_negative(
        "spec.minReadySeconds",
        spec.min_ready_seconds.map(i64::from),
        errs,
    );
    template::validate(
        obj.get("spec"),
        &spec.selector,
        spec.template.as_ref(),
        "ReplicaSet",
        errs,
    );
}

/// Checks an update against the stored ReplicaSet: the selector is fixed.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    if let (Some(new), Some(old)) = (
        typed_quiet::<ReplicaSet>(obj),
        typed_quiet::<ReplicaSet>(old),
    ) {
        template::validate_selector_update(&new.spec.selector, &old.spec.selector, errs);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rs() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": "web-5d9c7b", "namespace": "default"},
               "spec": {"replicas": 2,
                        "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d9c7b"}},
                        "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "5d9c7b"}},
                                     "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})
    }

    fn messages(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn valid_and_invalid_replica_sets() {
        assert!(messages(&rs()).is_empty());
        let mut r = rs();
        r["spec"]["replicas"] = json!(-1);
        r["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
        assert_eq!(
            messages(&r),
            [
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"
            ]
        );
        r["spec"].as_object_mut().unwrap().remove("template");
        assert!(messages(&r).contains(
            &"spec.template: Required value: the pod template to create pods from".to_string()
        ));
    }

    #[test]
    fn selector_is_immutable() {
        let mut r = rs();
        r["spec"]["selector"]["matchLabels"]["app"] = json!("other");
        let mut errs = Vec::new();
        validate_update(&r, &rs(), &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.selector");
    }
}
