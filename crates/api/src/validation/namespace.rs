//! Namespaces: their finalizers (`ValidateNamespace`). The name rule lives in [`super::name`].

use k8s_openapi::api::core::v1::Namespace;
use serde_json::Value;

use super::errors::invalid_str;
use super::labels::qualified_name;
use super::typed;
use crate::error::FieldError;

/// Finalizers Kubernetes defines without a domain.
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// Validates a new or updated Namespace.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(ns) = typed::<Namespace>(obj, "", errs) else {
        return;
    };
    let finalizers = ns.spec.and_then(|s| s.finalizers).unwrap_or_default();
    for f in &finalizers {
        for msg in qualified_name(f) {
            errs.push(invalid_str("spec.finalizers", f, msg));
        }
        if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()) {
            errs.push(invalid_str(
                "spec.finalizers",
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finalizers_are_standard_or_qualified() {
        let mut errs = Vec::new();
        validate(
            &json!({"metadata": {"name": "prod"},
                    "spec": {"finalizers": ["kubernetes", "example.com/x", "custom"]}}),
            &mut errs,
        );
        let m: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            m,
            [
                "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
    }
}
