//! Pure readings of a pod's state shared by the controllers: active, ready, available, owned.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::Value;

/// Whether a pod counts as a replica: not terminating and not in a terminal phase
/// (Kubernetes `controller.IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    !matches!(phase(pod), Some("Succeeded" | "Failed"))
}

/// The pod's `status.phase`, if any.
pub fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// The time the pod's Ready condition last became True, or `None` when it is not Ready.
pub fn ready_since(pod: &Pod) -> Option<Option<Timestamp>> {
    let cond = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    (cond.status == "True").then(|| cond.last_transition_time.as_ref().map(|t| t.0))
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Whether the pod has been Ready for at least `min_ready_seconds` at `now`
/// (Kubernetes `podutil.IsPodAvailable`: a missing transition time counts as available).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => true,
        Some(Some(since)) => since + SignedDuration::from_secs(min_ready_seconds.into()) <= now,
    }
}

/// How long until a Ready pod becomes available, when it is Ready but not yet available.
pub fn available_in(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<SignedDuration> {
    let since = ready_since(pod)??;
    let at = since + SignedDuration::from_secs(min_ready_seconds.into());
    (min_ready_seconds > 0 && at > now).then(|| at.duration_since(now))
}

/// The owner reference marked `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// Whether a `metav1.LabelSelector` selects the given labels. An empty selector selects
/// everything, as in Kubernetes; a malformed one selects nothing.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    let Ok(sel_json) = serde_json::to_value(selector) else {
        return false;
    };
    let Ok(sel) = brume_api::selector::label::LabelSelector::from_label_selector(&sel_json) else {
        return false;
    };
    let labels = labels
        .map(|l| serde_json::to_value(l).unwrap_or(Value::Null))
        .unwrap_or_else(|| Value::Object(Default::default()));
    sel.matches(&labels)
}

/// A `metav1.LabelSelector` as a `labelSelector` list parameter, so the API server filters the
/// list (`k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`). An empty selector gives the empty
/// string, which selects everything.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

/// A controller owner reference to `owner` (`controller: true, blockOwnerDeletion: true`).
pub fn owner_reference(api_version: &str, kind: &str, owner: &ObjectMeta) -> OwnerReference {
    OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: owner.name.clone().unwrap_or_default(),
        uid: owner.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Pods for unit tests.
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// A pod named `name` created at second `created` with the given labels.
    pub fn pod(name: &str, created: i64, labels: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The pod, Running and Ready since second `since`, on node `node`.
    pub fn ready(mut pod: Pod, since: i64, node: &str) -> Pod {
        pod.spec.get_or_insert_with(Default::default).node_name = Some(node.into());
        pod.status = Some(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some("10.0.0.1".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(Timestamp::from_second(since).unwrap())),
                ..Default::default()
            }]),
            ..Default::default()
        });
        pod
    }

    /// The pod, owned by the controller with uid `uid`.
    pub fn owned(mut pod: Pod, uid: &str) -> Pod {
        pod.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "owner".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        pod
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn terminating_and_finished_pods_are_not_active() {
        let mut p = pod("a", 0, &[]);
        assert!(is_active(&p));
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            Timestamp::from_second(5).unwrap(),
        ));
        assert!(!is_active(&p));
        let mut q = ready(pod("b", 0, &[]), 0, "n");
        q.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!is_active(&q));
    }

    #[test]
    fn availability_waits_for_min_ready_seconds() {
        let p = ready(pod("a", 0, &[]), 100, "n");
        let now = Timestamp::from_second(105).unwrap();
        assert!(is_available(&p, 0, now));
        assert!(is_available(&p, 5, now));
        assert!(!is_available(&p, 6, now));
        assert_eq!(
            available_in(&p, 10, now),
            Some(SignedDuration::from_secs(5))
        );
        assert!(!is_available(&pod("b", 0, &[]), 0, now));
    }

    #[test]
    fn selectors_become_list_parameters() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "x", "operator": "NotIn", "values": ["c"]},
                {"key": "y", "operator": "Exists"},
                {"key": "z", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        let s = selector_string(&sel);
        assert_eq!(s, "app=web,tier in (a,b),x notin (c),y,!z");
        // The API's own parser agrees with what it means.
        let parsed = brume_api::selector::label::LabelSelector::parse(&s).unwrap();
        assert!(parsed.matches(&serde_json::json!({"app": "web", "tier": "a", "y": "1"})));
        assert!(
            !parsed.matches(&serde_json::json!({"app": "web", "tier": "a", "y": "1", "z": "2"}))
        );
        assert_eq!(selector_string(&LabelSelector::default()), "");
    }

    #[test]
    fn selectors_match_labels() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        };
        let p = pod("a", 0, &[("app", "web"), ("x", "y")]);
        assert!(selector_matches(&sel, p.metadata.labels.as_ref()));
        let q = pod("b", 0, &[("app", "db")]);
        assert!(!selector_matches(&sel, q.metadata.labels.as_ref()));
    }
}
