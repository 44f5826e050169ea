use super::*;
use crate::pod::fixtures::{owned, pod, ready};
use serde_json::json;

fn ds(image: &str, strategy: serde_json::Value) -> DaemonSet {
    serde_json::from_value(json!({
        "metadata": {"name": "agent", "uid": "rs-uid", "generation": 4},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": strategy,
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"nodeSelector": {"role": "edge"}, "containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .unwrap()
}

fn node(name: &str, role: &str, taints: serde_json::Value) -> Node {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"role": role}}, "spec": {"taints": taints}}),
    )
    .unwrap()
}

fn daemon_pod(name: &str, node: &str, hash: &str, is_ready: bool) -> Pod {
    let p = owned(
        pod(name, 1, &[("app", "agent"), (REVISION_LABEL, hash)]),
        "rs-uid",
    );
    if is_ready {
        ready(p, 1, node)
    } else {
        let mut p = p;
        p.spec.get_or_insert_with(Default::default).node_name = Some(node.into());
        p
    }
}

fn now() -> Timestamp {
    Timestamp::from_second(1000).unwrap()
}

#[test]
fn one_pod_per_eligible_node() {
    let d = ds(
        "v1",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
    );
    let nodes = vec![
        node("a", "edge", json!([])),
        node(
            "b",
            "edge",
            json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
        ),
        node("c", "core", json!([])),
        node("d", "edge", json!([{"key": "gpu", "effect": "NoSchedule"}])),
    ];
    let hash = template_hash(&d.spec.template);
    let pods = vec![
        daemon_pod("on-a-1", "a", &hash, true),
        daemon_pod("on-a-2", "a", &hash, true),
        daemon_pod("on-c", "c", &hash, true),
    ];
    let plan = decide(&d, &nodes, &pods, &HashSet::new(), now());
    assert_eq!(plan.create_on, vec!["b"]);
    assert_eq!(plan.delete, vec!["on-a-2", "on-c"]);
    assert_eq!(plan.status.desired_number_scheduled, 2);
    assert_eq!(plan.status.current_number_scheduled, 1);
    assert_eq!(plan.status.number_misscheduled, 1);
    assert_eq!(plan.status.number_ready, 1);
    assert_eq!(plan.status.number_unavailable, Some(1));
    assert_eq!(plan.status.observed_generation, Some(4));
    // A creation already made but not yet listed is not repeated.
    let plan = decide(&d, &nodes, &pods, &["b".to_string()].into(), now());
    assert!(plan.create_on.is_empty());
}

#[test]
fn a_rolling_update_replaces_within_max_unavailable() {
    let d = ds(
        "v2",
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
    );
    let nodes = vec![
        node("a", "edge", json!([])),
        node("b", "edge", json!([])),
        node("c", "edge", json!([])),
    ];
    let pods = vec![
        daemon_pod("a1", "a", "old", true),
        daemon_pod("b1", "b", "old", true),
        daemon_pod("c1", "c", "old", true),
    ];
    let plan = decide(&d, &nodes, &pods, &HashSet::new(), now());
    assert_eq!(plan.delete, vec!["a1"]);
    assert_eq!(plan.status.updated_number_scheduled, Some(0));
    // While a's new pod is not ready, nothing else goes.
    let hash = template_hash(&d.spec.template);
    let pods = vec![
        daemon_pod("a2", "a", &hash, false),
        daemon_pod("b1", "b", "old", true),
        daemon_pod("c1", "c", "old", true),
    ];
    let plan = decide(&d, &nodes, &pods, &HashSet::new(), now());
    assert!(plan.delete.is_empty(), "{:?}", plan.delete);
    assert_eq!(plan.status.updated_number_scheduled, Some(1));
    // OnDelete never deletes old pods.
    let d = ds("v2", json!({"type": "OnDelete"}));
    let pods = vec![daemon_pod("a1", "a", "old", true)];
    assert!(
        decide(&d, &nodes[..1], &pods, &HashSet::new(), now())
            .delete
            .is_empty()
    );
}
