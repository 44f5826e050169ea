//! Deployments (`ValidateDeployment`, `ValidateDeploymentUpdate`).

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStrategy};
use serde_json::Value;

use super::errors::{non_negative, not_supported};
use super::{rolling, template, typed, typed_quiet};
use crate::error::FieldError;
use crate::placement::{PLACEMENT_ANNOTATION, PLACEMENT_VALUES};

/// Validates a new or updated Deployment.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(d) = typed::<Deployment>(obj, "", errs) else {
        return;
    };
    let spec = &d.spec;
    non_negative("spec.replicas", spec.replicas.map(i64::from), errs);
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
    if let Some(deadline) = spec.progress_deadline_seconds {
        if deadline < 0 {
            non_negative("spec.progressDeadlineSeconds", Some(deadline.into()), errs);
        } else if deadline <= spec.min_ready_seconds.unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
    if let Some(strategy) = &spec.strategy {
        validate_strategy(strategy, errs);
    }
    let placement = d
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PLACEMENT_ANNOTATION));
    if let Some(value) = placement.filter(|v| !PLACEMENT_VALUES.contains(&v.as_str())) {
        errs.push(not_supported(
            format!("metadata.annotations[{PLACEMENT_ANNOTATION}]"),
            value,
            PLACEMENT_VALUES,
        ));
    }
    template::validate(
        obj.get("spec"),
        &spec.selector,
        Some(&spec.template),
        "Deployment",
        errs,
    );
}

fn validate_strategy(strategy: &DeploymentStrategy, errs: &mut Vec<FieldError>) {
    let rolling = strategy
        .rolling_update
        .as_ref()
        .map(|r| (r.max_surge.as_ref(), r.max_unavailable.as_ref()));
    rolling::validate_strategy(
        strategy.type_.as_deref(),
        rolling,
        "spec.strategy",
        "Recreate",
        errs,
    );
}

/// Checks an update against the stored Deployment: the selector is fixed.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    if let (Some(new), Some(old)) = (
        typed_quiet::<Deployment>(obj),
        typed_quiet::<Deployment>(old),
    ) {
        template::validate_selector_update(&new.spec.selector, &old.spec.selector, errs);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The nginx Deployment of the Kubernetes docs, as kubectl sends it.
    fn nginx() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "nginx-deployment", "namespace": "default", "labels": {"app": "nginx"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                                             "ports": [{"containerPort": 80}]}]}
                }
            }
        })
    }

    fn messages(obj: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn nginx_is_valid() {
        assert!(messages(&nginx()).is_empty(), "{:?}", messages(&nginx()));
    }

    #[test]
    fn the_placement_annotation_names_the_valid_values() {
        let mut d = nginx();
        d["metadata"]["annotations"] = json!({"fog.brume.io/placement": "follow-users"});
        assert!(messages(&d).is_empty(), "{:?}", messages(&d));
        d["metadata"]["annotations"] = json!({"fog.brume.io/placement": "follow-user"});
        assert_eq!(
            messages(&d),
            [
                "metadata.annotations[fog.brume.io/placement]: Unsupported value: \"follow-user\": supported values: \"follow-users\", \"static\""
            ]
        );
    }

    #[test]
    fn negative_replicas() {
        let mut d = nginx();
        d["spec"]["replicas"] = json!(-1);
        assert_eq!(
            messages(&d),
            ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
    }

    #[test]
    fn selector_must_exist_and_match_the_template() {
        let mut d = nginx();
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
        assert_eq!(
            messages(&d),
            [
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\", \
              \"tier\":\"front\"}: `selector` does not match template `labels`"
            ]
        );
        d["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(
            messages(&d),
            ["spec.selector: Required value: a label selector that matches the template's labels"]
        );
        d["spec"]["selector"] = json!({});
        assert_eq!(
            messages(&d),
            ["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]
        );
    }

    #[test]
    fn strategies() {
        let mut d = nginx();
        d["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}});
        assert_eq!(
            messages(&d),
            [
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
            ]
        );
        d["spec"]["strategy"] = json!({"type": "BlueGreen"});
        assert_eq!(
            messages(&d),
            [
                "spec.strategy.type: Unsupported value: \"BlueGreen\": supported values: \"Recreate\", \"RollingUpdate\""
            ]
        );
        d["spec"]["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}});
        assert_eq!(
            messages(&d),
            [
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
            ]
        );
    }

    #[test]
    fn template_pods_must_restart_always_and_limits_apply() {
        let mut d = nginx();
        d["spec"]["revisionHistoryLimit"] = json!(-2);
        d["spec"]["minReadySeconds"] = json!(10);
        d["spec"]["progressDeadlineSeconds"] = json!(10);
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
        assert_eq!(
            messages(&d),
            [
                "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
                "spec.progressDeadlineSeconds: Invalid value: 10: must be greater than minReadySeconds",
                "spec.template.spec.containers[0].image: Required value: the container image to run, such as nginx:1.27",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
    }

    #[test]
    fn selector_is_immutable() {
        let mut d = nginx();
        d["spec"]["selector"] = json!({"matchLabels": {"app": "nginx2"}});
        let mut errs = Vec::new();
        validate_update(&d, &nginx(), &mut errs);
        assert_eq!(
            errs.iter().map(FieldError::message).collect::<Vec<_>>(),
            [
                "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"nginx2\"}}: field is immutable"
            ]
        );
    }
}
