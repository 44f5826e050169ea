//! DaemonSets (`ValidateDaemonSet`, `ValidateDaemonSetUpdate`).

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetUpdateStrategy};
use serde_json::Value;

use super::errors::non_negative;
use super::{rolling, template, typed, typed_quiet};
use crate::error::FieldError;

/// Validates a new or updated DaemonSet.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(ds) = typed::<DaemonSet>(obj, "", errs) else {
        return;
    };
    let spec = &ds.spec;
    non_negative(
        "spec.minReadySeconds",
        spec.min_ready_seconds.map(i64::from),
        errs,
    );
    non_negative(
        "spec.revisionHistoryLimit",
        spec.revision_history_limit.map(i64::from),
        errs,
    );
    if let Some(strategy) = &spec.update_strategy {
        validate_strategy(strategy, errs);
    }
    template::validate(
        obj.get("spec"),
        &spec.selector,
        Some(&spec.template),
        "DaemonSet",
        errs,
    );
}

fn validate_strategy(strategy: &DaemonSetUpdateStrategy, errs: &mut Vec<FieldError>) {
    let rolling = strategy
        .rolling_update
        .as_ref()
        .map(|r| (r.max_surge.as_ref(), r.max_unavailable.as_ref()));
    rolling::validate_strategy(
        strategy.type_.as_deref(),
        rolling,
        "spec.updateStrategy",
        "OnDelete",
        errs,
    );
}

/// Checks an update against the stored DaemonSet: the selector is fixed.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    if let (Some(new), Some(old)) = (typed_quiet::<DaemonSet>(obj), typed_quiet::<DaemonSet>(old)) {
        template::validate_selector_update(&new.spec.selector, &old.spec.selector, errs);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ds() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "node-exporter", "namespace": "monitoring"},
               "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["exporter"]}]},
                        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                        "template": {"metadata": {"labels": {"app": "exporter"}},
                                     "spec": {"hostNetwork": true,
                                              "tolerations": [{"operator": "Exists"}],
                                              "containers": [{"name": "exporter", "image": "prom/node-exporter:v1.8.0",
                                                              "ports": [{"containerPort": 9100, "hostPort": 9100, "name": "metrics"}]}]}}}})
    }

    fn messages(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn valid_and_invalid_daemon_sets() {
        assert!(messages(&ds()).is_empty(), "{:?}", messages(&ds()));
        let mut d = ds();
        d["spec"]["updateStrategy"] = json!({"type": "Always"});
        d["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
        assert_eq!(
            messages(&d),
            [
                "spec.updateStrategy.type: Unsupported value: \"Always\": supported values: \"OnDelete\", \"RollingUpdate\"",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"
            ]
        );
        d["spec"]["updateStrategy"] =
            json!({"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}});
        assert!(messages(&d)[0].starts_with(
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
        ));
    }

    #[test]
    fn selector_is_immutable() {
        let mut d = ds();
        d["spec"]["selector"] = json!({"matchLabels": {"app": "exporter"}});
        let mut errs = Vec::new();
        validate_update(&d, &ds(), &mut errs);
        assert_eq!(errs.len(), 1);
    }
}
