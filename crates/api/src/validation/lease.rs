//! Leases, which agents renew as heartbeats (`ValidateLease`).

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::Value;

use super::errors::non_negative;
use super::typed;
use crate::error::FieldError;

/// Validates a new or updated Lease.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(lease) = typed::<Lease>(obj, "", errs) else {
        return;
    };
    let Some(spec) = lease.spec else { return };
    if let Some(d) = spec.lease_duration_seconds.filter(|d| *d <= 0) {
        errs.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            d,
            "must be greater than 0",
        ));
    }
    non_negative(
        "spec.leaseTransitions",
        spec.lease_transitions.map(i64::from),
        errs,
    );
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn durations_are_positive() {
        let mut errs = Vec::new();
        validate(
            &json!({"metadata": {"name": "node-1"},
                    "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 10,
                             "renewTime": "2025-01-01T00:00:00.000000Z"}}),
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        validate(
            &json!({"spec": {"leaseDurationSeconds": 0, "leaseTransitions": -1}}),
            &mut errs,
        );
        let m: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            m,
            [
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"
            ]
        );
    }
}
