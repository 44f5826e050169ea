//! HorizontalPodAutoscaler defaults, autoscaling/v2 (`SetDefaults_HorizontalPodAutoscaler`,
//! `SetDefaults_HorizontalPodAutoscalerBehavior`).

use serde_json::{Map, Value, json};

use super::{existing, object_at, set_default};

/// Defaults of an HPA: at least one replica, 80% average CPU when no metric is given, and the
/// standard scaling rules for any `behavior` given in part.
pub(super) fn hpa(obj: &mut Map<String, Value>) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    set_default(spec, "minReplicas", json!(1));
    let no_metrics = spec
        .get("metrics")
        .is_none_or(|m| m.is_null() || m.as_array().is_some_and(Vec::is_empty));
    if no_metrics {
        spec.insert(
            "metrics".to_string(),
            json!([{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    let Some(behavior) = existing(spec, "behavior") else {
        return;
    };
    // Scale up by at most 4 pods or 100% every 15 s, at once; scale down by up to 100% every
    // 15 s after 5 minutes of stability.
    let rules = [
        (
            "scaleUp",
            0,
            json!([{"type": "Pods", "value": 4, "periodSeconds": 15},
                   {"type": "Percent", "value": 100, "periodSeconds": 15}]),
        ),
        (
            "scaleDown",
            300,
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        ),
    ];
    for (key, window, policies) in rules {
        if let Some(r) = object_at(behavior, key) {
            set_default(r, "stabilizationWindowSeconds", json!(window));
            set_default(r, "selectPolicy", json!("Max"));
            set_default(r, "policies", policies);
        }
    }
}
