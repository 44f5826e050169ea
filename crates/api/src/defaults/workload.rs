//! Deployment, ReplicaSet and DaemonSet defaults (`SetDefaults_Deployment`,
//! `SetDefaults_ReplicaSet`, `SetDefaults_DaemonSet` in apps/v1), template included.

use serde_json::{Map, Value, json};

use super::pod::spec_defaults;
use super::{existing, object_at, set_default};

/// Defaults of a Deployment: one replica, a 25%/25% rolling update, ten old ReplicaSets kept and
/// a ten-minute progress deadline.
pub(super) fn deployment(obj: &mut Map<String, Value>) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    if let Some(strategy) = object_at(spec, "strategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate"))
            && let Some(rolling) = object_at(strategy, "rollingUpdate")
        {
            set_default(rolling, "maxUnavailable", json!("25%"));
            set_default(rolling, "maxSurge", json!("25%"));
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    template(spec);
}

/// Defaults of a ReplicaSet: one replica.
pub(super) fn replica_set(obj: &mut Map<String, Value>) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    set_default(spec, "replicas", json!(1));
    template(spec);
}

/// Defaults of a DaemonSet: a rolling update one node at a time, without surge.
pub(super) fn daemon_set(obj: &mut Map<String, Value>) {
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    if let Some(strategy) = object_at(spec, "updateStrategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate"))
            && let Some(rolling) = object_at(strategy, "rollingUpdate")
        {
            set_default(rolling, "maxUnavailable", json!(1));
            set_default(rolling, "maxSurge", json!(0));
        }
    }
    set_default(spec, "revisionHistoryLimit", json!(10));
    template(spec);
}

/// The pod template's spec gets pod spec defaults, when there is a template.
fn template(spec: &mut Map<String, Value>) {
    if let Some(pod_spec) = existing(spec, "template").and_then(|t| existing(t, "spec")) {
        spec_defaults(pod_spec);
    }
}
