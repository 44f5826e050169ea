//! Pods and pod specs (`ValidatePodSpec`). The spec rules are shared with the pod templates of
//! Deployments, ReplicaSets and DaemonSets, under the prefix `spec.template.spec`.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec, Toleration, Volume};
use serde_json::Value;

use super::container::{self, PodContext, Role, one_of};
use super::errors::{duplicate, forbidden, invalid_str, non_negative, quote};
use super::labels::{label_value, qualified_name, validate_labels};
use super::name::{dns1123_label, dns1123_subdomain};
use super::typed;
use crate::error::FieldError;

/// Validates a new or updated Pod.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(pod) = typed::<Pod>(obj, "", errs) else {
        return;
    };
    validate_spec(&pod.spec.unwrap_or_default(), "spec", errs);
}

/// Validates a pod spec at `path` (`spec`, or `spec.template.spec` in a workload).
pub(super) fn validate_spec(spec: &PodSpec, path: &str, errs: &mut Vec<FieldError>) {
    let volumes = validate_volumes(spec.volumes.as_deref().unwrap_or(&[]), path, errs);
    let mut ctx = PodContext {
        volumes: &volumes,
        names: HashSet::new(),
    };
    if spec.containers.is_empty() {
        errs.push(FieldError::required(
            format!("{path}.containers"),
            "a pod needs at least one container",
        ));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        container::validate(
            c,
            Role::App,
            &format!("{path}.containers[{i}]"),
            &mut ctx,
            errs,
        );
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = format!("{path}.initContainers[{i}]");
        container::validate(c, Role::Init, &p, &mut ctx, errs);
    }
    one_of(
        spec.restart_policy.as_deref(),
        &format!("{path}.restartPolicy"),
        &["Always", "OnFailure", "Never"],
        errs,
    );
    one_of(
        spec.dns_policy.as_deref(),
        &format!("{path}.dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        errs,
    );
    if spec.dns_policy.as_deref() == Some("None") && spec.dns_config.is_none() {
        errs.push(FieldError::required(
            format!("{path}.dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        ));
    }
    non_negative(
        &format!("{path}.terminationGracePeriodSeconds"),
        spec.termination_grace_period_seconds,
        errs,
    );
    if let Some(v) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&v)
    {
        errs.push(FieldError::invalid(
            format!("{path}.activeDeadlineSeconds"),
            v,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    if let Some(selector) = &spec.node_selector {
        validate_labels(selector, &format!("{path}.nodeSelector"), errs);
    }
    validate_names(spec, path, errs);
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        validate_toleration(t, &format!("{path}.tolerations[{i}]"), errs);
    }
}

/// The names a pod spec refers to: node, hostname, subdomain, service account, scheduler and
/// runtime class.
fn validate_names(spec: &PodSpec, path: &str, errs: &mut Vec<FieldError>) {
    type Rule = fn(&str) -> Vec<String>;
    let names: [(&str, &Option<String>, Rule); 6] = [
        ("nodeName", &spec.node_name, dns1123_subdomain),
        ("hostname", &spec.hostname, dns1123_label),
        ("subdomain", &spec.subdomain, dns1123_label),
        (
            "serviceAccountName",
            &spec.service_account_name,
            dns1123_subdomain,
        ),
        ("schedulerName", &spec.scheduler_name, dns1123_subdomain),
        (
            "runtimeClassName",
            &spec.runtime_class_name,
            dns1123_subdomain,
        ),
    ];
    for (field, value, rule) in names {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        for msg in rule(value) {
            errs.push(invalid_str(format!("{path}.{field}"), value, msg));
        }
    }
}

/// Volumes: unique DNS-label names and exactly one source each. Returns the names, for mounts.
fn validate_volumes(volumes: &[Volume], path: &str, errs: &mut Vec<FieldError>) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = format!("{path}.volumes[{i}]");
        if v.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), "a DNS label"));
        } else {
            for msg in dns1123_label(&v.name) {
                errs.push(invalid_str(format!("{p}.name"), &v.name, msg));
            }
            if !names.insert(v.name.clone()) {
                errs.push(duplicate(format!("{p}.name"), quote(&v.name)));
            }
        }
        // The sources are the fields other than `name`; counting them on the JSON form keeps
        // this independent of the thirty-odd source types.
        let sources: Vec<String> = match serde_json::to_value(v) {
            Ok(Value::Object(map)) => map
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k != "name")
                .collect(),
            _ => Vec::new(),
        };
        if sources.is_empty() {
            errs.push(FieldError::required(
                p.clone(),
                "must specify a volume type, such as emptyDir, configMap, secret or hostPath",
            ));
        }
        for extra in sources.iter().skip(1) {
            errs.push(forbidden(
                format!("{p}.{extra}"),
                "may not specify more than 1 volume type",
            ));
        }
    }
    names
}

fn validate_toleration(t: &Toleration, path: &str, errs: &mut Vec<FieldError>) {
    let key = t.key.as_deref().unwrap_or("");
    let value = t.value.as_deref().unwrap_or("");
    let operator = t.operator.as_deref().unwrap_or("Equal");
    for msg in qualified_name(key).into_iter().filter(|_| !key.is_empty()) {
        errs.push(invalid_str(format!("{path}.key"), key, msg));
    }
    match operator {
        "Equal" => {
            if key.is_empty() {
                errs.push(invalid_str(
                    format!("{path}.operator"),
                    operator,
                    "operator must be Exists when `key` is empty, which means \"match all values \
                     and all keys\"",
                ));
            }
            for msg in label_value(value) {
                errs.push(invalid_str(format!("{path}.value"), value, msg));
            }
        }
        "Exists" => {
            if !value.is_empty() {
                errs.push(invalid_str(
                    format!("{path}.operator"),
                    value,
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        other => errs.push(super::errors::not_supported(
            format!("{path}.operator"),
            other,
            &["Equal", "Exists"],
        )),
    }
    let effect = t.effect.as_deref().filter(|e| !e.is_empty());
    one_of(
        effect,
        &format!("{path}.effect"),
        &["NoExecute", "NoSchedule", "PreferNoSchedule"],
        errs,
    );
    if t.toleration_seconds.is_some() && effect != Some("NoExecute") {
        errs.push(invalid_str(
            format!("{path}.effect"),
            effect.unwrap_or(""),
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
}

#[cfg(test)]
mod tests;
