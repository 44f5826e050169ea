//! A container's `resources`: resource names, quantities that parse and are not negative, and
//! requests no larger than limits (`ValidateResourceRequirements`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use super::errors::invalid_str;
use super::labels::qualified_name;
use super::quantity::{Quantity, parse_quantity};
use crate::error::FieldError;

/// Resource names a container may ask for without a domain prefix.
const STANDARD: &[&str] = &["cpu", "memory", "ephemeral-storage"];

/// Validates `resources` at `path` (`spec.containers[0].resources`).
pub(super) fn validate(res: &ResourceRequirements, path: &str, errs: &mut Vec<FieldError>) {
    let limits = quantities(res.limits.as_ref(), &format!("{path}.limits"), errs);
    let requests = quantities(res.requests.as_ref(), &format!("{path}.requests"), errs);
    for (name, (text, request)) in &requests {
        let Some((limit_text, limit)) = limits.get(name) else {
            continue;
        };
        if request > limit {
            errs.push(invalid_str(
                format!("{path}.requests[{name}]"),
                text,
                format!("must be less than or equal to {name} limit of {limit_text}"),
            ));
        }
    }
}

/// Validates one map of quantities and returns the ones that parsed, by resource name.
fn quantities<'a>(
    map: Option<&'a BTreeMap<String, K8sQuantity>>,
    path: &str,
    errs: &mut Vec<FieldError>,
) -> BTreeMap<&'a str, (&'a str, Quantity)> {
    let mut out = BTreeMap::new();
    for (name, K8sQuantity(text)) in map.into_iter().flatten() {
        let field = format!("{path}[{name}]");
        validate_name(name, &field, errs);
        match parse_quantity(text) {
            Err(msg) => errs.push(invalid_str(&field, text, msg)),
            Ok(q) if q.is_negative() => errs.push(invalid_str(
                &field,
                text,
                "must be greater than or equal to 0",
            )),
            Ok(q) => {
                out.insert(name.as_str(), (text.as_str(), q));
            }
        }
    }
    out
}

/// A standard resource (`cpu`, `memory`, `ephemeral-storage`, `hugepages-<size>`) or an extended
/// one with a domain (`nvidia.com/gpu`).
fn validate_name(name: &str, field: &str, errs: &mut Vec<FieldError>) {
    if name.contains('/') {
        for msg in qualified_name(name) {
            errs.push(invalid_str(field, name, msg));
        }
    } else if !STANDARD.contains(&name) && !name.starts_with("hugepages-") {
        errs.push(invalid_str(
            field,
            name,
            "must be a standard resource for containers (cpu, memory, ephemeral-storage, \
             hugepages-<size>) or a fully qualified extended resource such as example.com/gpu",
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(res: serde_json::Value) -> Vec<String> {
        let res: ResourceRequirements = serde_json::from_value(res).unwrap();
        let mut errs = Vec::new();
        validate(&res, "spec.containers[0].resources", &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn valid_requests_and_limits_pass() {
        assert!(
            messages(json!({"requests": {"cpu": "250m", "memory": 134217728},
                                "limits": {"cpu": 1, "memory": "1Gi", "nvidia.com/gpu": 1,
                                           "hugepages-2Mi": "64Mi"}}))
            .is_empty()
        );
    }

    #[test]
    fn bad_quantities_negative_values_and_names_are_reported() {
        assert_eq!(
            messages(json!({"requests": {"cpu": "abc", "memory": "-1Mi", "gpu": "1"}})),
            [
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"abc\": quantities \
                 must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a \
                 standard resource for containers (cpu, memory, ephemeral-storage, \
                 hugepages-<size>) or a fully qualified extended resource such as example.com/gpu",
                "spec.containers[0].resources.requests[memory]: Invalid value: \"-1Mi\": must be \
                 greater than or equal to 0",
            ]
        );
    }

    #[test]
    fn requests_may_not_exceed_limits() {
        assert_eq!(
            messages(json!({"requests": {"cpu": "1500m", "memory": "1Gi"},
                            "limits": {"cpu": "1", "memory": "1024Mi"}})),
            [
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"1500m\": must be less \
              than or equal to cpu limit of 1"
            ]
        );
    }
}
